package config

import (
	"os"
	"strings"
	"time"

	"github.com/smtpgateway/gateway/heloguard"
)

// Defaults that are not the zero value. RFC 5321 §4.5.3.2 gives the
// timeouts; Postfix's defaults guide the limits.
const (
	DefaultMaxMessageBytes = 26214400 // 25 MiB
	DefaultMaxRecipients   = 100
	DefaultMaxLineLength   = 1000 // commands: RFC 5321 §4.5.3.1.4's 512 plus what extension parameters add; AUTH exchanges get RFC 4954's 12288 regardless
	// DefaultMaxGreetings bounds HELO/EHLO per connection: a client needs
	// two (before and after STARTTLS), each may start DNS checks.
	DefaultMaxGreetings = 10
	// DefaultDNSMaxInFlight bounds the DNS queries the gateway has
	// outstanding at once, across all sessions.
	DefaultDNSMaxInFlight = 100
)

// DefaultMaxDataLineLength bounds a line inside a message: far above RFC
// 5322 §2.1.1's 998, so that sloppy but real mail passes, and far below
// what would let one line stream to the downstream without end.
const DefaultMaxDataLineLength = 65536

func (c *Config) applyDefaults() {
	if c.Hostname == "" {
		c.Hostname = systemHostname()
	}
	c.Hostname = strings.ToLower(strings.TrimSuffix(c.Hostname, "."))
	for i, d := range c.LocalDomains {
		c.LocalDomains[i] = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(d), "."))
	}
	setDur(&c.ShutdownTimeout, 30*time.Second)
	setDur(&c.State.Timeout, 50*time.Millisecond)
	if c.State.KeyPrefix == "" {
		c.State.KeyPrefix = "gateway:"
	}

	setDur(&c.DNS.Timeout, 2*time.Second)
	setInt(&c.DNS.CacheSize, 10000)
	setInt(&c.DNS.MaxInFlight, DefaultDNSMaxInFlight)

	for i := range c.Listeners {
		l := &c.Listeners[i]
		if l.Kind == "" {
			l.Kind = KindMX
		}
		if l.Name == "" {
			l.Name = string(l.Kind)
		}
	}

	if c.TLS.MinVersion == "" {
		c.TLS.MinVersion = "1.2"
	}

	c.applyQueueDefaults()
	r := &c.Relay
	if r.HeloName == "" {
		r.HeloName = c.Hostname
	}
	if r.TLS == "" {
		r.TLS = "opportunistic"
	}
	setDur(&r.ConnectTimeout, 30*time.Second)
	setDur(&r.CommandTimeout, 5*time.Minute)
	setDur(&r.DataTimeout, 10*time.Minute)
	setInt(&r.MaxConnections, 100)
	setInt(&r.MaxIdle, 10)
	setDur(&r.IdleTimeout, 60*time.Second)

	lim := &c.Limits
	if lim.MaxMessageBytes == 0 {
		lim.MaxMessageBytes = DefaultMaxMessageBytes
	}
	setInt(&lim.MaxRecipients, DefaultMaxRecipients)
	if lim.BareLineEndings == "" {
		lim.BareLineEndings = "reject"
	}
	if lim.NULBytes == "" {
		lim.NULBytes = "reject"
	}
	setInt(&lim.MaxConnections, 1000)
	// The per-address default never exceeds a total set lower by hand
	// (max_connections = 20 alone is a valid file).
	setInt(&lim.MaxConnectionsPerIP, min(50, max(lim.MaxConnections, 1)))
	setDur(&lim.CommandTimeout, 5*time.Minute)
	setDur(&lim.DataTimeout, 3*time.Minute)
	setDur(&lim.SessionTimeout, time.Hour)
	setInt(&lim.MaxErrors, 20)
	if lim.MaxGreetings == nil {
		n := DefaultMaxGreetings
		lim.MaxGreetings = &n
	}
	setInt(&lim.MaxCommands, 10000)
	setInt(&lim.MaxLineLength, DefaultMaxLineLength)
	if lim.MaxDataLineLength == nil {
		n := DefaultMaxDataLineLength
		lim.MaxDataLineLength = &n
	}

	if c.HELO.Profile == "" {
		c.HELO.Profile = heloguard.ProfileCPanel
	}

	a := &c.Auth
	if a.Backend == "" {
		a.Backend = "local"
	}
	setDur(&a.CacheTTL, 5*time.Minute)
	setDur(&a.FailureWindow, 10*time.Minute)
	setInt(&a.DelayAfter, 3)
	setDur(&a.MaxDelay, 8*time.Second)
	setInt(&a.BlockAfter, 10)
	setDur(&a.BlockTime, 30*time.Minute)

	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
}

func setDur(d *Duration, v time.Duration) {
	if *d == 0 {
		*d = Duration(v)
	}
}

func setInt(i *int, v int) {
	if *i == 0 {
		*i = v
	}
}

func systemHostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost.localdomain"
	}
	return h
}
