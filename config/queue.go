package config

import (
	"path/filepath"
	"time"
)

// Relay modes ([relay] mode).
const (
	ModeProxy  = "proxy"  // 250 only after the downstream's 250 (no spool)
	ModeQueue  = "queue"  // 250 once the message is durably in the spool
	ModeHybrid = "hybrid" // proxy while the downstream answers, spool when it cannot
)

// Queue is the [queue] table: the durable spool of queue and hybrid mode.
type Queue struct {
	Dir          string    `toml:"dir"`
	RetryMin     Duration  `toml:"retry_min"`
	RetryMax     Duration  `toml:"retry_max"`
	MaxAge       Duration  `toml:"max_age"`
	VerifyCache  Duration  `toml:"verify_cache"`
	DelayWarning *Duration `toml:"delay_warning"`  // nil: 4h; 0: off
	MaxBytes     int64     `toml:"max_bytes"`      // spool size cap; 0: none
	MinFreeBytes *int64    `toml:"min_free_bytes"` // nil: 1 GiB; 0: none
	Concurrency  int       `toml:"concurrency"`    // deliveries in flight per route
}

// Queue defaults (issue 14's for dir, retry_min, retry_max, max_age and
// verify_cache).
const (
	DefaultQueueDir          = "/var/spool/gateway"
	DefaultQueueDelayWarning = 4 * time.Hour
	DefaultQueueMinFreeBytes = 1 << 30
	DefaultQueueConcurrency  = 10
)

// QueueEnabled reports whether the mode needs the spool.
func (r Relay) QueueEnabled() bool { return r.Mode == ModeQueue || r.Mode == ModeHybrid }

// DelayWarningD is delay_warning with its default; 0 means off.
func (q Queue) DelayWarningD() time.Duration {
	if q.DelayWarning == nil {
		return DefaultQueueDelayWarning
	}
	return q.DelayWarning.D()
}

// MinFree is min_free_bytes with its default; 0 means no floor.
func (q Queue) MinFree() int64 {
	if q.MinFreeBytes == nil {
		return DefaultQueueMinFreeBytes
	}
	return *q.MinFreeBytes
}

func (c *Config) applyQueueDefaults() {
	if c.Relay.Mode == "" {
		c.Relay.Mode = ModeProxy
	}
	q := &c.Queue
	if q.Dir == "" {
		q.Dir = DefaultQueueDir
	}
	setDur(&q.RetryMin, time.Minute)
	setDur(&q.RetryMax, time.Hour)
	setDur(&q.MaxAge, 120*time.Hour)
	setDur(&q.VerifyCache, 24*time.Hour)
	setInt(&q.Concurrency, DefaultQueueConcurrency)
}

func (c *Config) validateQueue(v *validator) {
	switch c.Relay.Mode {
	case ModeProxy, ModeQueue, ModeHybrid:
	default:
		v.addf("relay.mode", "%q is not a mode; write \"proxy\" (250 after the downstream's 250), \"queue\" (250 once spooled on disk) or \"hybrid\" (proxy, spool while the downstream is unreachable)", c.Relay.Mode)
	}
	q := c.Queue
	if !c.Relay.QueueEnabled() {
		return
	}
	if !filepath.IsAbs(q.Dir) {
		v.addf("queue.dir", "%q is not an absolute path; write where the spool lives, e.g. %q", q.Dir, DefaultQueueDir)
	}
	if q.RetryMin.D() < time.Second {
		v.addf("queue.retry_min", "%s is too short; retrying faster than once a second hammers a downstream that is down, write e.g. \"1m\"", q.RetryMin.D())
	}
	if q.RetryMax.D() < q.RetryMin.D() {
		v.addf("queue.retry_max", "%s is shorter than retry_min (%s); want retry_min ≤ retry_max", q.RetryMax.D(), q.RetryMin.D())
	}
	if q.MaxAge.D() < q.RetryMin.D() {
		v.addf("queue.max_age", "%s is shorter than retry_min (%s): a message would expire before its first retry; write e.g. \"120h\"", q.MaxAge.D(), q.RetryMin.D())
	}
	if d := q.DelayWarningD(); d != 0 && d >= q.MaxAge.D() {
		v.addf("queue.delay_warning", "%s is not shorter than max_age (%s): the warning would never be sent; make it shorter, or \"0s\" to switch it off", d, q.MaxAge.D())
	}
	if q.MaxBytes < 0 {
		v.addf("queue.max_bytes", "%d is negative; write the spool's size cap in bytes, or 0 for none", q.MaxBytes)
	} else if q.MaxBytes > 0 && q.MaxBytes < 2*c.Limits.MaxMessageBytes {
		v.addf("queue.max_bytes", "%d holds fewer than two messages of limits.max_message_bytes (%d); raise it or write 0 for no cap", q.MaxBytes, c.Limits.MaxMessageBytes)
	}
	if q.MinFree() < 0 {
		v.addf("queue.min_free_bytes", "%d is negative; write the free-space floor in bytes, or 0 for none", q.MinFree())
	}
	if q.Concurrency < 1 || q.Concurrency > 1000 {
		v.addf("queue.concurrency", "%d is out of range; want 1 to 1000 deliveries in flight per downstream", q.Concurrency)
	}
}
