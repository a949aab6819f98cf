package dnstest

import (
	"net/netip"
	"time"

	"github.com/miekg/dns"
)

// node returns the data of name, creating it; s.mu must be held.
func (s *Server) node(name string) *node {
	n := s.names[name]
	if n == nil {
		n = &node{}
		s.names[name] = n
	}
	return n
}

// fault returns the faults of name, creating them; s.mu must be held.
func (s *Server) fault(name string) *fault {
	f := s.faults[name]
	if f == nil {
		f = &fault{}
		s.faults[name] = f
	}
	return f
}

// AddA adds addresses to name: A records for IPv4, AAAA for IPv6.
func (s *Server) AddA(name string, ips ...string) {
	if !validName(name) {
		s.bad("AddA: invalid name %q", name)
		return
	}
	addrs := make([]netip.Addr, 0, len(ips))
	for _, ip := range ips {
		a, err := netip.ParseAddr(ip)
		if err != nil {
			s.bad("AddA(%q): invalid address %q", name, ip)
			return
		}
		addrs = append(addrs, a.Unmap())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.node(canonical(name))
	for _, a := range addrs {
		if a.Is4() {
			n.v4 = append(n.v4, a)
		} else {
			n.v6 = append(n.v6, a)
		}
	}
}

// AddPTR adds PTR records for ip, in in-addr.arpa or ip6.arpa by its
// family (RFC 1035 §3.5, RFC 3596 §2.5).
func (s *Server) AddPTR(ip string, names ...string) {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		s.bad("AddPTR: invalid address %q", ip)
		return
	}
	arpa, err := dns.ReverseAddr(a.Unmap().WithZone("").String())
	if err != nil {
		s.bad("AddPTR: %q: %v", ip, err)
		return
	}
	for _, name := range names {
		if !validName(name) {
			s.bad("AddPTR(%q): invalid name %q", ip, name)
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.node(arpa)
	for _, name := range names {
		n.ptr = append(n.ptr, dns.Fqdn(name))
	}
}

// AddMX adds an MX record to name. A host of "." is a null MX (RFC 7505).
func (s *Server) AddMX(name string, pref uint16, host string) {
	if !validName(name) || host != "." && !validName(host) {
		s.bad("AddMX(%q, %d, %q): invalid name", name, pref, host)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.node(canonical(name))
	n.mx = append(n.mx, mxData{pref: pref, host: dns.Fqdn(host)})
}

// AddCNAME makes name an alias of target, replacing any earlier alias. As
// RFC 1034 §3.6.2 asks, the alias hides the other data of name.
func (s *Server) AddCNAME(name, target string) {
	if !validName(name) || !validName(target) {
		s.bad("AddCNAME(%q, %q): invalid name", name, target)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.node(canonical(name)).cname = dns.Fqdn(target)
}

// Fail answers every query for name, of any type, with rcode (e.g.
// dns.RcodeServerFailure or dns.RcodeRefused); dns.RcodeSuccess restores
// normal answers.
func (s *Server) Fail(name string, rcode int) {
	if rcode < 0 || rcode > 0xfff {
		s.bad("Fail(%q): invalid rcode %d", name, rcode)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault(canonical(name)).rcode = rcode
}

// Delay holds each answer for name by d; 0 restores prompt answers. Close
// releases held answers early.
func (s *Server) Delay(name string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault(canonical(name)).delay = max(d, 0)
}

// Drop makes the server ignore every query for name, over UDP and TCP, as
// a dead or filtered server would.
func (s *Server) Drop(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault(canonical(name)).drop = true
}

// Truncate makes UDP answers for name carry no records and the TC bit
// (RFC 1035 §4.1.1), so the client must ask again over TCP, where the full
// answer is given (RFC 7766 §5).
func (s *Server) Truncate(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault(canonical(name)).truncate = true
}
