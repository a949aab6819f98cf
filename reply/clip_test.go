package reply

import (
	"strings"
	"testing"
)

func TestClip(t *testing.T) {
	long := strings.Repeat("a", 3000)
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "empty", in: "", want: ""},
		{name: "short kept", in: "mail.example.com", want: "mail.example.com"},
		{name: "exactly the limit kept", in: long[:255], want: long[:255]},
		{name: "one over", in: long[:256], want: long[:255] + "...(cut 1 bytes)"},
		{name: "3000-byte HELO", in: long, want: long[:255] + "...(cut 2745 bytes)"},
		// "é" is two bytes; the 255th byte would be its first half.
		{name: "no split UTF-8", in: long[:254] + "é" + long[:10], want: long[:254] + "...(cut 12 bytes)"},
		{name: "control bytes left to the handler", in: "evil\r\nX: y", want: "evil\r\nX: y"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Clip(tc.in); got != tc.want {
				t.Errorf("Clip(%d bytes) = %q (%d bytes), want %q", len(tc.in), got, len(got), tc.want)
			}
		})
	}
}
