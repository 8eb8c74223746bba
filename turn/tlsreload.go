package turn

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// certCheckInterval is how often, at most, a TLS handshake looks at the
// certificate files' modification times.
const certCheckInterval = 2 * time.Second

// certReloader serves the TURN-over-TLS certificate and picks up a renewed
// one (certbot, cert-manager) without a restart: a handshake re-reads the
// files when their size or modification time changed. A pair that fails to
// load is logged and the previous certificate stays in use, so a half
// written renewal never takes TLS down.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger

	mu        sync.Mutex
	cert      *tls.Certificate
	stamp     fileStamp // of the files last tried, loaded or not
	lastCheck time.Time
}

type fileStamp struct {
	certMod, keyMod   time.Time
	certSize, keySize int64
}

func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, log: log}
	st, err := r.stat()
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("turn: TLS certificate: %w", err)
	}
	r.cert, r.stamp, r.lastCheck = &cert, st, time.Now()
	return r, nil
}

func (r *certReloader) stat() (fileStamp, error) {
	c, err := os.Stat(r.certFile)
	if err != nil {
		return fileStamp{}, fmt.Errorf("turn: TLS certificate: %w", err)
	}
	k, err := os.Stat(r.keyFile)
	if err != nil {
		return fileStamp{}, fmt.Errorf("turn: TLS key: %w", err)
	}
	return fileStamp{certMod: c.ModTime(), keyMod: k.ModTime(), certSize: c.Size(), keySize: k.Size()}, nil
}

// GetCertificate is tls.Config.GetCertificate.
func (r *certReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := time.Now(); now.Sub(r.lastCheck) >= certCheckInterval {
		r.lastCheck = now
		r.reload()
	}
	return r.cert, nil
}

// reload loads the files if they changed since last time. Called with mu.
func (r *certReloader) reload() {
	st, err := r.stat()
	if err != nil {
		if st != r.stamp {
			r.log.Warn("TURN TLS certificate files unreadable; keeping the previous certificate", "err", err)
			r.stamp = st
		}
		return
	}
	if st == r.stamp {
		return
	}
	r.stamp = st // a failed pair is not retried until the files change again
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		r.log.Warn("TURN TLS certificate reload failed; keeping the previous certificate",
			"cert", r.certFile, "key", r.keyFile, "err", err)
		return
	}
	r.cert = &cert
	attrs := []any{"cert", r.certFile}
	if cert.Leaf != nil {
		attrs = append(attrs, "not_after", cert.Leaf.NotAfter)
	}
	r.log.Info("TURN TLS certificate reloaded", attrs...)
}

// forceCheck makes the next handshake look at the files (tests).
func (r *certReloader) forceCheck() {
	r.mu.Lock()
	r.lastCheck = time.Time{}
	r.mu.Unlock()
}
