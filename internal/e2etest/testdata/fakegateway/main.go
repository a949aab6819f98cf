// Command fakegateway stands in for the gateway binary in the harness's own
// tests: it follows the same process contract (serve -config FILE, logs to
// stderr, exit 0 on SIGTERM) and can be told to break it. Its config file
// has lines `key = "value"`:
//
//	listen = "127.0.0.1:PORT"   address to accept (and close) connections on
//	log = "text"                a line to print once listening
//	on_sigterm = "exit0" | "exit3" | "ignore"
//	exit_after = "1"            exit 1 this many seconds after start
package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: fakegateway serve -config FILE | version | echo-stdin")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "version":
		fmt.Println("fakegateway 1.0")
	case "echo-stdin":
		b, _ := io.ReadAll(os.Stdin)
		fmt.Printf("stdin=%q\n", b)
		fmt.Fprintln(os.Stderr, "echoed")
		os.Exit(4)
	case "serve":
		if len(os.Args) != 4 || os.Args[2] != "-config" {
			fmt.Fprintln(os.Stderr, "usage: fakegateway serve -config FILE")
			os.Exit(2)
		}
		os.Exit(serve(os.Args[3]))
	default:
		fmt.Fprintf(os.Stderr, "unknown verb %q\n", os.Args[1])
		os.Exit(2)
	}
}

func serve(path string) int {
	conf, err := readConfig(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	ln, err := net.Listen("tcp", conf["listen"])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	fmt.Fprintf(os.Stderr, "level=INFO msg=listening addr=%s\n", ln.Addr())
	if l := conf["log"]; l != "" {
		fmt.Fprintln(os.Stderr, l)
	}
	var exitAfter <-chan time.Time
	if s, err := strconv.Atoi(conf["exit_after"]); err == nil {
		exitAfter = time.After(time.Duration(s) * time.Second)
	}
	for {
		select {
		case <-exitAfter:
			fmt.Fprintln(os.Stderr, "level=ERROR msg=crash")
			return 1
		case <-sigs:
			switch conf["on_sigterm"] {
			case "ignore":
				fmt.Fprintln(os.Stderr, "level=INFO msg=ignoring SIGTERM")
				continue
			case "exit3":
				return 3
			}
			fmt.Fprintln(os.Stderr, "level=INFO msg=stopped")
			return 0
		}
	}
}

func readConfig(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	conf := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		conf[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"`)
	}
	return conf, sc.Err()
}
