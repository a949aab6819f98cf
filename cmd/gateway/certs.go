package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"sync/atomic"
	"time"

	"github.com/smtpgateway/gateway/config"
)

// certs holds the listeners' certificate. A reload swaps it; handshakes in
// progress keep the one they started with.
type certs struct {
	cert       atomic.Pointer[tls.Certificate]
	minVersion uint16
	ciphers    []uint16 // TLS 1.2 suites; nil: Go's defaults ([tls] legacy_ciphers)
	selfSigned bool
}

// aeadCiphers are the TLS 1.2 suites offered by default: Mozilla's
// "intermediate" profile as far as Go implements it (ECDHE key exchange,
// AES-GCM or ChaCha20-Poly1305; Go has no DHE). Go's own defaults add the
// CBC suites with HMAC-SHA1 (ECDHE-RSA-AES128-SHA, ...), which only
// clients from before TLS 1.2 need. TLS 1.3 suites are not configurable
// and all AEAD.
var aeadCiphers = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// loadCerts loads [tls] cert_file/key_file, or makes an in-memory
// self-signed certificate for hostname when a listener needs TLS and none
// is configured (labs and the embedded default). It returns nil when no
// listener needs TLS and none is configured: then mx listeners do not
// offer STARTTLS.
func loadCerts(cfg *config.Config) (*certs, []string, error) {
	c := &certs{minVersion: tls.VersionTLS12, ciphers: aeadCiphers}
	if cfg.TLS.LegacyCiphers {
		c.ciphers = nil
	}
	if cfg.TLS.MinVersion == "1.3" {
		c.minVersion = tls.VersionTLS13
	}
	if cfg.TLS.CertFile != "" {
		pair, err := tls.LoadX509KeyPair(cfg.TLS.CertFile, cfg.TLS.KeyFile)
		if err != nil {
			return nil, nil, fmt.Errorf("tls: loading cert_file %q and key_file %q: %w", cfg.TLS.CertFile, cfg.TLS.KeyFile, err)
		}
		c.cert.Store(&pair)
		return c, nil, nil
	}
	needed := false
	for _, l := range cfg.Listeners {
		needed = needed || l.Kind != config.KindMX
	}
	if !needed {
		return nil, nil, nil
	}
	pair, err := selfSigned(cfg.Hostname)
	if err != nil {
		return nil, nil, fmt.Errorf("tls: generating a self-signed certificate: %w", err)
	}
	c.cert.Store(pair)
	c.selfSigned = true
	return c, []string{fmt.Sprintf("tls: no cert_file configured; submission listeners use an in-memory SELF-SIGNED certificate for %q that clients will not trust. Configure [tls] cert_file and key_file for production.", cfg.Hostname)}, nil
}

// tlsConfig returns the server configuration; GetCertificate reads the
// current certificate at each handshake so that SIGHUP reloads apply.
func (c *certs) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion:   c.minVersion,
		CipherSuites: c.ciphers,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return c.cert.Load(), nil
		},
	}
}

func selfSigned(host string) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: host, Organization: []string{"gateway self-signed (lab)"}},
		DNSNames:     []string{host},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
