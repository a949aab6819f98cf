package auth

import (
	"net/netip"
	"sync"
	"testing"
	"time"
)

// fakeClock is the test's time; nothing sleeps.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

// limiterStep is one operation on a Limiter and its expected result.
type limiterStep struct {
	op        string // "check", "failure", "success", "wait"
	ip        string // default 192.0.2.1
	wait      time.Duration
	wantDelay time.Duration // check
	blocked   bool          // check, failure: want a non-zero blockedUntil
}

// failures returns n "failure" steps none of which blocks.
func failures(n int, ip string) []limiterStep {
	steps := make([]limiterStep, n)
	for i := range steps {
		steps[i] = limiterStep{op: "failure", ip: ip}
	}
	return steps
}

func concat(parts ...[]limiterStep) []limiterStep {
	var all []limiterStep
	for _, p := range parts {
		all = append(all, p...)
	}
	return all
}

func TestLimiterSequences(t *testing.T) {
	const (
		v4       = "192.0.2.1"
		v6a      = "2001:db8:1:2::1"
		v6b      = "2001:db8:1:2:ffff:eeee:dddd:cccc" // same /64 as v6a
		v6other  = "2001:db8:1:3::1"                  // next /64
		v4mapped = "::ffff:192.0.2.1"
	)
	tests := []struct {
		name  string
		cfg   LimiterConfig
		steps []limiterStep
	}{
		{
			name: "delays grow then a block",
			steps: []limiterStep{
				{op: "check", wantDelay: 0}, {op: "failure"},
				{op: "check", wantDelay: 0}, {op: "failure"},
				{op: "check", wantDelay: 0}, {op: "failure"},
				{op: "check", wantDelay: 1 * time.Second}, {op: "failure"},
				{op: "check", wantDelay: 2 * time.Second}, {op: "failure"},
				{op: "check", wantDelay: 4 * time.Second}, {op: "failure"},
				{op: "check", wantDelay: 8 * time.Second}, {op: "failure"},
				{op: "check", wantDelay: 8 * time.Second}, {op: "failure"},
				{op: "check", wantDelay: 8 * time.Second}, {op: "failure"},
				{op: "check", wantDelay: 8 * time.Second}, {op: "failure", blocked: true},
				{op: "check", blocked: true},
			},
		},
		{
			name: "block expires after BlockFor",
			steps: concat(failures(9, ""), []limiterStep{
				{op: "failure", blocked: true},
				{op: "wait", wait: 30*time.Minute - time.Second},
				{op: "check", blocked: true},
				{op: "wait", wait: time.Second},
				{op: "check", wantDelay: 0},
				{op: "failure"},
				{op: "check", wantDelay: 0},
			}),
		},
		{
			name: "failure during a block does not extend it",
			steps: concat(failures(9, ""), []limiterStep{
				{op: "failure", blocked: true},
				{op: "wait", wait: 20 * time.Minute},
				{op: "failure", blocked: true},
				{op: "wait", wait: 10 * time.Minute},
				{op: "check", wantDelay: 0},
			}),
		},
		{
			name: "failures forgotten after a quiet window",
			steps: concat(failures(5, ""), []limiterStep{
				{op: "check", wantDelay: 4 * time.Second},
				{op: "wait", wait: 10 * time.Minute},
				{op: "check", wantDelay: 0},
				{op: "failure"},
				{op: "check", wantDelay: 0},
			}),
		},
		{
			name: "each failure restarts the window",
			steps: []limiterStep{
				{op: "failure"}, {op: "wait", wait: 9 * time.Minute},
				{op: "failure"}, {op: "wait", wait: 9 * time.Minute},
				{op: "failure"}, {op: "wait", wait: 9 * time.Minute},
				{op: "failure"},
				{op: "check", wantDelay: 2 * time.Second},
			},
		},
		{
			name: "success resets failures",
			steps: concat(failures(5, ""), []limiterStep{
				{op: "success"},
				{op: "check", wantDelay: 0},
				{op: "failure"},
				{op: "check", wantDelay: 0},
			}),
		},
		{
			name: "success does not lift a block",
			steps: concat(failures(9, ""), []limiterStep{
				{op: "failure", blocked: true},
				{op: "success"},
				{op: "check", blocked: true},
			}),
		},
		{
			name: "IPv6 counted per /64",
			steps: concat(failures(2, v6a), failures(1, v6b), []limiterStep{
				{op: "check", ip: v6b, wantDelay: time.Second},
				{op: "check", ip: v6other, wantDelay: 0},
			}),
		},
		{
			name: "IPv4-mapped IPv6 is the IPv4 address",
			steps: concat(failures(2, v4), failures(1, v4mapped), []limiterStep{
				{op: "check", ip: v4, wantDelay: time.Second},
			}),
		},
		{
			name: "IPv4 counted per address",
			steps: concat(failures(5, "192.0.2.1"), []limiterStep{
				{op: "check", ip: "192.0.2.2", wantDelay: 0},
			}),
		},
		{
			name: "custom delays and block",
			cfg:  LimiterConfig{DelayAfter: 1, MaxDelay: 3 * time.Second, BlockAfter: 4, BlockFor: time.Minute},
			steps: []limiterStep{
				{op: "check", wantDelay: 0}, {op: "failure"},
				{op: "check", wantDelay: time.Second}, {op: "failure"},
				{op: "check", wantDelay: 2 * time.Second}, {op: "failure"},
				{op: "check", wantDelay: 3 * time.Second}, {op: "failure", blocked: true},
				{op: "wait", wait: time.Minute},
				{op: "check", wantDelay: 0},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
			cfg := tc.cfg
			cfg.Now = clock.Now
			l := NewLimiter(cfg)
			blockFor := cfg.BlockFor
			if blockFor == 0 {
				blockFor = DefaultLimiterBlockFor
			}
			var blockStart time.Time
			for i, st := range tc.steps {
				ip := netip.MustParseAddr(v4)
				if st.ip != "" {
					ip = netip.MustParseAddr(st.ip)
				}
				switch st.op {
				case "wait":
					clock.now = clock.now.Add(st.wait)
				case "success":
					l.Success(ip)
				case "failure":
					until := l.Failure(ip)
					if until.IsZero() == st.blocked {
						t.Fatalf("step %d: Failure(%s) = %v, want blocked %v", i, ip, until, st.blocked)
					}
					if st.blocked && blockStart.IsZero() {
						blockStart = clock.now
					}
					if st.blocked && !until.Equal(blockStart.Add(blockFor)) {
						t.Fatalf("step %d: blocked until %v, want %v (block start + BlockFor)", i, until, blockStart.Add(blockFor))
					}
				case "check":
					delay, until := l.Check(ip)
					if delay != st.wantDelay || until.IsZero() == st.blocked {
						t.Fatalf("step %d: Check(%s) = %v, %v; want %v, blocked %v", i, ip, delay, until, st.wantDelay, st.blocked)
					}
				default:
					t.Fatalf("step %d: unknown op %q", i, st.op)
				}
			}
		})
	}
}

