package main

import (
	"reflect"
	"testing"

	"github.com/smtpgateway/gateway/config"
)

func TestRestartOnly(t *testing.T) {
	base := func() *config.Config {
		c := &config.Config{Hostname: "mx.example.com"}
		c.Listeners = []config.Listener{{Name: "mx", Address: "127.0.0.1:25", Kind: config.KindMX}}
		c.Limits.MaxMessageBytes = 1000
		return c
	}
	tests := []struct {
		name string
		edit func(*config.Config)
		want []string
	}{
		{"nothing", func(*config.Config) {}, nil},
		{"reloadable only", func(c *config.Config) { c.Limits.MaxErrors = 3; c.Relay.Downstream = "smtp://127.0.0.1:26" }, nil},
		{"listener address", func(c *config.Config) { c.Listeners[0].Address = "127.0.0.1:26" }, []string{"[[listener]]"}},
		{"hostname and pprof", func(c *config.Config) { c.Hostname = "mx2.example.com"; c.Metrics.Pprof = true },
			[]string{"hostname", "metrics.pprof"}},
		{"log level", func(c *config.Config) { c.Log.Level = "debug" }, []string{"log"}},
		{"relay mode", func(c *config.Config) { c.Relay.Mode = config.ModeQueue }, []string{"relay.mode"}},
		{"queue dir", func(c *config.Config) { c.Queue.Dir = "/srv/spool" }, []string{"[queue]"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base()
			tc.edit(cfg)
			if got := restartOnly(base(), cfg); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("restartOnly = %q, want %q", got, tc.want)
			}
		})
	}
	// The same [queue] read twice (pointer fields are new each time) is no change.
	a, b := base(), base()
	free1, free2 := int64(0), int64(0)
	a.Queue.MinFreeBytes, b.Queue.MinFreeBytes = &free1, &free2
	if got := restartOnly(a, b); got != nil {
		t.Errorf("restartOnly for an unchanged [queue] = %q, want nothing", got)
	}
}
