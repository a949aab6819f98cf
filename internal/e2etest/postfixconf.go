package e2etest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// PostfixOptions configures a private Postfix instance. The zero value is a
// catch-all for example.com and example.org.
type PostfixOptions struct {
	// Domains are the domains whose mail is accepted and delivered to the
	// maildir (virtual_mailbox_domains). Default: example.com, example.org.
	// RCPT to any other domain is refused with "554 5.7.1 <addr>: Relay
	// access denied", even from 127.0.0.0/8.
	Domains []string

	// RejectRecipients maps an address to the full 5xx reply Postfix gives
	// at RCPT (check_recipient_access). Postfix always formats access-map
	// refusals as "CODE X.Y.Z <address>: Recipient address rejected: TEXT"
	// (smtpd_check.c), so the value must have exactly that form with the
	// key as address, e.g. "nobody@example.com": "550 5.1.1
	// <nobody@example.com>: Recipient address rejected: User unknown". The
	// reply is byte-exact when the client spells the address as the key.
	RejectRecipients map[string]string

	// TempRejectRecipients is like RejectRecipients with 4xx replies.
	TempRejectRecipients map[string]string

	// MessageSizeLimit is message_size_limit in bytes (0: Postfix's
	// default, 10240000). It is also announced as EHLO SIZE (RFC 1870).
	MessageSizeLimit int64

	// TLS offers STARTTLS (RFC 3207) with a fresh self-signed certificate
	// for Hostname.
	TLS bool

	// Hostname is myhostname: the greeting, the EHLO reply and the "by"
	// of the Received header Postfix adds. Default: mx.downstream.test.
	Hostname string

	// SMTPUTF8 sets smtputf8_enable (RFC 6531): "yes", "no", or "" for
	// Postfix's default (yes at the compatibility levels used here).
	SMTPUTF8 string

	// ExtraMainCF sets further main.cf parameters; it overrides the
	// harness's own settings, so use it with care.
	ExtraMainCF map[string]string
}

// DefaultPostfixHostname is the myhostname of an instance whose options
// leave Hostname empty.
const DefaultPostfixHostname = "mx.downstream.test"

// withDefaults fills the zero fields of o.
func (o PostfixOptions) withDefaults() PostfixOptions {
	if len(o.Domains) == 0 {
		o.Domains = []string{"example.com", "example.org"}
	}
	if o.Hostname == "" {
		o.Hostname = DefaultPostfixHostname
	}
	return o
}

// layout is where one instance keeps its files, all under root.
type layout struct {
	root      string
	conf      string // config_directory: main.cf, master.cf, tables, TLS
	queue     string // queue_directory
	data      string // data_directory
	mail      string // virtual_mailbox_base: one Maildir per domain
	maillog   string // maillog_file
	access    string // check_recipient_access table
	mailboxes string // virtual_mailbox_maps table
	tlsKey    string
	tlsCert   string
}

func newLayout(root string) layout {
	conf := filepath.Join(root, "etc")
	return layout{
		root:      root,
		conf:      conf,
		queue:     filepath.Join(root, "queue"),
		data:      filepath.Join(root, "data"),
		mail:      filepath.Join(root, "mail"),
		maillog:   filepath.Join(root, "maillog"),
		access:    filepath.Join(conf, "recipient_access"),
		mailboxes: filepath.Join(conf, "mailboxes"),
		tlsKey:    filepath.Join(conf, "tls.key"),
		tlsCert:   filepath.Join(conf, "tls.crt"),
	}
}

// ids are the numeric owner and group the instance runs with.
type ids struct {
	mailUID, mailGID int // mail_owner and its primary group
	setgidGID        int // setgid_group (postdrop)
}

// mailOwner and setgidGroup are Debian's defaults, set explicitly so that a
// machine whose /etc/postfix/main.cf says otherwise changes nothing here.
const (
	mailOwner   = "postfix"
	setgidGroup = "postdrop"
)

