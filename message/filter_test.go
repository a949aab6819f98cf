package message

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// readers wraps a source the ways a network hands bytes over, so that a
// CR and its LF land in different Reads.
var readers = []struct {
	name string
	wrap func(io.Reader) io.Reader
}{
	{"whole", func(r io.Reader) io.Reader { return r }},
	{"one byte", iotest.OneByteReader},
	{"half", iotest.HalfReader},
	{"data with EOF", iotest.DataErrReader},
}

// readAll reads r with a buffer of size n (0: io.ReadAll), returning the
// bytes and the first error other than io.EOF.
func readAll(r io.Reader, n int) ([]byte, error) {
	if n == 0 {
		return io.ReadAll(r)
	}
	var out []byte
	buf := make([]byte, n)
	for range 1 << 20 {
		m, err := r.Read(buf)
		out = append(out, buf[:m]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
	return out, errors.New("no EOF")
}

// bareEOL returns the offset of the first CR or LF in b that is not part
// of a CRLF pair, or -1.
func bareEOL(b []byte) int {
	for i, c := range b {
		switch c {
		case '\r':
			if i+1 >= len(b) || b[i+1] != '\n' {
				return i
			}
		case '\n':
			if i == 0 || b[i-1] != '\r' {
				return i
			}
		}
	}
	return -1
}

func TestFilterNormalize(t *testing.T) {
	opts := FilterOptions{LineEndings: Normalize, NUL: Strip}
	tests := []struct {
		name   string
		in     string
		want   string
		bareLF int64
		bareCR int64
		nul    int64
	}{
		{name: "CRLF only", in: "a\r\nb\r\n", want: "a\r\nb\r\n"},
		{name: "empty", in: "", want: ""},
		{name: "LF dot LF", in: "a\n.\nMAIL FROM:<x>\n", want: "a\r\n.\r\nMAIL FROM:<x>\r\n", bareLF: 3},
		{name: "LF dot CRLF", in: "a\n.\r\nb", want: "a\r\n.\r\nb", bareLF: 1},
		{name: "CRLF dot LF", in: "a\r\n.\nb", want: "a\r\n.\r\nb", bareLF: 1},
		{name: "CR dot CR", in: "a\r.\rb", want: "a\r\n.\r\nb", bareCR: 2},
		{name: "CRLF dot CR", in: "a\r\n.\rb", want: "a\r\n.\r\nb", bareCR: 1},
		{name: "CR dot CRLF", in: "a\r.\r\nb", want: "a\r\n.\r\nb", bareCR: 1},
		{name: "CR CR LF is bare CR then CRLF", in: "a\r\r\nb", want: "a\r\n\r\nb", bareCR: 1},
		{name: "LF CR is bare LF then bare CR", in: "a\n\rb", want: "a\r\n\r\nb", bareLF: 1, bareCR: 1},
		{name: "CR at end of stream", in: "a\r", want: "a\r\n", bareCR: 1},
		{name: "LF at start", in: "\nabc", want: "\r\nabc", bareLF: 1},
		{name: "NUL stripped", in: "a\x00b\r\n", want: "ab\r\n", nul: 1},
		{name: "NUL between CR and LF", in: "a\r\x00\nb", want: "a\r\nb", nul: 1},
		{name: "NULs around LF dot LF", in: "\x00\n.\x00\n", want: "\r\n.\r\n", bareLF: 2, nul: 2},
		{name: "only NULs", in: "\x00\x00", want: "", nul: 2},
	}
	for _, rd := range readers {
		for _, size := range []int{0, 1, 2, 3} {
			for _, tc := range tests {
				t.Run(rd.name+"/"+tc.name, func(t *testing.T) {
					f := NewFilter(rd.wrap(strings.NewReader(tc.in)), opts)
					got, err := readAll(f, size)
					if err != nil {
						t.Fatalf("read error %v", err)
					}
					if string(got) != tc.want {
						t.Errorf("output %q, want %q (buffer %d)", got, tc.want, size)
					}
					if i := bareEOL(got); i >= 0 {
						t.Errorf("output has a bare line ending at %d: %q", i, got)
					}
					want := FilterStats{Bytes: int64(len(tc.in)), BareLF: tc.bareLF, BareCR: tc.bareCR, NUL: tc.nul}
					if s := f.Stats(); s != want {
						t.Errorf("stats %+v, want %+v", s, want)
					}
				})
			}
		}
	}
}

func TestFilterReject(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		nul    Mode
		kind   string // "" for no error
		offset int64
		line   int
	}{
		{name: "CRLF only", in: "a\r\nb\r\n"},
		{name: "LF dot LF", in: "a\n.\nMAIL FROM:<x>\n", kind: KindBareLF, offset: 1, line: 1},
		{name: "LF dot CRLF", in: "a\n.\r\nb", kind: KindBareLF, offset: 1, line: 1},
		{name: "CRLF dot LF", in: "a\r\n.\nb", kind: KindBareLF, offset: 4, line: 2},
		{name: "CR dot CR", in: "a\r.\rb", kind: KindBareCR, offset: 1, line: 1},
		{name: "CRLF dot CR", in: "a\r\n.\rb", kind: KindBareCR, offset: 4, line: 2},
		{name: "CR dot CRLF", in: "a\r.\r\nb", kind: KindBareCR, offset: 1, line: 1},
		{name: "CR CR LF", in: "a\r\r\nb", kind: KindBareCR, offset: 1, line: 1},
		{name: "CR at end of stream", in: "ab\r\ncd\r", kind: KindBareCR, offset: 6, line: 2},
		{name: "bare LF on line 3", in: "1\r\n2\r\n3\n", kind: KindBareLF, offset: 7, line: 3},
		{name: "NUL rejected", in: "a\r\nb\x00c", kind: KindNUL, offset: 4, line: 2},
		{name: "NUL stripped then CRLF", in: "a\r\x00\nb", nul: Strip},
		{name: "NUL stripped before bare LF", in: "a\x00\nb", nul: Strip, kind: KindBareLF, offset: 2, line: 1},
		{name: "NUL rejected before CR is judged", in: "a\r\x00\nb", kind: KindNUL, offset: 2, line: 2},
	}
	for _, rd := range readers {
		for _, size := range []int{0, 1, 2} {
			for _, tc := range tests {
				t.Run(rd.name+"/"+tc.name, func(t *testing.T) {
					f := NewFilter(rd.wrap(strings.NewReader(tc.in)), FilterOptions{LineEndings: Reject, NUL: tc.nul})
					got, err := readAll(f, size)
					if i := bareEOL(got); i >= 0 {
						t.Errorf("output before the error has a bare line ending at %d: %q", i, got)
					}
					var fe *FilterError
					if tc.kind == "" {
						if err != nil {
							t.Fatalf("unexpected error %v", err)
						}
						return
					}
					if !errors.As(err, &fe) {
						t.Fatalf("error %v, want a *FilterError of kind %s", err, tc.kind)
					}
					if fe.Kind != tc.kind || fe.Offset != tc.offset || fe.Line != tc.line {
						t.Errorf("error %+v, want kind %s offset %d line %d", fe, tc.kind, tc.offset, tc.line)
					}
					if _, err2 := f.Read(make([]byte, 8)); err2 != err {
						t.Errorf("second Read returned %v, want the same error again", err2)
					}
				})
			}
		}
	}
}

func TestFilterPassesSourceError(t *testing.T) {
	boom := errors.New("client went away")
	tests := []struct {
		name string
		opts FilterOptions
		in   string
	}{
		{name: "reject mode", opts: FilterOptions{}, in: "a\r\nb"},
		{name: "normalize mode", opts: FilterOptions{LineEndings: Normalize, NUL: Strip}, in: "a\nb"},
		{name: "pending CR is not judged", opts: FilterOptions{}, in: "a\r"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := io.MultiReader(strings.NewReader(tc.in), iotest.ErrReader(boom))
			_, err := io.ReadAll(NewFilter(src, tc.opts))
			if !errors.Is(err, boom) {
				t.Errorf("error %v, want the source's error", err)
			}
		})
	}
}

