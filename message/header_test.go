package message

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

var dropAuth = DropNames("Authentication-Results", "X-HELO-Check")

func TestHeaderRewriter(t *testing.T) {
	long := "X-Long: " + strings.Repeat("v", 70000) + "\r\n"
	longAR := "Authentication-Results: " + strings.Repeat("w", 70000) + "\r\n"
	tests := []struct {
		name    string
		prepend string
		in      string
		want    string
	}{
		{
			name: "drops a one-line field, keeps the rest byte-exact",
			in:   "From: a@b\r\nAuthentication-Results: mx; spf=pass\r\nSubject:  hi \r\n\r\nbody\r\n",
			want: "From: a@b\r\nSubject:  hi \r\n\r\nbody\r\n",
		},
		{
			name: "drops a folded field with its continuation lines",
			in:   "Authentication-Results: mx;\r\n\tspf=pass;\r\n dkim=pass\r\nTo: c@d\r\n\r\nbody\r\n",
			want: "To: c@d\r\n\r\nbody\r\n",
		},
		{
			name: "keeps continuation lines of a kept field",
			in:   "Subject: one\r\n two\r\nX-HELO-Check: pass\r\n\tmore\r\n\r\nx",
			want: "Subject: one\r\n two\r\n\r\nx",
		},
		{
			name: "matches names case-insensitively",
			in:   "authentication-results: x\r\nX-Helo-CHECK: y\r\nA: b\r\n\r\n",
			want: "A: b\r\n\r\n",
		},
		{
			name: "obsolete white space before the colon",
			in:   "Authentication-Results : x\r\nA: b\r\n\r\n",
			want: "A: b\r\n\r\n",
		},
		{
			name: "body is untouched, even fields in it",
			in:   "A: b\r\n\r\nAuthentication-Results: forged\r\n\r\nX-HELO-Check: x\r\n",
			want: "A: b\r\n\r\nAuthentication-Results: forged\r\n\r\nX-HELO-Check: x\r\n",
		},
		{
			name:    "prepend comes first",
			prepend: "Received: from x\r\n",
			in:      "Authentication-Results: x\r\n\r\nbody",
			want:    "Received: from x\r\n\r\nbody",
		},
		{
			name: "no separator: all header",
			in:   "A: b\r\nAuthentication-Results: x\r\n y\r\nC: d",
			want: "A: b\r\nC: d",
		},
		{
			name: "garbage without colons passes",
			in:   "not a header\r\nAuthentication-Results: x\r\nmore garbage",
			want: "not a header\r\nmore garbage",
		},
		{
			name: "continuation after a dropped first field goes with it",
			in:   "Authentication-Results: x\r\n\tby trusted.example (authenticated)\r\nA: b\r\n\r\n",
			want: "A: b\r\n\r\n",
		},
		{
			name: "white space first in the body passes",
			in:   "\r\n\tby trusted.example\r\n",
			want: "\r\n\tby trusted.example\r\n",
		},
		{
			name: "bare LF line endings",
			in:   "A: b\nAuthentication-Results: x\n y\n\nbody\n",
			want: "A: b\n\nbody\n",
		},
		{
			name: "white-space-only line is a continuation, not the separator",
			in:   "Authentication-Results: x\r\n \r\nA: b\r\n\r\n",
			want: "A: b\r\n\r\n",
		},
		{
			name: "empty message",
			in:   "",
			want: "",
		},
		{
			name: "only the separator",
			in:   "\r\nAuthentication-Results: body\r\n",
			want: "\r\nAuthentication-Results: body\r\n",
		},
		{
			name: "long kept line passes whole",
			in:   "A: b\r\n" + long + "C: d\r\n\r\nbody",
			want: "A: b\r\n" + long + "C: d\r\n\r\nbody",
		},
		{
			name: "long dropped line is dropped whole",
			in:   "A: b\r\n" + longAR + "\tcont\r\nC: d\r\n\r\nbody",
			want: "A: b\r\nC: d\r\n\r\nbody",
		},
		{
			name: "colon beyond the first piece is not matched",
			in:   "Authentication-Results" + strings.Repeat(" ", 5000) + ": x\r\n\r\n",
			want: "Authentication-Results" + strings.Repeat(" ", 5000) + ": x\r\n\r\n",
		},
		{
			name: "colon within the first piece is matched",
			in:   "Authentication-Results" + strings.Repeat(" ", 3000) + ": x\r\nA: b\r\n\r\n",
			want: "A: b\r\n\r\n",
		},
	}
	for _, rd := range readers {
		for _, size := range []int{0, 1, 5} {
			for _, tc := range tests {
				t.Run(rd.name+"/"+tc.name, func(t *testing.T) {
					r := NewHeaderRewriter(rd.wrap(strings.NewReader(tc.in)), []byte(tc.prepend), dropAuth)
					got, err := readAll(r, size)
					if err != nil {
						t.Fatalf("read error %v", err)
					}
					if string(got) != tc.want {
						t.Errorf("output\n%.300q\nwant\n%.300q", got, tc.want)
					}
				})
			}
		}
	}
}

