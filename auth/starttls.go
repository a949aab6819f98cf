package auth

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"

	"github.com/smtpgateway/gateway/downstream"
)

// startTLS runs downstream.StartTLS (greeting, EHLO helo, STARTTLS, the
// handshake) in required mode and puts its errors in this package's
// terms. The configured name is used throughout: go-smtp's own
// NewClientStartTLS would say EHLO "localhost", which a downstream server
// that checks HELO names refuses.
func startTLS(ctx context.Context, conn net.Conn, helo string, cfg *tls.Config) (net.Conn, error) {
	nc, _, err := downstream.StartTLS(ctx, conn, helo, cfg, downstream.TLSRequired, 0)
	var se *downstream.StepError
	var he *downstream.HandshakeError
	switch {
	case err == nil:
		return nc, nil
	case !errors.As(err, &se):
		return nil, err
	case errors.Is(err, downstream.ErrNotOffered):
		return nil, errors.New("server does not offer STARTTLS")
	case errors.Is(err, downstream.ErrDataAfterReply):
		// Read as if it came through TLS: CVE-2011-0411 in reverse.
		return nil, errors.New("server sent data after its STARTTLS reply")
	case errors.As(err, &he):
		return nil, fmt.Errorf("TLS handshake: %w", he.Err)
	case se.Step == "STARTTLS":
		return nil, se.Err
	}
	return nil, err // "greeting: ...", "EHLO: ..."
}
