package dnstest

import (
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// maxChain bounds CNAME chasing so that a loop a test builds on purpose
// ends; the client sees the partial chain.
const maxChain = 16

// serve answers one query.
func (s *Server) serve(w dns.ResponseWriter, req *dns.Msg) {
	if len(req.Question) != 1 || req.Opcode != dns.OpcodeQuery {
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeFormatError)
		w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := canonical(q.Name)
	_, overUDP := w.RemoteAddr().(*net.UDPAddr)

	s.mu.Lock()
	s.queries[question{name, q.Qtype}]++
	var f fault
	if p := s.faults[name]; p != nil {
		f = *p
	}
	s.mu.Unlock()

	if f.drop {
		return
	}
	if f.delay > 0 {
		t := time.NewTimer(f.delay)
		select {
		case <-t.C:
		case <-s.closing:
			t.Stop()
			return
		}
	}

	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	// Echo EDNS0 (RFC 6891 §6.1.1) and honour the client's buffer size.
	size := dns.MinMsgSize
	if opt := req.IsEdns0(); opt != nil {
		size = max(int(opt.UDPSize()), dns.MinMsgSize)
		m.SetEdns0(opt.UDPSize(), false)
	}
	switch {
	case f.rcode != dns.RcodeSuccess:
		m.Rcode = f.rcode
	case f.truncate && overUDP:
		m.Truncated = true
	default:
		s.answer(m, name, q.Qtype)
		if overUDP {
			m.Truncate(size)
		}
	}
	w.WriteMsg(m)
}

// answer fills m for (name, qtype) from the zone, following CNAMEs.
func (s *Server) answer(m *dns.Msg, name string, qtype uint16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ttl := uint32(s.ttl / time.Second)
	hdr := func(owner string, t uint16) dns.RR_Header {
		return dns.RR_Header{Name: owner, Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
	}
	cur := name
	for range maxChain {
		n := s.names[cur]
		if n == nil {
			// RFC 6604 §2.1: the rcode speaks of the last name in the chain.
			m.Rcode = dns.RcodeNameError
			m.Ns = []dns.RR{s.soa(parent(cur), ttl)}
			return
		}
		if n.cname != "" && qtype != dns.TypeCNAME {
			m.Answer = append(m.Answer, &dns.CNAME{Hdr: hdr(cur, dns.TypeCNAME), Target: n.cname})
			cur = canonical(n.cname)
			continue
		}
		before := len(m.Answer)
		switch qtype {
		case dns.TypeA:
			for _, a := range n.v4 {
				m.Answer = append(m.Answer, &dns.A{Hdr: hdr(cur, qtype), A: a.AsSlice()})
			}
		case dns.TypeAAAA:
			for _, a := range n.v6 {
				m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr(cur, qtype), AAAA: a.AsSlice()})
			}
		case dns.TypePTR:
			for _, p := range n.ptr {
				m.Answer = append(m.Answer, &dns.PTR{Hdr: hdr(cur, qtype), Ptr: p})
			}
		case dns.TypeMX:
			for _, mx := range n.mx {
				m.Answer = append(m.Answer, &dns.MX{Hdr: hdr(cur, qtype), Preference: mx.pref, Mx: mx.host})
			}
		case dns.TypeCNAME:
			if n.cname != "" {
				m.Answer = append(m.Answer, &dns.CNAME{Hdr: hdr(cur, qtype), Target: n.cname})
			}
		}
		if len(m.Answer) == before {
			// NODATA (RFC 2308 §2.2): the name exists, the type does not.
			m.Ns = []dns.RR{s.soa(cur, ttl)}
		}
		return
	}
}

// soa is the SOA sent with negative answers; RFC 2308 §5 has resolvers
// cache them for min(TTL, MINIMUM), both set to the server's TTL.
func (s *Server) soa(zone string, ttl uint32) dns.RR {
	return &dns.SOA{
		Hdr:     dns.RR_Header{Name: zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: ttl},
		Ns:      "ns.dnstest.",
		Mbox:    "hostmaster.dnstest.",
		Serial:  1,
		Refresh: 3600,
		Retry:   600,
		Expire:  86400,
		Minttl:  ttl,
	}
}

// parent is the zone a missing name is reported under: its parent, or the
// root.
func parent(name string) string {
	if i := strings.IndexByte(name, '.'); i >= 0 && i+1 < len(name) {
		return name[i+1:]
	}
	return "."
}
