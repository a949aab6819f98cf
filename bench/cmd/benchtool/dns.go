package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/smtpgateway/gateway/internal/dnstest"
)

// runDNS serves the harness's zone on a loopback address until SIGTERM or
// -max passes: the HELO name of smtp-source resolves to 127.0.0.1 and back
// (so every DNS check passes), and -cold names cold-N.<domain> answer
// only after -cold-delay, for the "cold lookups do not serialize" check.
func runDNS(args []string) error {
	fs := flag.NewFlagSet("dns", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:0", "UDP and TCP address (loopback)")
	helo := fs.String("helo", "client.bench-lab.net", "name that resolves to -ip and back")
	ip := fs.String("ip", "127.0.0.1", "address of -helo (and its PTR)")
	cold := fs.Int("cold", 0, "number of delayed names cold-N.<domain of -helo>")
	coldDelay := fs.Duration("cold-delay", 200*time.Millisecond, "delay of each answer for a cold name")
	maxRun := fs.Duration("max", 15*time.Minute, "stop after this long whatever happens")
	fs.Parse(args)
	if !strings.HasPrefix(*addr, "127.") {
		return fmt.Errorf("-addr %s: loopback only", *addr)
	}
	s, err := dnstest.Listen(*addr)
	if err != nil {
		return err
	}
	defer s.Close()
	s.SetTTL(time.Hour)
	s.AddA(*helo, *ip)
	s.AddPTR(*ip, *helo)
	s.AddMX(*helo, 10, *helo)
	domain := (*helo)[strings.Index(*helo, ".")+1:]
	for i := range *cold {
		n := fmt.Sprintf("cold-%d.%s", i, domain)
		s.AddA(n, *ip)
		s.Delay(n, *coldDelay)
	}
	if err := s.Err(); err != nil {
		return err
	}
	fmt.Println("READY", s.Addr())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-sig:
	case <-time.After(*maxRun):
	}
	return nil
}
