package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// client is a minimal SMTP client: one command, one (multi-line) reply.
type client struct {
	c net.Conn
	r *bufio.Reader
	w *bufio.Writer
}

func dial(laddr, raddr string, timeout time.Duration) (*client, error) {
	d := net.Dialer{Timeout: timeout}
	if laddr != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(laddr)}
	}
	c, err := d.Dial("tcp", raddr)
	if err != nil {
		return nil, err
	}
	return &client{c: c, r: bufio.NewReaderSize(c, 4096), w: bufio.NewWriterSize(c, 32<<10)}, nil
}

// reply reads one reply and checks its code class.
func (c *client) reply(want byte) (string, error) {
	var last string
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return last, err
		}
		last = strings.TrimRight(line, "\r\n")
		if len(last) < 4 || last[3] != '-' {
			break
		}
	}
	if len(last) < 3 || last[0] != want {
		return last, fmt.Errorf("unexpected reply %q", last)
	}
	return last, nil
}

func (c *client) cmd(line string, want byte) error {
	c.w.WriteString(line)
	c.w.WriteString("\r\n")
	if err := c.w.Flush(); err != nil {
		return err
	}
	_, err := c.reply(want)
	return err
}

// transaction sends one message over an open session.
func (c *client) transaction(from, to string, body []byte) error {
	if err := c.cmd("MAIL FROM:<"+from+">", '2'); err != nil {
		return err
	}
	if err := c.cmd("RCPT TO:<"+to+">", '2'); err != nil {
		return err
	}
	if err := c.cmd("DATA", '3'); err != nil {
		return err
	}
	c.w.Write(body)
	c.w.WriteString(".\r\n")
	if err := c.w.Flush(); err != nil {
		return err
	}
	_, err := c.reply('2')
	return err
}

func (c *client) greet(helo string) error {
	if _, err := c.reply('2'); err != nil {
		return err
	}
	return c.cmd("EHLO "+helo, '2')
}

// message returns a message of size bytes with CRLF lines, like
// smtp-source's: a few headers and "La la la" lines.
func message(size int) []byte {
	var b bytes.Buffer
	b.WriteString("From: <sender@bench-lab.net>\r\nTo: <rcpt@example.com>\r\nSubject: bench\r\n\r\n")
	line := "La de da de da 1 La de da de da 2 La de da de da 3 La de da de da 4\r\n"
	for b.Len() < size {
		b.WriteString(line)
	}
	out := b.Bytes()[:size-2]
	return append(out, '\r', '\n')
}

// runLatency sends -n messages one after another, each in its own session
// (as smtp-source does), and prints the p50/p99 of connect to the reply
// after the final dot.
func runLatency(args []string) error {
	fs := flag.NewFlagSet("latency", flag.ExitOnError)
	addr := fs.String("addr", "", "SMTP server")
	n := fs.Int("n", 300, "messages")
	size := fs.Int("size", 10<<10, "message size")
	helo := fs.String("helo", "client.bench-lab.net", "EHLO name")
	from := fs.String("from", "sender@bench-lab.net", "")
	to := fs.String("to", "rcpt@example.com", "")
	maxRun := fs.Duration("max", 60*time.Second, "stop after this long")
	fs.Parse(args)
	body := message(*size)
	deadline := time.Now().Add(*maxRun)
	var lat []time.Duration
	for i := 0; i < *n && time.Now().Before(deadline); i++ {
		start := time.Now()
		c, err := dial("", *addr, 5*time.Second)
		if err != nil {
			return err
		}
		c.c.SetDeadline(time.Now().Add(30 * time.Second))
		if err := c.greet(*helo); err != nil {
			return err
		}
		if err := c.transaction(*from, *to, body); err != nil {
			return err
		}
		lat = append(lat, time.Since(start))
		c.cmd("QUIT", '2')
		c.c.Close()
	}
	if len(lat) == 0 {
		return errors.New("no message sent")
	}
	slices.Sort(lat)
	p := func(q float64) float64 {
		return float64(lat[min(len(lat)-1, int(q*float64(len(lat))))].Microseconds()) / 1000
	}
	fmt.Printf("n=%d p50_ms=%.3f p99_ms=%.3f\n", len(lat), p(0.50), p(0.99))
	return nil
}