func TestLimiterEntryBound(t *testing.T) {
	clock := &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := NewLimiter(LimiterConfig{MaxEntries: 3, DelayAfter: 1, Now: clock.Now})
	ip := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	delayed := func(s string) bool { d, _ := l.Check(ip(s)); return d > 0 }

	l.Failure(ip("192.0.2.1")) // will expire
	clock.now = clock.now.Add(5 * time.Minute)
	l.Failure(ip("192.0.2.2"))
	clock.now = clock.now.Add(time.Minute)
	l.Failure(ip("192.0.2.3"))
	clock.now = clock.now.Add(5 * time.Minute) // .1 is now 11 minutes quiet

	steps := []struct {
		name        string
		fail        string
		wantLen     int
		wantDelayed map[string]bool
	}{
		{
			name: "expired entry makes room first", fail: "192.0.2.4", wantLen: 3,
			wantDelayed: map[string]bool{"192.0.2.2": true, "192.0.2.3": true, "192.0.2.4": true},
		},
		{
			name: "then the least recently failed goes", fail: "192.0.2.5", wantLen: 3,
			wantDelayed: map[string]bool{"192.0.2.2": false, "192.0.2.3": true, "192.0.2.4": true, "192.0.2.5": true},
		},
		{
			name: "a repeat failure refreshes an entry", fail: "192.0.2.3", wantLen: 3,
			wantDelayed: map[string]bool{"192.0.2.3": true, "192.0.2.4": true, "192.0.2.5": true},
		},
		{
			name: "so the next eviction takes another", fail: "192.0.2.6", wantLen: 3,
			wantDelayed: map[string]bool{"192.0.2.3": true, "192.0.2.4": false, "192.0.2.5": true, "192.0.2.6": true},
		},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			l.Failure(ip(st.fail))
			if got := l.Len(); got != st.wantLen {
				t.Errorf("Len = %d, want %d", got, st.wantLen)
			}
			for addr, want := range st.wantDelayed {
				if got := delayed(addr); got != want {
					t.Errorf("%s delayed = %v, want %v", addr, got, want)
				}
			}
		})
	}
}

func TestLimiterCheckAddsNothing(t *testing.T) {
	l := NewLimiter(LimiterConfig{})
	for i := range 100 {
		l.Check(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}))
	}
	if got := l.Len(); got != 0 {
		t.Errorf("Len after 100 Checks = %d, want 0: only failures may take memory", got)
	}
}

// TestLimiterConcurrent is for -race.
func TestLimiterConcurrent(t *testing.T) {
	l := NewLimiter(LimiterConfig{MaxEntries: 50})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				ip := netip.AddrFrom4([4]byte{10, 0, byte(g), byte(i % 100)})
				l.Check(ip)
				l.Failure(ip)
				if i%7 == 0 {
					l.Success(ip)
				}
			}
		}()
	}
	wg.Wait()
	if got := l.Len(); got > 50 {
		t.Errorf("Len = %d, want at most MaxEntries 50", got)
	}
}
