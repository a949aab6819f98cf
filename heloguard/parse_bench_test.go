package heloguard

import "testing"

// BenchmarkParseName measures the HELO/EHLO argument parser on the forms
// clients send: a domain, an address literal, a bare IP and junk.
func BenchmarkParseName(b *testing.B) {
	for _, c := range []struct{ name, helo string }{
		{"domain", "mail.sender-lab.net"},
		{"literal", "[192.0.2.7]"},
		{"bare-ip", "192.0.2.7"},
		{"invalid", "DESKTOP 4F2K1!"},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				parseName(c.helo)
			}
		})
	}
}
