package turn

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	pionturn "github.com/pion/turn/v5"
)

// writeCert writes a self-signed certificate for 127.0.0.1 with the given
// serial to dir/cert.pem and dir/key.pem, and returns it.
func writeCert(t *testing.T, dir string, serial int64) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: "switchboard test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	// Written beside and renamed into place, as certbot and cert-manager
	// do, so a handshake never reads half a file.
	for name, block := range map[string]*pem.Block{
		"cert.pem": {Type: "CERTIFICATE", Bytes: der},
		"key.pem":  {Type: "EC PRIVATE KEY", Bytes: kder},
	} {
		tmp := filepath.Join(dir, name+".tmp")
		if err := os.WriteFile(tmp, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func tlsServer(t *testing.T, dir string) *testServer {
	return startServer(t, func(c *Config) {
		allowLoopback(c)
		c.TLSCertFile = filepath.Join(dir, "cert.pem")
		c.TLSKeyFile = filepath.Join(dir, "key.pem")
	})
}

// dialTLS returns the certificate the server presents to a new connection.
func dialTLS(t *testing.T, ts *testServer, roots *x509.CertPool) *tls.Conn {
	t.Helper()
	conn, err := tls.Dial("tcp", ts.Addrs().TLS.String(), &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("TLS dial: %v", err)
	}
	return conn
}

// A client allocates over TLS (turns:) and relays data.
func TestTLSAllocation(t *testing.T) {
	dir := t.TempDir()
	cert := writeCert(t, dir, 1)
	ts := tlsServer(t, dir)
	if !ts.Addrs().TLS.IsValid() || ts.Addrs().TLS.Port() == ts.Addrs().TCP.Port() {
		t.Fatalf("Addrs %+v", ts.Addrs())
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	conn := dialTLS(t, ts, roots)
	c := newClient(t, pionturn.NewSTUNConn(conn), ts.Addrs().TLS.String(), creds("tls"))
	relay := allocate(t, c)
	peer := echoPeer(t)
	if _, err := relay.WriteTo([]byte("over tls"), peer); err != nil {
		t.Fatal(err)
	}
	if got, _ := readFrom(t, relay); string(got) != "over tls" {
		t.Fatalf("got %q", got)
	}
	ts.waitMetric(t, 1, "switchboard_turn_allocations", "transport", "tls")
	if u := ts.URLs("h"); u[len(u)-1] != "turns:h:"+itoa(ts.Addrs().TLS.Port())+"?transport=tcp" {
		t.Fatalf("URLs %v", u)
	}
}

// Replaced certificate files are served to new connections without a
// restart; files that do not load leave the last good certificate in use.
func TestTLSCertificateReload(t *testing.T) {
	dir := t.TempDir()
	first := writeCert(t, dir, 1)
	ts := tlsServer(t, dir)
	roots := x509.NewCertPool()
	roots.AddCert(first)
	serial := func(c *tls.Conn) int64 {
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
	}
	if s := serial(dialTLS(t, ts, roots)); s != 1 {
		t.Fatalf("serial %d, want 1", s)
	}

	second := writeCert(t, dir, 2)
	roots.AddCert(second)
	ts.certs.forceCheck() // instead of waiting out certCheckInterval
	if s := serial(dialTLS(t, ts, roots)); s != 2 {
		t.Fatalf("after replacing the files: serial %d, want 2", s)
	}

	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	ts.certs.forceCheck()
	if s := serial(dialTLS(t, ts, roots)); s != 2 {
		t.Fatalf("after a broken file: serial %d, want 2 (kept)", s)
	}
}

func itoa(p uint16) string { return strconv.Itoa(int(p)) }
