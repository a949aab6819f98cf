package listener

import (
	"bytes"
	"testing"
)

// FuzzInbuf runs a sequence of buffer operations, decoded from the input,
// against inbuf and against a plain byte slice: both must hold the same
// bytes after every step, whatever compaction and growth happen inside.
// Each op byte: low 2 bits choose add / line / consume / read-into-space,
// the rest is a length.
func FuzzInbuf(f *testing.F) {
	f.Add([]byte{0x40, 0x41, 0xfd, 0x01, 0x81, 0xff, 0x42, 0x01, 0x03})
	f.Add(bytes.Repeat([]byte{0xfc, 0xfc, 0x01, 0x02, 0xff}, 40))
	f.Add([]byte("\x00\x01\x02\x03"))
	f.Fuzz(func(t *testing.T, ops []byte) {
		var ib inbuf
		var model []byte
		seq := byte(0)
		next := func(n int) []byte {
			b := make([]byte, n)
			for i := range b {
				seq++
				b[i] = 'a' + seq%26
				if seq%7 == 0 {
					b[i] = '\n'
				}
			}
			return b
		}
		for _, op := range ops {
			n := int(op>>2) * 37
			switch op & 3 {
			case 0:
				p := next(n)
				ib.add(p)
				model = append(model, p...)
			case 1:
				l, ok := ib.line()
				i := bytes.IndexByte(model, '\n')
				if ok != (i >= 0) {
					t.Fatalf("line found %v, model %v", ok, i >= 0)
				}
				if ok {
					if !bytes.Equal(l, model[:i+1]) {
						t.Fatalf("line %q, want %q", l, model[:i+1])
					}
					model = model[i+1:]
				}
			case 2:
				n = min(n, ib.len())
				ib.consume(n)
				model = model[n:]
			case 3:
				sp := ib.space(max(n, 1))
				if len(sp) < max(n, 1) {
					t.Fatalf("space(%d) gave %d bytes", n, len(sp))
				}
				p := next(min(n, len(sp)))
				copy(sp, p)
				ib.wrote(len(p))
				model = append(model, p...)
			}
			if ib.len() != len(model) || !bytes.Equal(ib.bytes(), model) {
				t.Fatalf("buffer %q, want %q", ib.bytes(), model)
			}
		}
	})
}
