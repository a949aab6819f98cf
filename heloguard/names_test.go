package heloguard

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseName(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		kind    nameKind
		domain  string
		addr    string
		problem string
	}{
		{name: "empty", in: "", kind: kindEmpty},
		{name: "domain lowered", in: "Mail.Example.NET", kind: kindDomain, domain: "mail.example.net"},
		{name: "one trailing dot dropped", in: "mail.example.net.", kind: kindDomain, domain: "mail.example.net"},
		{name: "a lone dot", in: ".", kind: kindInvalid, problem: problemEmptyLabel},
		{name: "leading dot", in: ".example.net", kind: kindInvalid, problem: problemEmptyLabel},
		{name: "single label", in: "mailserver", kind: kindDomain, domain: "mailserver"},
		{name: "digits only labels", in: "1.2.3", kind: kindDomain, domain: "1.2.3"},
		{name: "63-octet label", in: strings.Repeat("a", 63) + ".net", kind: kindDomain, domain: strings.Repeat("a", 63) + ".net"},
		{name: "255 octets", in: strings.Repeat("a.", 127) + "a", kind: kindDomain, domain: strings.Repeat("a.", 127) + "a"},
		{name: "256 octets", in: strings.Repeat("a.", 127) + "ab", kind: kindInvalid, problem: problemTooLong},
		{name: "hyphen inside", in: "mail-1.example.net", kind: kindDomain, domain: "mail-1.example.net"},
		{name: "punycode", in: "xn--bcher-kva.example", kind: kindDomain, domain: "xn--bcher-kva.example"},
		{name: "trailing hyphen", in: "mail-.example.net", kind: kindInvalid, problem: problemHyphen},
		{name: "tab", in: "a\tb", kind: kindInvalid, problem: problemSpace},
		{name: "NUL", in: "a\x00b", kind: kindInvalid, problem: problemControl},
		{name: "DEL", in: "a\x7fb", kind: kindInvalid, problem: problemControl},
		{name: "UTF-8", in: "bücher.example", kind: kindInvalid, problem: problem8Bit},
		{name: "slash", in: "a/b.example", kind: kindInvalid, problem: problemBadChar},
		{name: "bare IPv4", in: "192.0.2.50", kind: kindBareIP, addr: "192.0.2.50"},
		{name: "bare IPv4 with a trailing dot", in: "192.0.2.50.", kind: kindBareIP, addr: "192.0.2.50"},
		{name: "bare IPv4 with leading zero", in: "192.000.2.050", kind: kindBareIP, addr: "192.0.2.50"},
		{name: "bare IPv6", in: "2001:DB8::1", kind: kindBareIP, addr: "2001:db8::1"},
		{name: "bare mapped IPv6", in: "::ffff:192.0.2.1", kind: kindBareIP, addr: "192.0.2.1"},
		{name: "bare IPv6 with zone", in: "fe80::1%eth0", kind: kindInvalid, problem: problemBadChar},
		{name: "IPv4 octet too big", in: "192.0.2.256", kind: kindDomain, domain: "192.0.2.256"},
		{name: "literal", in: "[192.0.2.1]", kind: kindLiteral, addr: "192.0.2.1"},
		{name: "IPv6 literal", in: "[IPv6:2001:db8::1]", kind: kindLiteral, addr: "2001:db8::1"},
		{name: "IPv6 literal with IPv4 tail", in: "[IPv6:::ffff:192.0.2.1]", kind: kindLiteral, addr: "192.0.2.1"},
		{name: "IPv6 literal without tag", in: "[2001:db8::1]", kind: kindInvalid, problem: problemBadLiteral},
		{name: "IPv4 in an IPv6 tag", in: "[IPv6:192.0.2.1]", kind: kindInvalid, problem: problemBadLiteral},
		{name: "IPv6 literal with zone", in: "[IPv6:fe80::1%eth0]", kind: kindInvalid, problem: problemBadLiteral},
		{name: "literal, octet too big", in: "[192.0.2.300]", kind: kindInvalid, problem: problemBadLiteral},
		{name: "literal, three octets", in: "[192.0.2]", kind: kindInvalid, problem: problemBadLiteral},
		{name: "literal unclosed", in: "[192.0.2.1", kind: kindInvalid, problem: problemBadLiteral},
		{name: "empty literal", in: "[]", kind: kindInvalid, problem: problemBadLiteral},
		{name: "literal with a name", in: "[mail.example.net]", kind: kindInvalid, problem: problemBadLiteral},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := parseName(tc.in)
			if n.kind != tc.kind || n.domain != tc.domain || n.problem != tc.problem {
				t.Fatalf("parseName(%q) = %+v", tc.in, n)
			}
			if tc.addr != "" && n.addr != netip.MustParseAddr(tc.addr) {
				t.Errorf("addr = %s, want %s", n.addr, tc.addr)
			}
		})
	}
}

