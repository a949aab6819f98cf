package e2etest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// tail returns the last n lines of s, for failure messages that must stay
// readable.
func tail(s string, n int) string {
	lines := strings.SplitAfter(s, "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "")
}

// sessionMembers returns the PIDs of live (not zombie) processes whose
// session ID is sid. master(8) calls setsid(), so every Postfix daemon it
// forks carries the master's PID as session ID even after the master is
// gone and they are re-parented to init.
func sessionMembers(sid int) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readStat(pid)
		if err != nil {
			continue // gone meanwhile
		}
		if st.session == sid && st.state != "Z" && st.state != "X" {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// procStat is the part of /proc/PID/stat the harness needs (proc(5)).
type procStat struct {
	state   string
	session int
}

// readStat parses /proc/PID/stat. The command name is in parentheses and may
// contain spaces or parentheses itself, so fields are counted from the last
// ')'.
func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return procStat{}, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, errors.New("malformed stat")
	}
	// After ")": state ppid pgrp session ...
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 4 {
		return procStat{}, errors.New("short stat")
	}
	sid, err := strconv.Atoi(f[3])
	if err != nil {
		return procStat{}, err
	}
	return procStat{state: f[0], session: sid}, nil
}

// reapSession waits up to grace for the processes of session sid to exit,
// then sends SIGKILL to each survivor by PID and waits up to grace again.
// It returns an error naming any that still live.
func reapSession(sid int, grace time.Duration) error {
	if waitSessionEmpty(sid, grace) {
		return nil
	}
	pids, err := sessionMembers(sid)
	if err != nil {
		return err
	}
	for _, pid := range pids {
		// Re-check right before the kill so a reused PID is left alone.
		if st, err := readStat(pid); err == nil && st.session == sid {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if waitSessionEmpty(sid, grace) {
		return nil
	}
	pids, _ = sessionMembers(sid)
	return fmt.Errorf("processes of session %d still alive after SIGKILL: %v", sid, pids)
}

// waitSessionEmpty polls until session sid has no live process or grace
// has passed.
func waitSessionEmpty(sid int, grace time.Duration) bool {
	deadline := time.Now().Add(grace)
	for {
		pids, err := sessionMembers(sid)
		if err == nil && len(pids) == 0 {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}
