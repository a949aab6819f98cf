package heloguard

import (
	"encoding/hex"
	"net/netip"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// Why a name looks generic.
const (
	genericAddress  = "address"   // embeds the client's address
	genericPoolWord = "pool_word" // carries an ISP pool word
)

// genericName reports whether domain looks like a name an ISP or a cloud
// gives a whole address pool ("static.185.10.20.30.provider.com",
// "ec2-185-12-34-56.compute.amazonaws.com", "adsl-dyn-12.isp.example"),
// and why: genericAddress or genericPoolWord, with the word. Only the
// labels left of the registrable domain are read, so a company called
// client-lab.net is not generic.
func genericName(domain string, ip netip.Addr) (why, word string) {
	host := hostPart(domain)
	if host == "" {
		return "", ""
	}
	if ip.IsValid() && embedsAddress(host, ip) {
		return genericAddress, ""
	}
	run := longestNumericRun(host)
	for t := range tokens(host) {
		alpha := leadingAlpha(t)
		for _, w := range [2]string{t, alpha} {
			if w == "" {
				continue
			}
			switch poolWord(w) {
			case wordStrong:
				return genericPoolWord, w
			case wordWeak:
				if run >= 2 {
					return genericPoolWord, w
				}
			}
		}
	}
	return "", ""
}

// hostPart returns the labels of domain left of its registrable domain:
// the ICANN public suffix plus one label, or, when the suffix is a
// private one (compute.amazonaws.com) or unknown, the last two labels.
// Private suffixes are skipped on purpose: they are where cloud providers
// put the generic names this check looks for.
func hostPart(domain string) string {
	suffix, icann := publicsuffix.PublicSuffix(domain)
	keep := 2 // labels to drop when the suffix is not an ICANN one
	if icann {
		keep = strings.Count(suffix, ".") + 2
	}
	end := len(domain)
	for i := 0; i < keep; i++ {
		j := strings.LastIndexByte(domain[:end], '.')
		if j < 0 {
			return ""
		}
		end = j
	}
	return domain[:end]
}

// tokens yields the parts of host between dots and hyphens.
func tokens(host string) func(func(string) bool) {
	return func(yield func(string) bool) {
		start := 0
		for i := 0; i <= len(host); i++ {
			if i == len(host) || host[i] == '.' || host[i] == '-' {
				if i > start && !yield(host[start:i]) {
					return
				}
				start = i + 1
			}
		}
	}
}

// leadingAlpha returns the letters a token starts with when digits follow
// them ("adsl" of "adsl12"), else "".
func leadingAlpha(t string) string {
	i := 0
	for i < len(t) && 'a' <= t[i] && t[i] <= 'z' {
		i++
	}
	if i == 0 || i == len(t) {
		return ""
	}
	return t[:i]
}

// trailingNumber returns the number a token ends with if the token is
// letters then one to three digits ("185", "c73", "ip10").
func trailingNumber(t string) (int, bool) {
	i := len(t)
	for i > 0 && '0' <= t[i-1] && t[i-1] <= '9' {
		i--
	}
	if i == len(t) || len(t)-i > 3 || leadingAlpha(t) != t[:i] {
		return 0, false
	}
	n := 0
	for _, c := range []byte(t[i:]) {
		n = n*10 + int(c-'0')
	}
	return n, true
}

// longestNumericRun counts the longest sequence of consecutive tokens
// that end in a small number.
func longestNumericRun(host string) int {
	run, best := 0, 0
	for t := range tokens(host) {
		if _, ok := trailingNumber(t); ok {
			run++
			best = max(best, run)
		} else {
			run = 0
		}
	}
	return best
}

// embedsAddress reports whether host spells ip: IPv4 octets as four
// consecutive tokens in either order (185.10.20.30, 185-10-20-30,
// 30.20.10.185, ec2-185-...), zero-padded and joined (185010020030), or in
// hex (b90a141e); IPv6 dashed (2001-db8--7) or as 32 hex digits.
func embedsAddress(host string, ip netip.Addr) bool {
	if ip.Is4() {
		o := ip.As4()
		var win [4]int
		n := 0
		for t := range tokens(host) {
			v, ok := trailingNumber(t)
			if !ok {
				n = 0
				if joinedIPv4(t, o) {
					return true
				}
				continue
			}
			copy(win[:], win[1:])
			win[3] = v
			n++
			if n >= 4 && (win == [4]int{int(o[0]), int(o[1]), int(o[2]), int(o[3])} ||
				win == [4]int{int(o[3]), int(o[2]), int(o[1]), int(o[0])}) {
				return true
			}
		}
		return false
	}
	b := ip.As16()
	full := hex.EncodeToString(b[:])
	for label := range strings.SplitSeq(host, ".") {
		if strings.Contains(label, full) {
			return true
		}
		if strings.Count(label, "-") >= 2 {
			if a, err := netip.ParseAddr(strings.ReplaceAll(label, "-", ":")); err == nil && a == ip {
				return true
			}
		}
	}
	return false
}

// joinedIPv4 reports whether token t holds the address as twelve
// zero-padded digits or eight hex digits, forward or reversed.
func joinedIPv4(t string, o [4]byte) bool {
	if len(t) < 8 {
		return false
	}
	var dec, rdec [12]byte
	var hx [8]byte
	const digits = "0123456789abcdef"
	for i, v := range o {
		dec[3*i], dec[3*i+1], dec[3*i+2] = '0'+v/100, '0'+v/10%10, '0'+v%10
		r := o[3-i]
		rdec[3*i], rdec[3*i+1], rdec[3*i+2] = '0'+r/100, '0'+r/10%10, '0'+r%10
		hx[2*i], hx[2*i+1] = digits[v>>4], digits[v&15]
	}
	return strings.Contains(t, string(dec[:])) || strings.Contains(t, string(rdec[:])) ||
		strings.Contains(t, string(hx[:]))
}

// Pool word strengths.
const (
	wordNone = iota
	wordStrong
	wordWeak
)

// poolWord classifies a token. Strong words name an access technology or
// an address pool and are enough alone; weak ones (static, ip, host...)
// also name real servers and count only next to a run of numbers.
func poolWord(w string) int {
	switch w {
	case "dsl", "adsl", "vdsl", "xdsl", "sdsl", "dyn", "dynamic", "dynip",
		"dhcp", "pool", "ppp", "pppoe", "dial", "dialup", "dialin",
		"broadband", "cable", "modem", "cpe", "ftth", "fttc", "fttx",
		"customer", "customers", "cust", "client", "clients", "subscriber",
		"residential", "resi", "unassigned", "nat":
		return wordStrong
	case "static", "ec2", "host", "ip", "vps", "user", "users", "res",
		"rev", "ptr", "addr", "node", "srv", "server":
		return wordWeak
	}
	return wordNone
}