func TestPrintable(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		want string
	}{
		{name: "clean", in: "mail.example.net", max: 64, want: "mail.example.net"},
		{name: "CRLF", in: "a\r\nb", max: 64, want: "a??b"},
		{name: "8-bit", in: "b\xc3\xbccher", max: 64, want: "b??cher"},
		{name: "cut", in: "abcdef", max: 3, want: "abc..."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := printable(tc.in, tc.max); got != tc.want {
				t.Errorf("printable(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestGenericName(t *testing.T) {
	tests := []struct {
		name string
		host string
		ip   string
		want string // "", genericAddress or the pool word
	}{
		{name: "provider default PTR", host: "static.185.10.20.30.provider.com", ip: "185.10.20.30", want: genericAddress},
		{name: "EC2", host: "ec2-185-12-34-56.compute.amazonaws.com", ip: "185.12.34.56", want: genericAddress},
		{name: "EC2 regional", host: "ec2-3-8-1-2.eu-west-2.compute.amazonaws.com", ip: "3.8.1.2", want: genericAddress},
		{name: "VPS dashed", host: "vps-185-12-34-56.example-isp.net", ip: "185.12.34.56", want: genericAddress},
		{name: "reversed", host: "56.34.12.185.dyn.isp-lab.net", ip: "185.12.34.56", want: genericAddress},
		{name: "letter prefix", host: "c-73-45-12-9.hsd1.ca.comcast.net", ip: "73.45.12.9", want: genericAddress},
		{name: "zero-padded joined", host: "h185012034056.isp-lab.net", ip: "185.12.34.56", want: genericAddress},
		{name: "hex", host: "b90c2238.isp-lab.net", ip: "185.12.34.56", want: genericAddress},
		{name: "IPv6 dashed", host: "2001-db8--7.v6.isp-lab.net", ip: "2001:db8::7", want: genericAddress},
		{name: "pool word alone", host: "adsl.isp-lab.net", ip: "192.0.2.1", want: "adsl"},
		{name: "pool word with digits", host: "ppp12.isp-lab.net", ip: "192.0.2.1", want: "ppp"},
		{name: "dynamic", host: "host.dynamic.isp-lab.net", ip: "192.0.2.1", want: "dynamic"},
		{name: "weak word with numbers", host: "ip-10-1-2.isp-lab.net", ip: "192.0.2.1", want: "ip"},
		{name: "weak word alone", host: "static.sender-lab.net", ip: "192.0.2.1", want: ""},
		{name: "host1 is a real server", host: "host1.sender-lab.net", ip: "192.0.2.1", want: ""},
		{name: "a pool word in the registrable domain", host: "mail.client-lab.net", ip: "192.0.2.1", want: ""},
		{name: "a pool word as the company", host: "mail.dsl.net", ip: "192.0.2.1", want: ""},
		{name: "functional name", host: "mail01.sender-lab.net", ip: "192.0.2.1", want: ""},
		{name: "another address, no pool word", host: "mx.185.10.20.31.provider.com", ip: "185.10.20.30", want: ""},
		{name: "another address, weak word", host: "static.185.10.20.31.provider.com", ip: "185.10.20.30", want: "static"},
		{name: "registrable domain only", host: "sender-lab.net", ip: "192.0.2.1", want: ""},
		{name: "Google's outbound", host: "mail-wm1-f44.google.com", ip: "209.85.128.44", want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			why, word := genericName(tc.host, netip.MustParseAddr(tc.ip))
			got := why
			if why == genericPoolWord {
				got = word
			}
			if got != tc.want {
				t.Errorf("genericName(%q) = %q %q, want %q", tc.host, why, word, tc.want)
			}
		})
	}
}

func TestOrgDomain(t *testing.T) {
	tests := []struct{ in, want string }{
		{"mail.sender-lab.net", "sender-lab.net"},
		{"a.b.example.co.uk", "example.co.uk"},
		{"co.uk", "co.uk"},
		{"server1.local", "server1.local"},
		{"net", "net"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := orgDomain(tc.in); got != tc.want {
				t.Errorf("orgDomain(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
