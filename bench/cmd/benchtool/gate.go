package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

// runGate is a TCP forwarder on loopback that plays a downstream going
// away and coming back (bench/queue.sh): it forwards -listen to -to; on
// SIGUSR1 it closes its listener and every forwarded connection (the
// downstream is down: connections are refused), on SIGUSR2 it listens
// again. It prints READY, then DOWN or UP after each switch, and stops on
// SIGTERM or after -max. smtp-sink itself cannot be restarted on its port
// while the connections it closed sit in TIME_WAIT.
func runGate(args []string) error {
	fs := flag.NewFlagSet("gate", flag.ExitOnError)
	listen := fs.String("listen", "", "address to listen on (loopback)")
	to := fs.String("to", "", "address to forward to (loopback)")
	maxRun := fs.Duration("max", 20*time.Minute, "stop after this long whatever happens")
	fs.Parse(args)
	if !strings.HasPrefix(*listen, "127.") || !strings.HasPrefix(*to, "127.") {
		return fmt.Errorf("-listen %s -to %s: loopback only", *listen, *to)
	}
	g := &gate{to: *to, conns: map[net.Conn]bool{}}
	if err := g.up(*listen); err != nil {
		return err
	}
	fmt.Println("READY")
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGTERM, syscall.SIGINT)
	stop := time.After(*maxRun)
	for {
		select {
		case <-stop:
			g.down()
			return nil
		case s := <-sig:
			switch s {
			case syscall.SIGUSR1:
				g.down()
				fmt.Println("DOWN")
			case syscall.SIGUSR2:
				if err := g.up(*listen); err != nil {
					return err
				}
				fmt.Println("UP")
			default:
				g.down()
				return nil
			}
		}
	}
}

type gate struct {
	to    string
	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
}

func (g *gate) up(addr string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	g.ln = ln
	go g.accept(ln)
	return nil
}

// down closes the listener and every connection through it.
func (g *gate) down() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ln != nil {
		g.ln.Close()
		g.ln = nil
	}
	for c := range g.conns {
		c.Close()
		delete(g.conns, c)
	}
}

func (g *gate) track(c net.Conn) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ln == nil {
		return false
	}
	g.conns[c] = true
	return true
}

func (g *gate) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				fmt.Fprintln(os.Stderr, "gate: accept:", err)
			}
			return
		}
		go g.forward(c)
	}
}

func (g *gate) forward(c net.Conn) {
	d, err := net.DialTimeout("tcp", g.to, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	if !g.track(c) || !g.track(d) {
		c.Close()
		d.Close()
		return
	}
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		io.Copy(dst, src)
		dst.Close()
		src.Close()
		done <- struct{}{}
	}
	go cp(d, c)
	go cp(c, d)
	<-done
	<-done
	g.mu.Lock()
	delete(g.conns, c)
	delete(g.conns, d)
	g.mu.Unlock()
}
