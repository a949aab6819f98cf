package e2e

// TLS server settings through the real
// binary. Setup: a gateway whose mx listener offers STARTTLS with an RSA
// certificate from files. Proof: which TLS 1.2 cipher suites a client
// can get (a Go client offering exactly one suite, and openssl s_client
// when it is installed).

import (
	"bufio"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtpgateway/gateway/internal/e2etest"
)

// writeRSACert writes an RSA certificate for gwHost and its key (mode
// keyMode) into dir and returns their paths: ECDHE-RSA suites need an RSA
// key.
func writeRSACert(t *testing.T, dir string, keyMode os.FileMode) (certFile, keyFile string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: gwHost},
		DNSNames:     []string{gwHost},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if err := os.WriteFile(keyFile, keyPEM, keyMode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(keyFile, keyMode); err != nil { // past the umask
		t.Fatal(err)
	}
	return certFile, keyFile
}

// startTLS12 speaks SMTP up to STARTTLS on addr and tries a TLS 1.2
// handshake offering only suite; it returns the suite agreed or the error.
func startTLS12(addr string, suite uint16) (uint16, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	reply := func() (string, error) {
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return "", err
			}
			if len(line) < 4 || line[3] != '-' {
				return line, nil
			}
		}
	}
	if _, err := reply(); err != nil {
		return 0, err
	}
	for _, cmd := range []string{"EHLO laptop.example.net", "STARTTLS"} {
		fmt.Fprintf(conn, "%s\r\n", cmd)
		if _, err := reply(); err != nil {
			return 0, err
		}
	}
	tc := tls.Client(conn, &tls.Config{
		InsecureSkipVerify: true, //nolint:gosec // test client, test certificate
		MinVersion:         tls.VersionTLS12,
		MaxVersion:         tls.VersionTLS12,
		CipherSuites:       []uint16{suite},
	})
	if err := tc.Handshake(); err != nil {
		return 0, err
	}
	return tc.ConnectionState().CipherSuite, nil
}

// TLS 1.2 offers AEAD suites only unless [tls] legacy_ciphers = true
// (issue 12: Go's defaults let ECDHE-RSA-AES128-SHA, CBC with HMAC-SHA1,
// through).
func TestTLSCipherSuites(t *testing.T) {
	const (
		cbc  = tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA
		gcm  = tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
		chac = tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
	)
	for _, tc := range []struct {
		name   string
		legacy bool
	}{{"default", false}, {"legacy_ciphers", true}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			certFile, keyFile := writeRSACert(t, dir, 0o600)
			extra := fmt.Sprintf("[tls]\ncert_file = %q\nkey_file = %q\n", certFile, keyFile)
			if tc.legacy {
				extra += "legacy_ciphers = true\n"
			}
			// With a certificate, the mx listener offers STARTTLS.
			sub := setup(t, &e2etest.PostfixOptions{Domains: []string{"example.com"}}, opts{extra: extra}).mx

			for _, s := range []uint16{gcm, chac} {
				if got, err := startTLS12(sub, s); err != nil || got != s {
					t.Errorf("%s: %v (agreed %s)", tls.CipherSuiteName(s), err, tls.CipherSuiteName(got))
				}
			}
			got, err := startTLS12(sub, cbc)
			switch {
			case tc.legacy && (err != nil || got != cbc):
				t.Errorf("legacy_ciphers: %s refused: %v", tls.CipherSuiteName(cbc), err)
			case !tc.legacy && err == nil:
				t.Errorf("default: a TLS 1.2 client offering only %s got it", tls.CipherSuiteName(cbc))
			}

			t.Run("openssl", func(t *testing.T) {
				if _, err := exec.LookPath("openssl"); err != nil {
					t.Skip("openssl not installed")
				}
				cmd := exec.Command("openssl", "s_client", "-connect", sub, "-starttls", "smtp", "-tls1_2",
					"-cipher", "ECDHE-RSA-AES128-SHA@SECLEVEL=0", "-servername", gwHost)
				cmd.Stdin = strings.NewReader("QUIT\r\n")
				out, err := cmd.CombinedOutput()
				agreed := strings.Contains(string(out), "Cipher is ECDHE-RSA-AES128-SHA")
				if agreed != tc.legacy {
					t.Errorf("openssl s_client -tls1_2 -cipher ECDHE-RSA-AES128-SHA: agreed %v, want %v (exit %v)\n%s", agreed, tc.legacy, err, out)
				}
			})
		})
	}
}
