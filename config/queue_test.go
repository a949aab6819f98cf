package config

import (
	"strings"
	"testing"
	"time"
)

func TestQueueDefaults(t *testing.T) {
	c, err := Parse([]byte(minimal), "t.toml")
	if err != nil {
		t.Fatal(err)
	}
	q := c.Queue
	if c.Relay.Mode != ModeProxy || c.Relay.QueueEnabled() {
		t.Errorf("mode = %q, want proxy by default", c.Relay.Mode)
	}
	if q.Dir != "/var/spool/gateway" || q.RetryMin.D() != time.Minute || q.RetryMax.D() != time.Hour ||
		q.MaxAge.D() != 120*time.Hour || q.VerifyCache.D() != 24*time.Hour || q.DelayWarningD() != 4*time.Hour ||
		q.MinFree() != 1<<30 || q.MaxBytes != 0 || q.Concurrency != 10 {
		t.Errorf("queue defaults: %+v", q)
	}
	c, err = Parse([]byte(minimal+"mode = \"hybrid\"\n[queue]\ndir = \"/tmp/s\"\ndelay_warning = \"0s\"\nmin_free_bytes = 0\n"), "t.toml")
	if err != nil {
		t.Fatal(err)
	}
	if !c.Relay.QueueEnabled() || c.Queue.DelayWarningD() != 0 || c.Queue.MinFree() != 0 {
		t.Errorf("explicit zeros must switch delay warnings and the free-space floor off: %+v", c.Queue)
	}
}

func TestQueueErrors(t *testing.T) {
	tests := []struct {
		name, add string
		want      []string
	}{
		{"unknown mode", "mode = \"spool\"\n", []string{"relay.mode", `"spool" is not a mode`, "hybrid"}},
		{"relative dir", "mode = \"queue\"\n[queue]\ndir = \"spool\"\n", []string{"queue.dir", "not an absolute path"}},
		{"retry_min too short", "mode = \"queue\"\n[queue]\nretry_min = \"100ms\"\n", []string{"queue.retry_min", "too short"}},
		{"retry_max below retry_min", "mode = \"queue\"\n[queue]\nretry_min = \"10m\"\nretry_max = \"1m\"\n", []string{"queue.retry_max", "retry_min ≤ retry_max"}},
		{"max_age below retry_min", "mode = \"queue\"\n[queue]\nretry_min = \"10m\"\nretry_max = \"1h\"\nmax_age = \"5m\"\n", []string{"queue.max_age", "expire before its first retry"}},
		{"delay_warning past max_age", "mode = \"queue\"\n[queue]\nmax_age = \"2h\"\n", []string{"queue.delay_warning", "never be sent"}},
		{"max_bytes too small", "mode = \"hybrid\"\n[queue]\nmax_bytes = 1000\n", []string{"queue.max_bytes", "fewer than two messages"}},
		{"concurrency", "mode = \"queue\"\n[queue]\nconcurrency = -1\n", []string{"queue.concurrency", "out of range"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(minimal+tc.add), "t.toml")
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	// proxy mode ignores [queue]
	if _, err := Parse([]byte(minimal+"[queue]\ndir = \"relative\"\n"), "t.toml"); err != nil {
		t.Errorf("proxy mode with an unused [queue]: %v", err)
	}
}
