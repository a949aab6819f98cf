package domain

// Rule is a set of departures from the plain syntax (LDH labels, upper
// case allowed, 253 octets without a trailing dot). The flags are
// combined into the named rules below; callers use those names.
type Rule uint8

// The departures a rule may make.
const (
	// Underscore allows '_' in a label: real DNS data holds it
	// (_dmarc.example.com, service names), though no host name may.
	Underscore Rule = 1 << iota
	// UTF8 allows octets from 0x80 up: a U-label not yet converted to
	// its A-label (the caller then checks it with Normalize).
	UTF8
	// Letter requires one octet that is neither a digit nor a dot, so
	// that an IPv4 address such as 192.0.2.1 is never taken for a name.
	Letter
	// TrailingDot accepts one trailing dot, the absolute form, and
	// ignores it.
	TrailingDot
	// Octets255 bounds the name at 255 octets of text instead of 253:
	// RFC 5321 §4.5.3.1.2's limit read on the text form, as the HELO
	// parser always has.
	Octets255
)

// The rules of the gateway's callers. This is the one place that says
// where they differ.
const (
	// Host is a name the operator writes in the config (hostname,
	// helo_name, a host:port, and local_domains after Normalize):
	// upper case and a trailing dot are accepted, both normalised away.
	Host = TrailingDot
	// HELO is the syntax of a HELO/EHLO argument, used by heloguard's
	// parser (which has cut one trailing dot itself): strictly LDH, on
	// purpose, since '_' and 8-bit octets are checks of their own
	// (problem "underscore", "8bit"), and 255 octets.
	HELO = Octets255
	// Mailbox is the domain of a recipient as package address checks it
	// before IDNA: a U-label's octets pass here, and the caller requires
	// Normalize to accept them.
	Mailbox = UTF8
	// Route is a relay.route domain as package relay checks it after
	// Normalize: '_' allowed and 255 octets. The config checks the same
	// value with Host first, so this is relay's own guard for callers
	// that build a Router directly.
	Route = Underscore | Octets255
	// Answer is a name package resolver sends to a server or takes from
	// an answer (PTR, MX targets): '_' allowed, as *net.Resolver does,
	// and never all digits.
	Answer = Underscore | Letter
)

// Problem names the first thing wrong with a name; the values are
// stable strings, shown in logs (heloguard's syntax evidence).
type Problem string

// The problems Check reports.
const (
	// TooLong: the name is longer than the rule allows (253 or 255).
	TooLong Problem = "too_long"
	// LabelTooLong: a label is longer than 63 octets.
	LabelTooLong Problem = "label_too_long"
	// EmptyLabel: an empty name, a leading dot or two dots in a row.
	EmptyLabel Problem = "empty_label"
	// Hyphen: a label starts or ends with a hyphen.
	Hyphen Problem = "hyphen"
	// BadUnderscore: an underscore where the rule has no Underscore.
	BadUnderscore Problem = "underscore"
	// Space: a space or tab.
	Space Problem = "space"
	// Control: a control character or DEL.
	Control Problem = "control"
	// EightBit: an octet from 0x80 up where the rule has no UTF8.
	EightBit Problem = "8bit"
	// BadChar: any other character outside letters, digits and hyphen.
	BadChar Problem = "bad_char"
	// AllDigits: only digits and dots where the rule wants a Letter.
	AllDigits Problem = "all_digits"
)

// Label and name lengths: RFC 1035 §2.3.4 bounds a label at 63 octets
// and a name at 255 octets on the wire, 253 in text without the trailing
// dot.
const (
	MaxLabelLen = 63
	MaxLen      = 253
)

// Check reports whether s is a domain under rule r: the number of labels,
// or the first problem found. A bad octet is reported when it is met, a
// label's length or hyphen at the end of that label, so "a_b-.example"
// is "underscore" and "a-.b_c" is "hyphen". The empty string is an empty
// label. Check does not allocate.
func Check(s string, r Rule) (labels int, p Problem) {
	if r&TrailingDot != 0 && len(s) > 0 && s[len(s)-1] == '.' {
		s = s[:len(s)-1]
	}
	max := MaxLen
	if r&Octets255 != 0 {
		max = 255
	}
	if len(s) > max {
		return 0, TooLong
	}
	start, letter := 0, false
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			label := s[start:i]
			switch {
			case label == "":
				return 0, EmptyLabel
			case len(label) > MaxLabelLen:
				return 0, LabelTooLong
			case label[0] == '-' || label[len(label)-1] == '-':
				return 0, Hyphen
			}
			labels++
			start = i + 1
			continue
		}
		c := s[i]
		if c < '0' || c > '9' {
			letter = true
		}
		if p := octetProblem(c, r); p != "" {
			return 0, p
		}
	}
	if r&Letter != 0 && !letter {
		return 0, AllDigits
	}
	return labels, ""
}

// Valid reports whether s is a domain under rule r.
func Valid(s string, r Rule) bool {
	_, p := Check(s, r)
	return p == ""
}

// octetProblem names what is wrong with octet c inside a label under rule
// r ("" if nothing).
func octetProblem(c byte, r Rule) Problem {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-':
		return ""
	case c == '_':
		if r&Underscore != 0 {
			return ""
		}
		return BadUnderscore
	case c == ' ' || c == '\t':
		return Space
	case c < 0x20 || c == 0x7f:
		return Control
	case c >= 0x80:
		if r&UTF8 != 0 {
			return ""
		}
		return EightBit
	}
	return BadChar
}
