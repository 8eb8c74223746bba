package server_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"

	"github.com/switchboard-rtc/switchboard/internal/server"
	"github.com/switchboard-rtc/switchboard/internal/testutil"
	"github.com/switchboard-rtc/switchboard/signaling"
)

func TestMain(m *testing.M) { testutil.LeakCheckMain(m) }

func get(t *testing.T, url string) (int, string, http.Header) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	defer c.CloseIdleConnections()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestEndpoints(t *testing.T) {
	srv := testutil.StartServer(t, testutil.Options{})
	if code, body, _ := get(t, srv.URL+"/healthz"); code != 200 || strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	// A session and a frame, then the metrics show them.
	c := testutil.Dial(t, srv.WSURL, nil)
	c.Hello(srv.Token(t, "a", "*"))
	c.Join("r")
	c.Send(map[string]any{"type": "join", "room": "r", "ns": "nope", "id": 1})
	c.ExpectError("not_found")
	_, metrics, _ := get(t, srv.URL+"/metrics")
	for _, want := range []string{
		"switchboard_signaling_sessions 1",
		"switchboard_signaling_rooms 1",
		`switchboard_signaling_frames_in_total{type="join"} 2`,
		`switchboard_signaling_frames_out_total{type="joined"} 1`,
		`switchboard_signaling_errors_total{code="not_found"} 1`,
		"go_goroutines",
		"process_resident_memory_bytes",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// Dev tokens exist only in dev mode.
	if code, body, _ := get(t, srv.URL+"/v1/dev/token?user=x"); code != 404 || !strings.Contains(body, "--dev") {
		t.Errorf("dev token without --dev: %d %s", code, body)
	}
}

func TestDevToken(t *testing.T) {
	srv := testutil.StartServer(t, testutil.Options{Dev: true})
	code, body, hdr := get(t, srv.URL+"/v1/dev/token?user=alice&name=Alice")
	if code != 200 || hdr.Get("Cache-Control") != "no-store" {
		t.Fatalf("dev token: %d %s", code, body)
	}
	var v struct {
		Token   string
		User    string
		Expires int64
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil || v.Token == "" || v.User != "alice" || v.Expires < time.Now().Unix() {
		t.Fatalf("dev token body %s: %v", body, err)
	}
	c := testutil.Dial(t, srv.WSURL, nil)
	if w := c.Hello(v.Token); w.Str("user") != "alice" || w.Str("name") != "Alice" {
		t.Errorf("welcome %v", w)
	}
	c.Join("any-room-at-all")
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// serve runs a server.Server built from cfg on 127.0.0.1 and returns its address.
func serve(t *testing.T, cfg server.Config) (*server.Server, string) {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	cfg.Logger = quietLogger()
	s, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := s.Listen()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Shutdown(t.Context())
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return s, ln.Addr().String()
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	_, addr := serve(t, server.Config{TLSCert: certFile, TLSKey: keyFile, JWTSecret: "s"})
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Fatalf("https: %d", resp.StatusCode)
	}
	d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: pool}, HandshakeTimeout: 5 * time.Second}
	conn, wresp, err := d.Dial("wss://"+addr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	wresp.Body.Close()
	conn.Close()
}

func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// RS256 and ES256 tokens verify against a configured public key; an HS256
// token "signed" with the public key's bytes (the classic confusion attack) does not.
func TestPublicKeyTokens(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{"sub": "u", "exp": time.Now().Add(time.Hour).Unix(), "rooms": []string{"*"}}
	for _, tc := range []struct {
		name   string
		pub    any
		method jwt.SigningMethod
		key    any
	}{
		{"RS256", &rsaKey.PublicKey, jwt.SigningMethodRS256, rsaKey},
		{"ES256", &ecKey.PublicKey, jwt.SigningMethodES256, ecKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			der, err := x509.MarshalPKIXPublicKey(tc.pub)
			if err != nil {
				t.Fatal(err)
			}
			pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
			file := filepath.Join(t.TempDir(), "pub.pem")
			os.WriteFile(file, pemBytes, 0o600)
			_, addr := serve(t, server.Config{JWTPublicKeyFile: file})
			url := "ws://" + addr + "/ws"

			good, _ := jwt.NewWithClaims(tc.method, claims).SignedString(tc.key)
			c := testutil.Dial(t, url, nil)
			c.Hello(good)
			c.Close()

			confused, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(pemBytes)
			c = testutil.Dial(t, url, nil)
			c.Send(map[string]any{"type": "hello", "token": confused})
			c.ExpectError("unauthorized")
		})
	}
}

func TestConfigErrors(t *testing.T) {
	for name, cfg := range map[string]server.Config{
		"cert without key": {TLSCert: "x"},
		"missing key file": {JWTPublicKeyFile: "/nonexistent.pem"},
		"bad namespace":    {Signaling: signaling.Config{Namespaces: []signaling.Namespace{{Name: "Bad Name"}}}},
		"negative limit":   {Signaling: signaling.Config{MaxSessionsPerUser: -1}},
		"bad room mode":    {RoomModes: signaling.RoomModes{Default: "automatic"}, SFU: server.SFUConfig{Enabled: true}},
	} {
		cfg.Logger = quietLogger()
		if _, err := server.New(cfg); !errors.Is(err, signaling.ErrBadConfig) {
			t.Errorf("%s: %v, want ErrBadConfig", name, err)
		}
	}
}
