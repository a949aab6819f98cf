package queue

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCrashKill9 proves durability across SIGKILL: a helper process
// (this test binary, TestCrashHelper) creates, writes, commits and
// updates the state of messages in a loop and prints each id after
// Commit returned; it is killed at random moments, 12 times. Every id
// reported committed must then be in the spool, whole (checksum and
// content hash), with a readable state; nothing may be quarantined, and
// Open must clear tmp/.
func TestCrashKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("subprocess crash test")
	}
	dir := filepath.Join(t.TempDir(), "spool")
	reported := map[string]string{} // id -> sha256 of the body
	const kills = 12
	for k := 0; k < kills; k++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
		cmd.Env = append(os.Environ(), "GATEWAY_QUEUE_CRASH_DIR="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1024)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		// Wait for the helper to commit something, then kill it at a
		// random moment.
		deadline := time.After(30 * time.Second)
		first := true
	wait:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					break wait // killed
				}
				record(t, reported, l)
				if first {
					first = false
					time.AfterFunc(time.Duration(5+rand.IntN(100))*time.Millisecond, func() { cmd.Process.Signal(syscall.SIGKILL) })
				}
			case <-deadline:
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatal("helper not done 30s after its start")
			}
		}
		if first {
			t.Fatal("helper exited before committing anything")
		}
		cmd.Wait()
	}
	if len(reported) < kills {
		t.Fatalf("only %d messages reported", len(reported))
	}

	q, err := Open(Options{Dir: dir, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Stop(t.Context())
	if ents, _ := os.ReadDir(filepath.Join(dir, tmpDir)); len(ents) != 0 {
		t.Errorf("tmp/ holds %d files after Open", len(ents))
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, quarantineDir)); len(ents) != 0 {
		t.Errorf("%d files quarantined after the kills", len(ents))
	}
	for id, sum := range reported {
		f, m, err := openMessage(dir, id)
		if err != nil {
			t.Errorf("committed message %s: %v", id, err)
			continue
		}
		if err := m.checkBody(f); err != nil {
			t.Errorf("committed message %s: %v", id, err)
		}
		h := sha256.New()
		io.Copy(h, io.NewSectionReader(f, m.bodyOff, m.size))
		if hex.EncodeToString(h.Sum(nil)) != sum {
			t.Errorf("committed message %s: content differs", id)
		}
		f.Close()
	}
	t.Logf("%d kills, %d messages reported committed, all intact; %d in the spool", kills, len(reported), q.Stats().Messages)
}

func record(t *testing.T, m map[string]string, line string) {
	id, sum, ok := strings.Cut(line, " ")
	if !ok || !validID(id) {
		return // not ours (test framework output)
	}
	m[id] = sum
}

// TestCrashHelper is the process TestCrashKill9 kills.
func TestCrashHelper(t *testing.T) {
	dir := os.Getenv("GATEWAY_QUEUE_CRASH_DIR")
	if dir == "" {
		t.Skip("helper process of TestCrashKill9")
	}
	q, err := Open(Options{Dir: dir, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for n := 0; n < 100000; n++ {
		w, err := q.Create(Envelope{From: "a@example.org", To: rcpts("b@example.com", "c@example.com")})
		if err != nil {
			os.Exit(1)
		}
		h := sha256.New()
		for i := 0; i < 100; i++ {
			line := fmt.Sprintf("message %d line %d %x\r\n", n, i, rand.Uint64())
			io.WriteString(w, line)
			io.WriteString(h, line)
		}
		id, err := w.Commit()
		if err != nil {
			os.Exit(1)
		}
		fmt.Fprintf(os.Stdout, "%s %s\n", id, hex.EncodeToString(h.Sum(nil)))
		if n%2 == 0 { // a bookkeeping update, as the runner does
			env := Envelope{ID: id, To: rcpts("b@example.com", "c@example.com")}
			env.To[0].Status, env.Attempts = StatusDelivered, 1
			writeState(&dirSyncer{dir: dir}, &env)
		}
	}
	os.Exit(0)
}
