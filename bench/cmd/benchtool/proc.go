package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const clkTck = 100 // USER_HZ on Linux

// stat is what /proc/PID/stat and status tell about one process.
type stat struct {
	sid                          int
	utime, stime, cutime, cstime int64 // clock ticks
	rssKB, hwmKB                 int64
	exists                       bool
}

func readStat(pid int) stat {
	var s stat
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s
	}
	// The command name is in parentheses and may hold spaces.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	// f[0] is field 3 (state); field N is f[N-3].
	num := func(field int) int64 { v, _ := strconv.ParseInt(f[field-3], 10, 64); return v }
	s.exists = true
	s.sid = int(num(6))
	s.utime, s.stime, s.cutime, s.cstime = num(14), num(15), num(16), num(17)
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, line := range strings.Split(string(st), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			switch k {
			case "VmRSS":
				s.rssKB = kb
			case "VmHWM":
				s.hwmKB = kb
			}
		}
	}
	return s
}

// sessionPIDs lists the processes of session sid (a Postfix master and
// the daemons it started all share master's session).
func sessionPIDs(sid int) []int {
	ents, _ := filepath.Glob("/proc/[0-9]*")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(filepath.Base(e))
		if err != nil {
			continue
		}
		if s := readStat(pid); s.exists && s.sid == sid {
			out = append(out, pid)
		}
	}
	return out
}

// pssKB is the proportional set size of pid (smaps_rollup): shared pages
// count once across processes, so a sum over Postfix's daemons is fair.
func pssKB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Pss:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb
		}
	}
	return 0
}

// procUsage sums RSS and CPU over a process or a session. CPU includes the
// children the leader has reaped (daemons that exited). For a session the
// RSS is the sum of PSS.
func procUsage(pid, sid int) (rssKB, hwmKB int64, cpuTicks int64) {
	pids := []int{pid}
	leader := pid
	if sid > 0 {
		pids, leader = sessionPIDs(sid), sid
	}
	for _, p := range pids {
		s := readStat(p)
		if sid > 0 {
			rssKB += pssKB(p)
		} else {
			rssKB += s.rssKB
		}
		hwmKB += s.hwmKB
		cpuTicks += s.utime + s.stime
		if p == leader {
			cpuTicks += s.cutime + s.cstime
		}
	}
	return
}

// runProc prints RSS, peak RSS and CPU seconds of -pid (or of session
// -sid); -reset-hwm first resets the peak (clear_refs 5).
func runProc(args []string) error {
	fs := flag.NewFlagSet("proc", flag.ExitOnError)
	pid := fs.Int("pid", 0, "process")
	sid := fs.Int("sid", 0, "session (sum over its processes)")
	reset := fs.Bool("reset-hwm", false, "reset VmHWM of -pid")
	fs.Parse(args)
	if *pid == 0 && *sid == 0 {
		return errors.New("-pid or -sid")
	}
	if *reset {
		if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", *pid), []byte("5"), 0); err != nil {
			return err
		}
	}
	rss, hwm, cpu := procUsage(*pid, *sid)
	fmt.Printf("rss_kb=%d hwm_kb=%d cpu_s=%.2f\n", rss, hwm, float64(cpu)/clkTck)
	return nil
}

// runSample samples the summed RSS of session -sid (or -pid) every
// -interval until SIGTERM or -max and prints the peak.
func runSample(args []string) error {
	fs := flag.NewFlagSet("sample", flag.ExitOnError)
	pid := fs.Int("pid", 0, "process")
	sid := fs.Int("sid", 0, "session")
	interval := fs.Duration("interval", 100*time.Millisecond, "")
	maxRun := fs.Duration("max", 5*time.Minute, "")
	out := fs.String("out", "", "write the result here (default stdout)")
	fs.Parse(args)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	t := time.NewTicker(*interval)
	defer t.Stop()
	end := time.After(*maxRun)
	var peak int64
loop:
	for {
		if rss, _, _ := procUsage(*pid, *sid); rss > peak {
			peak = rss
		}
		select {
		case <-t.C:
		case <-sig:
			break loop
		case <-end:
			break loop
		}
	}
	line := fmt.Sprintf("peak_rss_kb=%d\n", peak)
	if *out != "" {
		return os.WriteFile(*out, []byte(line), 0o644)
	}
	fmt.Print(line)
	return nil
}

// runMetrics prints the named samples of a Prometheus text endpoint.
func runMetrics(args []string) error {
	fs := flag.NewFlagSet("metrics", flag.ExitOnError)
	url := fs.String("url", "", "http://127.0.0.1:PORT/metrics")
	names := fs.String("names", "gateway_dns_queries_total,gateway_dns_cache_hits_total", "comma-separated")
	fs.Parse(args)
	if !strings.HasPrefix(*url, "http://127.") {
		return fmt.Errorf("-url %s: loopback only", *url)
	}
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(*url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	want := map[string]bool{}
	for _, n := range strings.Split(*names, ",") {
		want[n] = true
	}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 16<<20))
	var out []string
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if ok && want[name] {
			out = append(out, name+"="+val)
		}
	}
	fmt.Println(strings.Join(out, " "))
	return sc.Err()
}

// runSink prints smtp-sink's message count, read from the tail of the
// file its -c counter writes to ("... mesg=N\r"); with -wait N it polls
// until the count reaches N or -max passes.
func runSink(args []string) error {
	fs := flag.NewFlagSet("sink", flag.ExitOnError)
	file := fs.String("file", "", "smtp-sink -c output")
	wait := fs.Int64("wait", -1, "poll until the count reaches this")
	maxRun := fs.Duration("max", 120*time.Second, "")
	fs.Parse(args)
	deadline := time.Now().Add(*maxRun)
	for {
		n, err := sinkCount(*file)
		if err != nil {
			return err
		}
		if n >= *wait || time.Now().After(deadline) {
			fmt.Println(n)
			return nil
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func sinkCount(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	off := max(fi.Size()-256, 0)
	buf := make([]byte, 256)
	n, _ := f.ReadAt(buf, off)
	s := string(buf[:n])
	i := strings.LastIndex(s, "mesg=")
	if i < 0 {
		return 0, nil
	}
	s = s[i+5:]
	j := 0
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	if j == len(s) {
		// Cut off mid-number by a concurrent write: try the one before.
		if k := strings.LastIndex(string(buf[:n])[:i], "mesg="); k >= 0 {
			s = string(buf[:n])[k+5:]
			j = 0
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
		}
	}
	v, _ := strconv.ParseInt(s[:j], 10, 64)
	return v, nil
}