// mainCF returns main.cf for the instance, one "name = value" per line,
// sorted so that a failing test shows a stable file.
func mainCF(o PostfixOptions, l layout, id ids, compat string) (string, error) {
	for _, d := range o.Domains {
		if d == "" || strings.ContainsAny(d, " \t\r\n,") {
			return "", fmt.Errorf("domain %q: must be one non-empty word", d)
		}
	}
	if o.MessageSizeLimit < 0 {
		return "", fmt.Errorf("MessageSizeLimit %d: must not be negative", o.MessageSizeLimit)
	}
	p := map[string]string{
		"compatibility_level": compat,
		"queue_directory":     l.queue,
		"data_directory":      l.data,
		"mail_owner":          mailOwner,
		"setgid_group":        setgidGroup,
		"maillog_file":        l.maillog,
		// postlogd refuses files outside these prefixes.
		"maillog_file_prefixes": l.root,

		"myhostname":      o.Hostname,
		"inet_interfaces": "127.0.0.1",
		"inet_protocols":  "ipv4",
		"mynetworks":      "127.0.0.0/8",

		// Nothing is local, nothing leaves: the only delivery is virtual(8)
		// into the maildir; every other transport is error(8).
		"mydestination":        "",
		"local_recipient_maps": "",
		"alias_maps":           "",
		"alias_database":       "",
		"relayhost":            "",
		"relay_domains":        "",
		"local_transport":      "error:5.1.1 the e2e instance has no local mailboxes",
		"default_transport":    "error:5.7.1 the e2e instance relays nowhere",
		"relay_transport":      "error:5.7.1 the e2e instance relays nowhere",
		"notify_classes":       "",
		"biff":                 "no",

		// No permit_mynetworks: mail for foreign domains is refused at RCPT
		// instead of accepted and bounced.
		"smtpd_relay_restrictions":     "reject_unauth_destination",
		"smtpd_recipient_restrictions": "check_recipient_access texthash:" + l.access,

		// Keep what the gateway sent: no DNS for the client name (it is
		// "unknown", deterministic without a resolver), no header rewriting
		// or added Date/Message-ID/From for clients on our own address.
		"smtpd_peername_lookup":        "no",
		"local_header_rewrite_clients": "",
		"smtpd_error_sleep_time":       "0s",
		"in_flow_delay":                "0s",

		"virtual_mailbox_domains": strings.Join(o.Domains, " "),
		"virtual_mailbox_base":    l.mail,
		"virtual_mailbox_maps":    "texthash:" + l.mailboxes,
		"virtual_uid_maps":        fmt.Sprintf("static:%d", id.mailUID),
		"virtual_gid_maps":        fmt.Sprintf("static:%d", id.mailGID),
		"virtual_minimum_uid":     "1",
		// virtual(8) refuses to run with a mailbox limit below
		// message_size_limit; none is needed here.
		"virtual_mailbox_limit": "0",
		"mailbox_size_limit":    "0",
	}
	if o.MessageSizeLimit > 0 {
		p["message_size_limit"] = fmt.Sprint(o.MessageSizeLimit)
	}
	switch o.SMTPUTF8 {
	case "":
	case "yes", "no":
		p["smtputf8_enable"] = o.SMTPUTF8
	default:
		return "", fmt.Errorf("SMTPUTF8 %q: want \"yes\", \"no\" or \"\"", o.SMTPUTF8)
	}
	if o.TLS {
		p["smtpd_tls_security_level"] = "may"
		p["smtpd_tls_chain_files"] = l.tlsKey + ", " + l.tlsCert
		p["smtpd_tls_loglevel"] = "1"
	}
	for k, v := range o.ExtraMainCF {
		if !paramName.MatchString(k) {
			return "", fmt.Errorf("ExtraMainCF key %q: not a main.cf parameter name", k)
		}
		if strings.ContainsAny(v, "\r\n") {
			return "", fmt.Errorf("ExtraMainCF %s: value must be one line", k)
		}
		p[k] = v
	}
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("# Private e2e instance written by internal/e2etest.\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s = %s\n", k, p[k])
	}
	return b.String(), nil
}