// TestHeaderRewriterRefusesFoldedFirstLine: a first line beginning with
// white space would be a continuation line of the last prepended field,
// the gateway's Received (issue 12, bug 3). Only the prepend may come out,
// then a *FilterError.
func TestHeaderRewriterRefusesFoldedFirstLine(t *testing.T) {
	const prepend = "Received: from x\r\n\tby mx.example; Sat, 5 Dec 2026 09:00:00 +0000\r\n"
	tests := []struct {
		name string
		in   string
	}{
		{name: "tab", in: "\tby trusted.example (authenticated)\r\n\r\nbody"},
		{name: "space", in: " (authenticated)\r\nSubject: s\r\n\r\nbody"},
		{name: "bare LF", in: "\tby trusted.example\n\nbody"},
		{name: "white space only", in: " \r\n\r\nbody"},
		{name: "no end of line", in: "\tby trusted.example"},
		{name: "longer than a piece", in: "\t" + strings.Repeat("x", 3*headerChunk) + "\r\n\r\n"},
	}
	for _, rd := range readers {
		for _, size := range []int{0, 1, 5} {
			for _, tc := range tests {
				t.Run(rd.name+"/"+tc.name, func(t *testing.T) {
					r := NewHeaderRewriter(rd.wrap(strings.NewReader(tc.in)), []byte(prepend), dropAuth)
					got, err := readAll(r, size)
					var fe *FilterError
					if !errors.As(err, &fe) || fe.Kind != KindFoldedFirstLine || fe.Line != 1 {
						t.Fatalf("error %v, want a FilterError of kind %s on line 1", err, KindFoldedFirstLine)
					}
					if string(got) != prepend {
						t.Errorf("output %q, want only the prepend %q", got, prepend)
					}
				})
			}
		}
	}
}

func TestHeaderRewriterCanonicalName(t *testing.T) {
	var seen []string
	drop := func(name string) bool { seen = append(seen, name); return false }
	in := "authentication-results: x\r\nx-helo-check: y\r\n\r\n"
	if _, err := io.ReadAll(NewHeaderRewriter(strings.NewReader(in), nil, drop)); err != nil {
		t.Fatal(err)
	}
	want := []string{"Authentication-Results", "X-Helo-Check"}
	if strings.Join(seen, ",") != strings.Join(want, ",") {
		t.Errorf("drop saw %q, want %q", seen, want)
	}
}

func TestHeaderRewriterNilDrop(t *testing.T) {
	in := "Authentication-Results: x\r\n\r\nbody"
	got, err := io.ReadAll(NewHeaderRewriter(strings.NewReader(in), []byte("P: 1\r\n"), nil))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "P: 1\r\n"+in {
		t.Errorf("output %q, want the prepend and the input unchanged", got)
	}
}

func TestHeaderRewriterPassesSourceError(t *testing.T) {
	boom := errors.New("reset by peer")
	tests := []struct {
		name string
		in   string
	}{
		{name: "in the header", in: "A: b\r\nC: "},
		{name: "in the body", in: "A: b\r\n\r\nbody"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := io.MultiReader(strings.NewReader(tc.in), iotest.ErrReader(boom))
			_, err := io.ReadAll(NewHeaderRewriter(src, nil, dropAuth))
			if !errors.Is(err, boom) {
				t.Errorf("error %v, want the source's error", err)
			}
		})
	}
}

// rewriteRef is the specification of NewHeaderRewriter without its memory
// bound: whole lines, the field name looked for in the first headerChunk
// bytes of a line.
func rewriteRef(in, prepend []byte, drop func(string) bool) []byte {
	out := append([]byte{}, prepend...)
	lines := bytes.SplitAfter(in, []byte("\n"))
	dropping := false
	for i, line := range lines {
		if isEmptyLine(line) {
			for _, rest := range lines[i:] {
				out = append(out, rest...)
			}
			return out
		}
		if len(line) > 0 && line[0] != ' ' && line[0] != '\t' {
			name := fieldName(line[:min(len(line), headerChunk)])
			dropping = name != "" && drop(name)
		}
		if !dropping {
			out = append(out, line...)
		}
	}
	return out
}
