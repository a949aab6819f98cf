package e2etest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSkipNotice(t *testing.T) {
	tests := []struct {
		name    string
		n       int
		reasons []string
		want    []string // fragments; nil means no notice
	}{
		{name: "nothing skipped", n: 0},
		{name: "one test", n: 1, reasons: []string{"needs swaks (apt-get install swaks)"},
			want: []string{"1 end-to-end test SKIPPED: needs swaks (apt-get install swaks)", "GATEWAY_E2E=1"}},
		{name: "every reason once, sorted", n: 66, reasons: []string{"needs swaks (x)", "needs root to run a private postfix instance (run the tests as root)"},
			want: []string{"66 end-to-end tests SKIPPED: needs root to run a private postfix instance (run the tests as root); needs swaks (x)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := skipNotice(tc.n, tc.reasons)
			if tc.want == nil && got != "" {
				t.Errorf("notice %q, want none", got)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("notice %q lacks %q", got, w)
				}
			}
			if strings.Contains(got, "\n") {
				t.Errorf("notice is more than one line: %q", got)
			}
		})
	}
}

// Require's skips reach the count Main prints.
func TestRequireRecordsSkips(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv(EnvE2E, "")
	skipped.Lock()
	before := skipped.n
	skipped.Unlock()
	r := newRecorder(t)
	r.run(func() { Require(r, "curl") })
	skipped.Lock()
	defer skipped.Unlock()
	if skipped.n != before+1 || !skipped.reasons["needs curl (apt-get install curl)"] {
		t.Errorf("skips %d (before %d), reasons %v", skipped.n, before, skipped.reasons)
	}
}

func TestEchoToGo(t *testing.T) {
	stat := func(f *os.File) os.FileInfo {
		t.Helper()
		fi, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		return fi
	}
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	pr2, pw2, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr2.Close()
	defer pw2.Close()
	regular, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer regular.Close()

	tests := []struct {
		name        string
		verbose     bool
		self, goErr os.FileInfo
		want        bool
	}{
		{"go test buffers, its stderr a terminal", false, stat(pw), stat(devNull), true},
		{"go test buffers, its stderr a pipe (CI)", false, stat(pw), stat(pw2), true},
		{"-v shows the output already", true, stat(pw), stat(pw2), false},
		{"run by hand: the same stderr", false, stat(pw2), stat(pw2), false},
		{"a regular file would be overwritten", false, stat(pw), stat(regular), false},
		{"no go command stderr", false, stat(pw), nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := echoToGo(tc.verbose, tc.self, tc.goErr); got != tc.want {
				t.Errorf("echoToGo = %v, want %v", got, tc.want)
			}
		})
	}
}
