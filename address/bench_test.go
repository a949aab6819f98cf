package address

import "testing"

// BenchmarkCheck measures the recipient parser on a plain address, on one
// with ESMTP parameters and on a relay trick it must find.
func BenchmarkCheck(b *testing.B) {
	cases := []struct{ name, path, raw string }{
		{"plain", "bob@example.com", "<bob@example.com>"},
		{"params", "bob.smith@mail.example.com", "<bob.smith@mail.example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob.smith@mail.example.com"},
		{"percent-hack", "user%remote.example@example.com", "<user%remote.example@example.com>"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Check(c.path, c.raw, Allow{})
			}
		})
	}
}