var paramName = regexp.MustCompile(`^[A-Za-z0-9_]+$`)

// masterCF returns master.cf: smtpd on addr and the services a virtual(8)
// delivery needs, none chrooted (column 5 "n") so no copies of /etc files
// are needed. There is no pickup: nothing is submitted locally.
func masterCF(addr string) string {
	return "# service type private unpriv chroot wakeup maxproc command\n" +
		addr + " inet n - n - - smtpd\n" +
		`cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
tlsmgr unix - - n 1000? 1 tlsmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
proxywrite unix - - n - 1 proxymap
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
virtual unix - n n - - virtual
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
`
}

// mailboxTable returns the virtual_mailbox_maps table: "@domain" is the
// catch-all entry, and a right-hand side ending in "/" selects Maildir
// format (virtual(8)), so each domain has one Maildir and the recipient is
// read from the Delivered-To header.
func mailboxTable(domains []string) string {
	var b strings.Builder
	for _, d := range domains {
		fmt.Fprintf(&b, "@%s %s/\n", d, strings.ToLower(d))
	}
	return b.String()
}

// accessReply is the only reply form Postfix produces for an access-map
// refusal at RCPT.
var accessReply = regexp.MustCompile(`^([245][0-9][0-9]) ([245]\.[0-9]{1,3}\.[0-9]{1,3}) <([^<>]*)>: Recipient address rejected: (.+)$`)

// accessTable returns the check_recipient_access table for the full replies
// in reject (5xx) and temp (4xx), or every problem found.
func accessTable(reject, temp map[string]string) (string, error) {
	type entry struct{ key, action string }
	var entries []entry
	var errs []error
	add := func(field string, class byte, m map[string]string) {
		for addr, reply := range m {
			action, err := accessAction(addr, reply, class)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s[%q]: %w", field, addr, err))
				continue
			}
			entries = append(entries, entry{strings.ToLower(addr), action})
		}
	}
	add("RejectRecipients", '5', reject)
	add("TempRejectRecipients", '4', temp)
	for addr := range temp {
		if _, dup := reject[addr]; dup {
			errs = append(errs, fmt.Errorf("%q is in both RejectRecipients and TempRejectRecipients", addr))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return "", err
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].key < entries[j].key })
	var b strings.Builder
	for _, e := range entries {
		fmt.Fprintf(&b, "%s %s\n", e.key, e.action)
	}
	return b.String(), nil
}

// accessAction turns the reply wanted for addr into the access(5) action
// "CODE X.Y.Z TEXT" that makes Postfix send exactly that reply.
func accessAction(addr, reply string, class byte) (string, error) {
	if addr == "" || strings.ContainsAny(addr, " \t\r\n<>") {
		return "", errors.New("address must be one word without <>")
	}
	m := accessReply.FindStringSubmatch(reply)
	if m == nil {
		return "", fmt.Errorf("reply %q: want \"%c.. %c.X.Y <%s>: Recipient address rejected: TEXT\", the only form Postfix sends", reply, class, class, addr)
	}
	code, enhanced, inBrackets, text := m[1], m[2], m[3], m[4]
	if code[0] != class || enhanced[0] != class {
		return "", fmt.Errorf("reply %q: code and enhanced code must both be %cxx", reply, class)
	}
	if !strings.EqualFold(inBrackets, addr) {
		return "", fmt.Errorf("reply %q: names <%s>, Postfix will name <%s>", reply, inBrackets, addr)
	}
	return code + " " + enhanced + " " + text, nil
}

// selfSigned returns a PEM key and certificate for host, valid for a day,
// for the instance's STARTTLS.
func selfSigned(host string) (keyPEM, certPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: host},
		DNSNames:     []string{host},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return keyPEM, certPEM, nil
}
