package resolver

import (
	"context"
	"errors"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// ednsSize is the UDP payload size advertised in EDNS0 (RFC 6891 §6.2.5):
// 1232 bytes fits the IPv6 minimum MTU without fragmentation, the value
// agreed at DNS Flag Day 2020. Larger answers come back truncated and are
// asked again over TCP (RFC 7766 §5).
const ednsSize = 1232

// exchange asks the servers for k within ctx's deadline and returns what
// they said. Servers are tried in order, each attempt given an equal share
// of the remaining budget, so the whole lookup fits in Config.Timeout
// however many servers fail. A lone server gets two attempts, since a
// lost UDP datagram is the commonest failure and a retry is cheap. An
// answer (records, NXDOMAIN or NODATA, or records none of which is
// usable) ends the lookup; a timeout, network error, malformed response
// or error rcode moves on to the next attempt.
// A server that answered with an error rcode is not asked again: it
// answered, and a recursive server caches its failures (RFC 9520).
func (r *Resolver) exchange(ctx context.Context, k key) *result {
	q := new(dns.Msg)
	q.SetQuestion(k.name+".", k.qtype) // sets RD: the servers recurse for us
	q.SetEdns0(ednsSize, false)

	attempts := len(r.servers)
	if attempts == 1 {
		attempts = 2
	}
	answered := make([]bool, len(r.servers))
	deadline, _ := ctx.Deadline()
	var last *result
	for i := range attempts {
		idx := i % len(r.servers)
		if answered[idx] {
			continue
		}
		remaining := time.Until(deadline)
		if remaining <= 0 {
			break
		}
		res := r.attempt(ctx, q, r.servers[idx], remaining/time.Duration(attempts-i))
		switch res.kind {
		case kindAnswer, kindNotFound, kindMalformed:
			return res
		case kindServFail:
			answered[idx] = true
		}
		last = res
	}
	if last == nil {
		last = &result{kind: kindTimeout, detail: "i/o timeout", server: r.servers[0]}
	}
	return last
}

// attempt is one question to one server within budget: UDP first, then
// TCP on the same server if the UDP answer was truncated.
func (r *Resolver) attempt(ctx context.Context, q *dns.Msg, server string, budget time.Duration) *result {
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	// A fresh random ID per attempt, and a fresh socket (so a random
	// source port) per exchange, are the defences against spoofed answers
	// of RFC 5452 §9.2; miekg/dns draws the ID from crypto/rand and drops
	// replies whose ID differs.
	q.Id = dns.Id()
	resp, _, err := r.udp.ExchangeContext(ctx, q, server)
	if resp != nil && resp.Truncated {
		resp, _, err = r.tcp.ExchangeContext(ctx, q, server)
	}
	if err != nil {
		if isTimeout(err) {
			return &result{kind: kindTimeout, detail: "i/o timeout", server: server}
		}
		return &result{kind: kindError, detail: err.Error(), server: server}
	}
	if msg := validResponse(q, resp); msg != "" {
		return &result{kind: kindError, detail: msg, server: server}
	}
	return r.interpret(resp, server)
}

// validResponse checks that resp answers q (RFC 5452 §9.1: a response is
// accepted only if its question matches the one sent, compared
// case-insensitively) and returns what is wrong, or "".
func validResponse(q, resp *dns.Msg) string {
	switch {
	case resp == nil:
		return "empty response"
	case !resp.Response || resp.Opcode != dns.OpcodeQuery:
		return "malformed response: not a query response"
	case len(resp.Question) != 1:
		return "malformed response: question count"
	}
	want, got := q.Question[0], resp.Question[0]
	if got.Qtype != want.Qtype || got.Qclass != want.Qclass || !strings.EqualFold(got.Name, want.Name) {
		return "malformed response: question mismatch"
	}
	return ""
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}
