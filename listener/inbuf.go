package listener

import "bytes"

// inbuf holds bytes read from the network that were not handed to go-smtp
// yet: the tail of a pipelined batch, or a command line arriving in pieces.
// It stays nil for the common case of one line per read, so an idle
// connection costs no buffer of its own.
type inbuf struct {
	b    []byte
	r, w int
}

func (ib *inbuf) len() int { return ib.w - ib.r }

func (ib *inbuf) bytes() []byte { return ib.b[ib.r:ib.w] }

// line removes and returns the first complete line (through LF), if any.
// The slice stays valid until the next call that adds bytes.
func (ib *inbuf) line() ([]byte, bool) {
	i := bytes.IndexByte(ib.b[ib.r:ib.w], '\n')
	if i < 0 {
		return nil, false
	}
	l := ib.b[ib.r : ib.r+i+1]
	ib.consume(i + 1)
	return l, true
}

func (ib *inbuf) consume(n int) {
	ib.r += n
	if ib.r == ib.w {
		ib.r, ib.w = 0, 0
		if cap(ib.b) > 16<<10 {
			ib.b = nil // let a burst's buffer go
		}
	}
}

func (ib *inbuf) add(p []byte) {
	copy(ib.space(len(p)), p)
	ib.w += len(p)
}

// space returns at least n free bytes after the data, compacting or growing.
func (ib *inbuf) space(n int) []byte {
	if cap(ib.b)-ib.w < n {
		if ib.r > 0 {
			// The slice's length says nothing (wrote moves w up to
			// cap): copy into the whole capacity.
			copy(ib.b[:cap(ib.b)], ib.b[ib.r:ib.w])
			ib.w -= ib.r
			ib.r = 0
		}
		if cap(ib.b)-ib.w < n {
			nb := make([]byte, ib.w, max(2*cap(ib.b), ib.w+n, 4096))
			copy(nb, ib.b[:ib.w])
			ib.b = nb
		}
	}
	return ib.b[ib.w:cap(ib.b)]
}

func (ib *inbuf) wrote(n int) { ib.w += n }

func (ib *inbuf) reset() { ib.b, ib.r, ib.w = nil, 0, 0 }