func TestFilterNoProgress(t *testing.T) {
	_, err := io.ReadAll(NewFilter(emptyReader{}, FilterOptions{}))
	if !errors.Is(err, io.ErrNoProgress) {
		t.Errorf("error %v, want io.ErrNoProgress", err)
	}
}

// emptyReader returns (0, nil) forever.
type emptyReader struct{}

func (emptyReader) Read([]byte) (int, error) { return 0, nil }

func TestFilterLargeMessage(t *testing.T) {
	// Larger than the Filter's buffer, with CRs at every possible
	// boundary: the output must equal the reference normalization.
	var b bytes.Buffer
	for i := range 5000 {
		b.WriteString(strings.Repeat("x", i%37))
		b.WriteString([]string{"\r\n", "\n", "\r", "\r\r\n"}[i%4])
	}
	in := b.Bytes()
	want := normalizeRef(in, true)
	for _, rd := range readers {
		t.Run(rd.name, func(t *testing.T) {
			got, err := readAll(NewFilter(rd.wrap(bytes.NewReader(in)), FilterOptions{LineEndings: Normalize}), 7)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from the reference normalization (len %d, want %d)", len(got), len(want))
			}
		})
	}
}

func TestFilterReadAllocs(t *testing.T) {
	// 100 Reads of 4 KiB never reach the end of 1 MB.
	msg := bytes.Repeat([]byte("line of text\nanother\r\n"), 1<<20/22)
	f := NewFilter(bytes.NewReader(msg), FilterOptions{LineEndings: Normalize, NUL: Strip})
	buf := make([]byte, 4096)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := f.Read(buf); err != nil {
			t.Fatalf("Read: %v", err)
		}
	})
	if allocs >= 1 {
		t.Errorf("Read allocates %.1f times per call, want 0", allocs)
	}
}

