package relay

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// fakeTarget is a Target that counts Close calls.
type fakeTarget struct {
	name   string
	closes int
	err    error
	ext    Extensions
}

func (f *fakeTarget) Name() string { return f.name }
func (f *fakeTarget) Begin(context.Context, string, MailOptions) (Transaction, error) {
	return nil, errors.New("not used")
}
func (f *fakeTarget) Close() error           { f.closes++; return f.err }
func (f *fakeTarget) Extensions() Extensions { return f.ext }

func TestRouter(t *testing.T) {
	def := &fakeTarget{name: "default"}
	exact := &fakeTarget{name: "exact"}
	subs := &fakeTarget{name: "subs"}
	deep := &fakeTarget{name: "deep"}
	r, err := NewRouter(def, []Route{
		{Domain: "Example.org.", Target: exact},
		{Domain: ".example.org", Target: subs},
		{Domain: ".deep.example.org", Target: deep},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		rcpt string
		want Target
	}{
		{name: "exact domain", rcpt: "a@example.org", want: exact},
		{name: "case-insensitive", rcpt: "a@EXAMPLE.ORG", want: exact},
		{name: "trailing dot", rcpt: "a@example.org.", want: exact},
		{name: "subdomain", rcpt: "a@mail.example.org", want: subs},
		{name: "sub-subdomain", rcpt: "a@x.mail.example.org", want: subs},
		{name: "nearest parent wins", rcpt: "a@x.deep.example.org", want: deep},
		{name: "leading-dot route excludes its own domain", rcpt: "a@deep.example.org", want: subs},
		{name: "other domain", rcpt: "a@example.com", want: def},
		{name: "suffix is not a subdomain", rcpt: "a@badexample.org", want: def},
		{name: "no domain", rcpt: "postmaster", want: def},
		{name: "address literal", rcpt: "a@[192.0.2.1]", want: def},
		{name: "quoted local part with @", rcpt: `"a@example.org"@example.com`, want: def},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := r.Route(tc.rcpt); got != tc.want {
				t.Errorf("Route(%q) = %s, want %s", tc.rcpt, got.Name(), tc.want.Name())
			}
		})
	}
}

func TestRouterIDN(t *testing.T) {
	def := &fakeTarget{name: "default"}
	idn := &fakeTarget{name: "idn"}
	r, err := NewRouter(def, []Route{{Domain: "Bücher.example", Target: idn}})
	if err != nil {
		t.Fatal(err)
	}
	for rcpt, want := range map[string]Target{
		"a@bücher.example":        idn,
		"a@xn--bcher-kva.example": idn,
		"a@BÜCHER.example.":       idn,
		"a@bu\u0308cher.example":  idn, // u + combining diaeresis (NFC maps it)
		"a@bucher.example":        def,
		"a@\u0432ücher.example":   def, // Cyrillic в
	} {
		if got := r.Route(rcpt); got != want {
			t.Errorf("Route(%q) = %s, want %s", rcpt, got.Name(), want.Name())
		}
	}
}

func TestRouterExtensions(t *testing.T) {
	both := Extensions{SMTPUTF8: true, DSN: true}
	tests := []struct {
		name   string
		def    Extensions
		routes []Extensions
		want   Extensions
	}{
		{name: "default only", def: both, want: both},
		{name: "a route without DSN", def: both, routes: []Extensions{{SMTPUTF8: true}}, want: Extensions{SMTPUTF8: true}},
		{name: "default unknown", def: Extensions{}, routes: []Extensions{both}, want: Extensions{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var routes []Route
			for i, e := range tc.routes {
				routes = append(routes, Route{Domain: fmt.Sprintf("r%d.test", i), Target: &fakeTarget{name: "r", ext: e}})
			}
			r, err := NewRouter(&fakeTarget{name: "def", ext: tc.def}, routes)
			if err != nil {
				t.Fatal(err)
			}
			if got := r.Extensions(); got != tc.want {
				t.Errorf("Extensions() = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestRouterClose(t *testing.T) {
	def := &fakeTarget{name: "default"}
	shared := &fakeTarget{name: "shared", err: errors.New("boom")}
	r, err := NewRouter(def, []Route{{Domain: "a.test", Target: shared}, {Domain: "b.test", Target: shared}, {Domain: "c.test", Target: def}})
	if err != nil {
		t.Fatal(err)
	}
	err = r.Close()
	if def.closes != 1 || shared.closes != 1 {
		t.Errorf("closes: default %d, shared %d; want each once", def.closes, shared.closes)
	}
	if err == nil || !strings.Contains(err.Error(), "shared: boom") {
		t.Errorf("Close error %v, want the shared target's error", err)
	}
}

func TestNewRouterErrors(t *testing.T) {
	tg := &fakeTarget{name: "t"}
	tests := []struct {
		name   string
		def    Target
		routes []Route
		want   []string
	}{
		{name: "no default", def: nil, want: []string{"no default target"}},
		{name: "empty domain", def: tg, routes: []Route{{Domain: "", Target: tg}}, want: []string{"route[0]", "not a domain"}},
		{name: "bad domain", def: tg, routes: []Route{{Domain: "exa mple.org", Target: tg}}, want: []string{"route[0]", "not a domain"}},
		{name: "only a dot", def: tg, routes: []Route{{Domain: ".", Target: tg}}, want: []string{"not a domain"}},
		{name: "no target", def: tg, routes: []Route{{Domain: "a.test"}}, want: []string{"route[0]", "no target"}},
		{
			name: "duplicate after normalizing, all errors reported", def: tg,
			routes: []Route{{Domain: "a.test", Target: tg}, {Domain: "A.test.", Target: tg}, {Domain: "-x.test", Target: tg}},
			want:   []string{"route[1]", "routed twice", "route[2]"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewRouter(tc.def, tc.routes)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}
