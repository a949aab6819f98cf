package domain

import "testing"

// BenchmarkNormalize: the ASCII fast path every RCPT takes, and an
// IDN.
func BenchmarkNormalize(b *testing.B) {
	for _, d := range []string{"example.com", "Example.COM", "bücher.example"} {
		b.Run(d, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Normalize(d)
			}
		})
	}
}