// normalizeRef is the specification of Normalize: NULs removed when
// strip, then every CRLF, bare CR and bare LF becomes CRLF.
func normalizeRef(in []byte, strip bool) []byte {
	var s []byte
	for _, c := range in {
		if c == 0 && strip {
			continue
		}
		s = append(s, c)
	}
	var out []byte
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\r':
			out = append(out, '\r', '\n')
			if i+1 < len(s) && s[i+1] == '\n' {
				i++
			}
		case '\n':
			out = append(out, '\r', '\n')
		default:
			out = append(out, s[i])
		}
	}
	return out
}

// MaxLineLength: a line of exactly the limit passes, one byte more stops
// the stream with KindLongLine at its line, in both line-ending modes and
// however the source is cut; line endings and stripped NULs do not count.
func TestFilterMaxLineLength(t *testing.T) {
	const lim = 10
	tests := []struct {
		name     string
		mode     Mode
		in       string
		wantLine int // 0: passes
	}{
		{"at the limit", Reject, "0123456789\r\nabc\r\n", 0},
		{"one over", Reject, "ok\r\n0123456789X\r\n", 2},
		{"no line end at all", Reject, strings.Repeat("x", 100), 1},
		{"long last line", Reject, "a\r\nb\r\n" + strings.Repeat("x", 11), 3},
		{"bare LF ends a line in normalize", Normalize, "0123456789\n0123456789\n", 0},
		{"bare CR ends a line in normalize", Normalize, "0123456789\r0123456789\r\n", 0},
		{"stripped NUL does not count", Normalize, "01234\x0056789\r\n", 0},
		{"over after a bare LF", Normalize, "a\n0123456789X", 2},
	}
	for _, tc := range tests {
		for _, cut := range []int{1, 3, 4096} {
			t.Run(tc.name, func(t *testing.T) {
				src := iotest.HalfReader(&chunked{b: []byte(tc.in), n: cut})
				f := NewFilter(src, FilterOptions{LineEndings: tc.mode, NUL: Strip, MaxLineLength: lim})
				out, err := io.ReadAll(f)
				var fe *FilterError
				switch {
				case tc.wantLine == 0 && err != nil:
					t.Fatalf("cut %d: %v", cut, err)
				case tc.wantLine > 0 && (!errors.As(err, &fe) || fe.Kind != KindLongLine || fe.Line != tc.wantLine):
					t.Fatalf("cut %d: err %v, want %s at line %d", cut, err, KindLongLine, tc.wantLine)
				}
				for _, l := range strings.Split(string(out), "\r\n") {
					if len(l) > lim {
						t.Fatalf("cut %d: a line of %d bytes came out: %q", cut, len(l), out)
					}
				}
			})
		}
	}
}

// chunked returns at most n bytes per Read.
type chunked struct {
	b []byte
	n int
}

func (c *chunked) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	k := copy(p[:min(len(p), c.n)], c.b)
	c.b = c.b[k:]
	return k, nil
}
