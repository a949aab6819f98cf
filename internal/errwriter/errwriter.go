// Package errwriter is a writer that keeps its first error, so that code
// printing a report line by line checks for failure once, at the end.
package errwriter

import (
	"fmt"
	"io"
)

// Writer writes to W until a write fails; from then on every write
// returns that first error, which Err reports.
type Writer struct {
	W   io.Writer
	err error
}

func (e *Writer) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.W.Write(p)
	e.err = err
	return n, err
}

// Printf formats to the writer; errors are kept for Err.
func (e *Writer) Printf(format string, args ...any) {
	fmt.Fprintf(e, format, args...)
}

// Err is the first write error, nil if every write succeeded.
func (e *Writer) Err() error { return e.err }
