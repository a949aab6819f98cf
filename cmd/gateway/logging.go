package main

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/smtpgateway/gateway/config"
)

// newLogger builds the process logger from [log]: text or JSON lines on
// stderr, with the fixed lower_snake keys every package uses.
func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	switch c.Level {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: durationString}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// durationString writes durations as Go duration strings ("1.234ms") in
// both formats: slog's JSON handler would write integer nanoseconds, so
// that "latency" and "duration" read the same in text and JSON.
func durationString(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.String(a.Key, a.Value.Duration().String())
	}
	return a
}

// ptrTimeout bounds the reverse lookup for the connect log line.
const ptrTimeout = 3 * time.Second

// lookupPTR names a client for the connect line: the first PTR name
// without its final dot, or "" when there is none (or DNS did not answer
// in time). It goes through the shared resolver, so the HELO checks' own
// PTR lookup for the same client is then a cache hit.
func (s *server) lookupPTR(ip netip.Addr) string {
	res := s.current.Load().resolver
	if res == nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), ptrTimeout)
	defer cancel()
	names, err := res.LookupAddr(ctx, ip.String())
	if err != nil || len(names) == 0 {
		return ""
	}
	return strings.TrimSuffix(names[0], ".")
}
