package auth

import (
	"errors"
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
					if tk, _, err := l.Reserve(ip); err == nil {
						tk.Success()
					}
				case "failure":
					var until time.Time
					tk, _, err := l.Reserve(ip)
					var be *BlockedError
					switch {
					case errors.As(err, &be):
						until = be.Until // blocked: no password is checked
					case err != nil:
						t.Fatalf("step %d: Reserve(%s): %v", i, ip, err)
					default:
						until = tk.Failure()
					}
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
					delay, until := check(l, ip)
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

// check asks what a password check for ip would wait (or whether ip is
// blocked) and gives the slot back.
func check(l *Limiter, ip netip.Addr) (delay time.Duration, blockedUntil time.Time) {
	tk, delay, err := l.Reserve(ip)
	var be *BlockedError
	if errors.As(err, &be) {
		return 0, be.Until
	}
	if tk != nil {
		tk.Release()
	}
	return delay, time.Time{}
}

// fail records one failed check for ip.
func fail(l *Limiter, ip netip.Addr) {
	if tk, _, err := l.Reserve(ip); err == nil {
		tk.Failure()
	}
}

func TestLimiterEntryBound(t *testing.T) {
	clock := &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := NewLimiter(LimiterConfig{MaxEntries: 3, DelayAfter: 1, Now: clock.Now})
	ip := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	delayed := func(s string) bool { d, _ := check(l, ip(s)); return d > 0 }

	fail(l, ip("192.0.2.1")) // will expire
	clock.now = clock.now.Add(5 * time.Minute)
	fail(l, ip("192.0.2.2"))
	clock.now = clock.now.Add(time.Minute)
	fail(l, ip("192.0.2.3"))
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
			fail(l, ip(st.fail))
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
		check(l, netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}))
		if tk, _, err := l.Reserve(netip.AddrFrom4([4]byte{198, 51, 101, byte(i)})); err == nil {
			tk.Success()
		}
	}
	if got := l.Len(); got != 0 {
		t.Errorf("Len after 100 released and 100 successful checks = %d, want 0: only failures may take memory", got)
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
				check(l, ip)
				fail(l, ip)
				if tk, _, err := l.Reserve(ip); err == nil && i%7 == 0 {
					tk.Success()
				} else if err == nil {
					tk.Release()
				}
			}
		}()
	}
	wg.Wait()
	if got := l.Len(); got > 50 {
		t.Errorf("Len = %d, want at most MaxEntries 50", got)
	}
}

// However many goroutines try at once from one address, at most
// BlockAfter passwords are checked before the block; the rest are refused
// without a check (issue 12: checks were admitted at the AUTH command, so
// 45 parallel attempts had 44 passwords checked against a limit of 10).
func TestLimiterParallelChecksBounded(t *testing.T) {
	for _, tc := range []struct {
		name       string
		goroutines int
		blockAfter int
		correctAt  int // this attempt has the right password (-1: none)
	}{
		{name: "45 wrong against 10", goroutines: 45, blockAfter: 10, correctAt: -1},
		{name: "200 wrong against 3", goroutines: 200, blockAfter: 3, correctAt: -1},
		{name: "the right one among 60 against 5", goroutines: 60, blockAfter: 5, correctAt: 59},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := NewLimiter(LimiterConfig{DelayAfter: 1, BlockAfter: tc.blockAfter})
			ip := netip.MustParseAddr("192.0.2.7")
			var (
				mu      sync.Mutex
				checked int
				refused int
				start   = make(chan struct{})
				wg      sync.WaitGroup
				tried   sync.WaitGroup // every goroutine has called Reserve
			)
			tried.Add(tc.goroutines)
			for i := range tc.goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					tk, _, err := l.Reserve(ip) // the delay is the caller's to wait; not waited here
					tried.Done()
					if err != nil {
						if !errors.Is(err, ErrBusy) && !errors.As(err, new(*BlockedError)) {
							t.Errorf("Reserve: %v", err)
						}
						mu.Lock()
						refused++
						mu.Unlock()
						return
					}
					mu.Lock()
					checked++
					mu.Unlock()
					tried.Wait() // hold the slot until all have tried: the worst case
					if i == tc.correctAt {
						tk.Success()
					} else {
						tk.Failure()
					}
				}()
			}
			close(start)
			wg.Wait()
			if checked != tc.blockAfter {
				t.Errorf("%d passwords checked, want block_after %d (all slots held at once)", checked, tc.blockAfter)
			}
			if checked+refused != tc.goroutines {
				t.Errorf("checked %d + refused %d != %d attempts", checked, refused, tc.goroutines)
			}
			// Every admitted check was resolved: nothing stays reserved.
			if tk, _, err := l.Reserve(ip); err == nil {
				tk.Release()
				if tc.correctAt < 0 {
					t.Errorf("not blocked after %d failures", checked)
				}
			}
		})
	}
}

// A check in flight counts toward the delay and the block until its
// Ticket resolves; Release gives the slot back without counting.
func TestLimiterTickets(t *testing.T) {
	l := NewLimiter(LimiterConfig{DelayAfter: 1, MaxDelay: 8 * time.Second, BlockAfter: 3})
	ip := netip.MustParseAddr("192.0.2.8")
	var tks []Ticket
	for i, want := range []time.Duration{0, time.Second, 2 * time.Second} {
		tk, d, err := l.Reserve(ip)
		if err != nil || d != want {
			t.Fatalf("Reserve %d = %v, %v; want delay %v", i, d, err, want)
		}
		tks = append(tks, tk)
	}
	if _, _, err := l.Reserve(ip); !errors.Is(err, ErrBusy) {
		t.Fatalf("fourth Reserve with three in flight: %v, want ErrBusy", err)
	}
	tks[0].Release()
	tks[0].Failure() // a second resolution does nothing
	tk, d, err := l.Reserve(ip)
	if err != nil || d != 2*time.Second {
		t.Fatalf("Reserve after Release = %v, %v; want 2s", d, err)
	}
	tk.Failure()
	tks[1].Failure()
	if until := tks[2].Failure(); until.IsZero() {
		t.Fatal("third failure did not block")
	}
	var be *BlockedError
	if _, _, err := l.Reserve(ip); !errors.As(err, &be) || !be.Until.Equal(l.Blocked(ip)) {
		t.Fatalf("Reserve when blocked: %v (Blocked %v)", err, l.Blocked(ip))
	}
}
