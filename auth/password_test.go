package auth

import (
	"io"
	"os"
	"strings"
	"testing"
)

func TestReadPassword(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr string
	}{
		{name: "line", in: "s3cret\n", want: "s3cret"},
		{name: "CRLF", in: "s3cret\r\n", want: "s3cret"},
		{name: "no newline at end of input", in: "s3cret", want: "s3cret"},
		{name: "spaces kept", in: "  two words  \n", want: "  two words  "},
		{name: "only the first line", in: "first\nsecond\n", want: "first"},
		{name: "UTF-8", in: "pässwörd\n", want: "pässwörd"},
		{name: "longest", in: strings.Repeat("p", maxField) + "\n", want: strings.Repeat("p", maxField)},
		{name: "empty line", in: "\n", wantErr: "empty password"},
		{name: "only CR", in: "\r\n", wantErr: "empty password"},
		{name: "no input", in: "", wantErr: "empty password"},
		{name: "too long", in: strings.Repeat("p", maxField+1) + "\n", wantErr: "longer than"},
		{name: "far too long", in: strings.Repeat("p", 100000), wantErr: "longer than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			got, err := ReadPassword(strings.NewReader(tc.in), &out)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ReadPassword = %q, %v; want error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ReadPassword = %q, %v; want %q", got, err, tc.want)
			}
			if out.Len() != 0 {
				t.Errorf("prompted %q on non-terminal input", out.String())
			}
		})
	}
}

// TestReadPasswordLeavesRest checks that only one line is consumed, so a
// caller reading more from the same pipe gets the rest.
func TestReadPasswordLeavesRest(t *testing.T) {
	r, w, err := os.Pipe() // an *os.File that is not a terminal
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	go func() {
		w.Write([]byte("first\nrest\n"))
		w.Close()
	}()
	got, err := ReadPassword(r, io.Discard)
	if err != nil || got != "first" {
		t.Fatalf("ReadPassword = %q, %v; want \"first\"", got, err)
	}
	rest, err := io.ReadAll(r)
	if err != nil || string(rest) != "rest\n" {
		t.Errorf("rest of input = %q, %v; want \"rest\\n\"", rest, err)
	}
}
