package e2etest

import (
	"strings"
	"testing"
)

func TestAccessTable(t *testing.T) {
	const unknown = "550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown"
	tests := []struct {
		name    string
		reject  map[string]string
		temp    map[string]string
		want    string // table content
		wantErr string // substring
	}{
		{name: "empty", want: ""},
		{name: "permanent reply becomes access action",
			reject: map[string]string{"nobody@example.com": unknown},
			want:   "nobody@example.com 550 5.1.1 User unknown\n"},
		{name: "temporary reply becomes access action",
			temp: map[string]string{"busy@example.com": "450 4.2.1 <busy@example.com>: Recipient address rejected: Try later"},
			want: "busy@example.com 450 4.2.1 Try later\n"},
		{name: "key is lowercased, bracket may differ in case",
			reject: map[string]string{"NoBody@Example.com": "550 5.1.1 <nobody@example.com>: Recipient address rejected: x"},
			want:   "nobody@example.com 550 5.1.1 x\n"},
		{name: "entries are sorted",
			reject: map[string]string{
				"b@example.com": "550 5.1.1 <b@example.com>: Recipient address rejected: b",
				"a@example.com": "550 5.1.1 <a@example.com>: Recipient address rejected: a",
			},
			want: "a@example.com 550 5.1.1 a\nb@example.com 550 5.1.1 b\n"},
		{name: "reply without Postfix's prefix",
			reject:  map[string]string{"nobody@example.com": "550 5.1.1 User unknown"},
			wantErr: "the only form Postfix sends"},
		{name: "reply without enhanced code",
			reject:  map[string]string{"nobody@example.com": "550 <nobody@example.com>: Recipient address rejected: x"},
			wantErr: "the only form Postfix sends"},
		{name: "4xx in RejectRecipients",
			reject:  map[string]string{"nobody@example.com": "450 4.1.1 <nobody@example.com>: Recipient address rejected: x"},
			wantErr: "must both be 5xx"},
		{name: "code and enhanced code disagree",
			temp:    map[string]string{"nobody@example.com": "450 5.1.1 <nobody@example.com>: Recipient address rejected: x"},
			wantErr: "must both be 4xx"},
		{name: "bracket names another address",
			reject:  map[string]string{"nobody@example.com": "550 5.1.1 <other@example.com>: Recipient address rejected: x"},
			wantErr: "Postfix will name <nobody@example.com>"},
		{name: "address with space",
			reject:  map[string]string{"no body@example.com": "550 5.1.1 <no body@example.com>: Recipient address rejected: x"},
			wantErr: "one word"},
		{name: "address in both maps",
			reject:  map[string]string{"x@example.com": "550 5.1.1 <x@example.com>: Recipient address rejected: x"},
			temp:    map[string]string{"x@example.com": "450 4.1.1 <x@example.com>: Recipient address rejected: x"},
			wantErr: "in both"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := accessTable(tc.reject, tc.temp)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("accessTable error = %v, want containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("accessTable: %v", err)
			}
			if got != tc.want {
				t.Errorf("accessTable = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestMainCF(t *testing.T) {
	l := newLayout("/srv/pf")
	id := ids{mailUID: 102, mailGID: 105, setgidGID: 106}
	tests := []struct {
		name    string
		opts    PostfixOptions
		want    []string // lines that must be present
		notWant []string // substrings that must be absent
		wantErr string
	}{
		{name: "defaults", opts: PostfixOptions{},
			want: []string{
				"virtual_mailbox_domains = example.com example.org",
				"myhostname = " + DefaultPostfixHostname,
				"queue_directory = /srv/pf/queue",
				"maillog_file = /srv/pf/maillog",
				"virtual_uid_maps = static:102",
				"virtual_gid_maps = static:105",
				"smtpd_relay_restrictions = reject_unauth_destination",
				"relayhost = ",
				"local_header_rewrite_clients = ",
				"compatibility_level = 3.6",
			},
			notWant: []string{"message_size_limit", "smtpd_tls", "permit_mynetworks"}},
		{name: "domains", opts: PostfixOptions{Domains: []string{"one.test", "two.test"}},
			want: []string{"virtual_mailbox_domains = one.test two.test"}},
		{name: "size limit", opts: PostfixOptions{MessageSizeLimit: 2048},
			want: []string{"message_size_limit = 2048", "virtual_mailbox_limit = 0"}},
		{name: "tls", opts: PostfixOptions{TLS: true},
			want: []string{"smtpd_tls_security_level = may", "smtpd_tls_chain_files = /srv/pf/etc/tls.key, /srv/pf/etc/tls.crt"}},
		{name: "extra overrides", opts: PostfixOptions{ExtraMainCF: map[string]string{"smtpd_error_sleep_time": "1s", "smtpd_helo_required": "yes"}},
			want:    []string{"smtpd_error_sleep_time = 1s", "smtpd_helo_required = yes"},
			notWant: []string{"smtpd_error_sleep_time = 0s"}},
		{name: "hostname", opts: PostfixOptions{Hostname: "legacy.example.com"},
			want: []string{"myhostname = legacy.example.com"}},
		{name: "smtputf8 off", opts: PostfixOptions{SMTPUTF8: "no"}, want: []string{"smtputf8_enable = no"}},
		{name: "smtputf8 bad value", opts: PostfixOptions{SMTPUTF8: "off"}, wantErr: "SMTPUTF8"},
		{name: "negative size", opts: PostfixOptions{MessageSizeLimit: -1}, wantErr: "negative"},
		{name: "domain with space", opts: PostfixOptions{Domains: []string{"a b"}}, wantErr: "one non-empty word"},
		{name: "extra key not a parameter", opts: PostfixOptions{ExtraMainCF: map[string]string{"a = b": "c"}}, wantErr: "not a main.cf parameter"},
		{name: "extra value with newline", opts: PostfixOptions{ExtraMainCF: map[string]string{"a": "b\nrelayhost = x"}}, wantErr: "one line"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := mainCF(tc.opts.withDefaults(), l, id, "3.6")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("mainCF error = %v, want containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("mainCF: %v", err)
			}
			lines := strings.Split(got, "\n")
			for _, w := range tc.want {
				if !hasLine(lines, w) {
					t.Errorf("main.cf lacks line %q:\n%s", w, got)
				}
			}
			for _, nw := range tc.notWant {
				if strings.Contains(got, nw) {
					t.Errorf("main.cf contains %q:\n%s", nw, got)
				}
			}
		})
	}
}

func hasLine(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}

func TestMasterCF(t *testing.T) {
	got := masterCF("127.0.0.1:2525")
	tests := []struct {
		name, line string
		want       bool
	}{
		{"smtpd on the address only", "127.0.0.1:2525 inet n - n - - smtpd", true},
		{"virtual delivery", "virtual unix - n n - - virtual", true},
		{"log service for maillog_file", "postlog unix-dgram n - n - 1 postlogd", true},
		{"no pickup of local submissions", "pickup", false},
		{"no smtp client", "smtp unix", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if has := strings.Contains(got, tc.line); has != tc.want {
				t.Errorf("master.cf contains %q = %v, want %v:\n%s", tc.line, has, tc.want, got)
			}
		})
	}
}

func TestMailboxTable(t *testing.T) {
	got := mailboxTable([]string{"example.com", "Example.ORG"})
	want := "@example.com example.com/\n@Example.ORG example.org/\n"
	if got != want {
		t.Errorf("mailboxTable = %q, want %q", got, want)
	}
}
