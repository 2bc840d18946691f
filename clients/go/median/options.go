package median

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc"
)

const (
	// DefaultCallTimeout is the deadline of a unary call whose context has none.
	DefaultCallTimeout = 10 * time.Second
	// DefaultRetryFor is how long an ingest keeps resuming after a retryable failure.
	DefaultRetryFor = 30 * time.Second
	// DefaultBatchSize is how many numbers go into one request at most.
	DefaultBatchSize = 1000
)

// Option configures a Client made by New.
type Option func(*settings) error

type settings struct {
	tls         bool
	roots       *x509.CertPool // nil: the system's roots
	certs       []tls.Certificate
	tlsConfig   *tls.Config
	token       string
	callTimeout time.Duration
	retryFor    time.Duration
	batchSize   int
	dialOptions []grpc.DialOption
}

// WithTLS connects over TLS and verifies the server against the system's root CAs (unless
// WithCA or WithCAFile names others). The name checked is the host of the target.
func WithTLS() Option {
	return func(s *settings) error { s.tls = true; return nil }
}

// WithCA connects over TLS and trusts exactly the CA certificates in pem (PEM, one or more).
func WithCA(pem []byte) Option {
	return func(s *settings) error {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return errors.New("median: no PEM certificate found in the CA certificates")
		}
		s.tls, s.roots = true, pool
		return nil
	}
}

// WithCAFile is WithCA with the certificates read from the PEM file at path.
func WithCAFile(path string) Option {
	return func(s *settings) error {
		pem, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("median: reading the CA file: %w", err)
		}
		if err := WithCA(pem)(s); err != nil {
			return fmt.Errorf("%w in %s", err, path)
		}
		return nil
	}
}

// WithClientCertificate connects over TLS and presents cert to the server (mutual TLS).
func WithClientCertificate(cert tls.Certificate) Option {
	return func(s *settings) error {
		s.tls, s.certs = true, append(s.certs, cert)
		return nil
	}
}

// WithClientCertificateFiles is WithClientCertificate with the certificate chain and its
// unencrypted private key read from PEM files.
func WithClientCertificateFiles(certFile, keyFile string) Option {
	return func(s *settings) error {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return fmt.Errorf("median: loading the client certificate: %w", err)
		}
		return WithClientCertificate(cert)(s)
	}
}

// WithTLSConfig connects over TLS with a configuration of your own; WithCA, WithCAFile and
// the client certificate options then add to a copy of it.
func WithTLSConfig(config *tls.Config) Option {
	return func(s *settings) error {
		s.tls, s.tlsConfig = true, config.Clone()
		return nil
	}
}

// WithToken sends `authorization: Bearer <token>` on every call, as per-RPC credentials. Over
// TLS grpc-go refuses to send it on any connection without transport security; on a plaintext
// channel (a local server, or a sidecar that terminates TLS) it is sent as it is. The token
// must be printable ASCII without spaces; the error never shows it.
func WithToken(token string) Option {
	return func(s *settings) error {
		if token == "" {
			return errors.New("median: the token is empty")
		}
		for _, r := range token {
			if r <= ' ' || r > '~' {
				return errors.New("median: the token must be printable ASCII without spaces " +
					"(check for a stray newline or quote around it)")
			}
		}
		s.token = token
		return nil
	}
}

// WithCallTimeout sets the deadline of unary calls whose context has none (default 10 s).
func WithCallTimeout(d time.Duration) Option {
	return func(s *settings) error {
		if d <= 0 {
			return errors.New("median: the call timeout must be positive")
		}
		s.callTimeout = d
		return nil
	}
}

// WithRetryFor sets how long a call keeps resuming after a retryable failure that was not
// followed by an acknowledgement (default 30 s); 0 turns resuming off. The context's deadline
// bounds it too.
func WithRetryFor(d time.Duration) Option {
	return func(s *settings) error {
		if d < 0 {
			return errors.New("median: the retry time must not be negative")
		}
		s.retryFor = d
		return nil
	}
}

// WithBatchSize sets the most numbers one request carries (default 1000).
func WithBatchSize(n int) Option {
	return func(s *settings) error {
		if n <= 0 {
			return errors.New("median: the batch size must be positive")
		}
		s.batchSize = n
		return nil
	}
}

// WithDialOptions adds grpc-go dial options (interceptors, keepalive, ...) after the client's
// own, so that they win.
func WithDialOptions(options ...grpc.DialOption) Option {
	return func(s *settings) error {
		s.dialOptions = append(s.dialOptions, options...)
		return nil
	}
}
