package e2e

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/smtp"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/smtpgateway/gateway/internal/e2etest"
)

// sendViaQueue sends one message through the gateway with Go's SMTP client and
// reports whether the end of DATA got 250.
func sendViaQueue(addr, subject string) bool {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(15 * time.Second))
	cl, err := smtp.NewClient(c, gwHost)
	if err != nil {
		return false
	}
	if cl.Hello(clientHELO) != nil || cl.Mail(sender) != nil || cl.Rcpt("kill@example.com") != nil {
		return false
	}
	w, err := cl.Data()
	if err != nil {
		return false
	}
	if _, err := fmt.Fprintf(w, "Subject: %s\r\n\r\nkill -9 test body\r\n", subject); err != nil {
		return false
	}
	if w.Close() != nil { // the reply to the final dot
		return false
	}
	_ = cl.Quit()
	return true
}

var killSubject = regexp.MustCompile(`(?m)^Subject: (kill-\d+)\r?$`)

// TestQueueKill9: queue mode, clients sending all the time, the gateway
// SIGKILLed at random moments (at least 10 times) and restarted on the
// same spool: every message that got 250 is delivered at least once;
// duplicates (the documented window) are counted and reported. Bounded to
// about two minutes of sending.
func TestQueueKill9(t *testing.T) {
	const (
		wantAcked = 200
		wantKills = 10
		clients   = 4
		budget    = 2 * time.Minute
	)
	o := queueOpts(t, "queue")
	e := setup(t, &e2etest.PostfixOptions{}, o)
	cfg, err := os.ReadFile(e.gw.ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	toml := string(cfg)

	var (
		mu    sync.Mutex
		acked = map[string]bool{}
		next  atomic.Int64
		stop  atomic.Bool
		wg    sync.WaitGroup
	)
	deadline := time.Now().Add(budget)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() && time.Now().Before(deadline) {
				subj := fmt.Sprintf("kill-%d", next.Add(1))
				// retry the same message until it is acknowledged (a
				// lost acknowledgement makes a duplicate, never a loss)
				for try := 0; try < 50 && !stop.Load() && time.Now().Before(deadline); try++ {
					if sendViaQueue(e.mx, subj) {
						mu.Lock()
						acked[subj] = true
						mu.Unlock()
						break
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	kills := 0
	gw := e.gw
	for time.Now().Before(deadline) && (kills < wantKills || count() < wantAcked) {
		time.Sleep(time.Duration(200+rand.IntN(800)) * time.Millisecond)
		if err := gw.Signal(syscall.SIGKILL); err != nil {
			t.Fatalf("kill: %v", err)
		}
		if _, err := gw.Wait(10 * time.Second); err == nil || !strings.Contains(err.Error(), "killed by signal") {
			t.Fatalf("wait after kill -9: %v, want killed by signal", err)
		}
		kills++
		gw = e2etest.StartGateway(t, toml, e.mx)
	}
	stop.Store(true)
	wg.Wait()
	n := count()
	if kills < wantKills || n < wantAcked {
		t.Fatalf("in %v: %d kills, %d messages acknowledged; want at least %d and %d", budget, kills, n, wantKills, wantAcked)
	}

	// Every acknowledged message arrives (the last gateway delivers what
	// the spool holds); bounded wait.
	seen := map[string]int{}
	end := time.Now().Add(90 * time.Second)
	for {
		clear(seen)
		for _, m := range e.postfix.Messages(t) {
			if s := killSubject.FindSubmatch(m.Raw); s != nil {
				seen[string(s[1])]++
			}
		}
		missing := 0
		mu.Lock()
		for s := range acked {
			if seen[s] == 0 {
				missing++
			}
		}
		mu.Unlock()
		if missing == 0 {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("%d of %d acknowledged messages never delivered (%d kills)", missing, n, kills)
		}
		time.Sleep(500 * time.Millisecond)
	}
	dups, unacked := 0, 0
	for s, c := range seen {
		dups += c - 1
		if !acked[s] {
			unacked++
		}
	}
	t.Logf("kill -9: %d kills, %d messages acknowledged, all delivered; %d duplicate deliveries, %d delivered without an acknowledgement (the client's connection died after the commit)", kills, n, dups, unacked)
}