// runIdle opens -n sessions spread over source addresses 127.0.X.Y, each
// greeted and EHLO'd, prints "READY n", holds them until SIGTERM or -hold,
// then closes them.
func runIdle(args []string) error {
	fs := flag.NewFlagSet("idle", flag.ExitOnError)
	addr := fs.String("addr", "", "SMTP server")
	n := fs.Int("n", 10000, "connections")
	perIP := fs.Int("per-ip", 100, "connections per source address")
	helo := fs.String("helo", "client.bench-lab.net", "EHLO name")
	workers := fs.Int("workers", 32, "parallel dialers")
	hold := fs.Duration("hold", 120*time.Second, "hold the sessions at most this long")
	fs.Parse(args)
	conns := make([]*client, *n)
	var next, failed atomic.Int64
	var firstErr atomic.Value
	start := time.Now()
	var wg sync.WaitGroup
	for range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= *n {
					return
				}
				k := i / *perIP // source address index, from 127.0.1.1
				src := fmt.Sprintf("127.0.%d.%d", 1+k/250, 1+k%250)
				c, err := dial(src, *addr, 5*time.Second)
				if err == nil {
					c.c.SetDeadline(time.Now().Add(10 * time.Second))
					err = c.greet(*helo)
					c.c.SetDeadline(time.Time{})
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					if c != nil {
						c.c.Close()
					}
					continue
				}
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	open := *n - int(failed.Load())
	msg := ""
	if e := firstErr.Load(); e != nil {
		msg = " first_error=" + strconv.Quote(e.(string))
	}
	fmt.Printf("READY open=%d failed=%d seconds=%.2f%s\n", open, failed.Load(), time.Since(start).Seconds(), msg)
	os.Stdout.Sync()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-sig:
	case <-time.After(*hold):
	}
	// Count the sessions still open (the server may have cut some).
	alive := 0
	for _, c := range conns {
		if c == nil {
			continue
		}
		c.c.SetDeadline(time.Now().Add(2 * time.Second))
		if c.cmd("NOOP", '2') == nil {
			alive++
		}
		c.c.Close()
	}
	fmt.Printf("CLOSED alive_at_end=%d\n", alive)
	return nil
}

// runCold starts -n sessions at once, each with its own HELO name
// cold-I.<domain> whose DNS answers the loopback server delays, and sends
// one message in each. If cold lookups serialized sessions the wall time
// would be about n × the delay; it should be about one delay.
func runCold(args []string) error {
	fs := flag.NewFlagSet("cold", flag.ExitOnError)
	addr := fs.String("addr", "", "SMTP server")
	n := fs.Int("n", 50, "sessions")
	domain := fs.String("domain", "bench-lab.net", "")
	size := fs.Int("size", 10<<10, "message size")
	fs.Parse(args)
	body := message(*size)
	start := time.Now()
	var wg sync.WaitGroup
	var failed atomic.Int64
	var errMsg atomic.Value
	for i := range *n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := dial("", *addr, 5*time.Second)
			if err == nil {
				c.c.SetDeadline(time.Now().Add(30 * time.Second))
				defer c.c.Close()
				err = c.greet(fmt.Sprintf("cold-%d.%s", i, *domain))
				if err == nil {
					err = c.transaction("sender@"+*domain, "rcpt@example.com", body)
				}
				c.cmd("QUIT", '2')
			}
			if err != nil {
				failed.Add(1)
				errMsg.CompareAndSwap(nil, err.Error())
			}
		}()
	}
	wg.Wait()
	e, _ := errMsg.Load().(string)
	fmt.Printf("sessions=%d failed=%d wall_ms=%.1f err=%q\n", *n, failed.Load(), float64(time.Since(start).Microseconds())/1000, e)
	return nil
}
