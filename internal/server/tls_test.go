package server_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/duplex-ws/duplex/internal/server"
	"github.com/duplex-ws/duplex/ws"
)

// TestTLSSelfSigned checks the certificate made for local development, and that https and
// wss work end to end with it trusted.
func TestTLSSelfSigned(t *testing.T) {
	ts := start(t, &server.Config{TLSSelfSigned: true})
	cert := ts.Certificate()
	if cert == nil {
		t.Fatal("no certificate")
	}
	key, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || key.Curve != elliptic.P256() {
		t.Errorf("key %T, want ECDSA P-256", cert.PublicKey)
	}
	if !slices.Equal(cert.DNSNames, []string{"localhost"}) || len(cert.IPAddresses) != 2 ||
		!cert.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) || !cert.IPAddresses[1].Equal(net.IPv6loopback) {
		t.Errorf("SANs %v %v, want localhost, 127.0.0.1, ::1", cert.DNSNames, cert.IPAddresses)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	checkTLS(t, ts, &tls.Config{RootCAs: roots})
}

// TestTLSFiles checks serving with a certificate and key read from PEM files.
func TestTLSFiles(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	cert := writeCertificate(t, certFile, keyFile)
	ts := start(t, &server.Config{TLSCertFile: certFile, TLSKeyFile: keyFile})
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	checkTLS(t, ts, &tls.Config{RootCAs: roots})
}

// checkTLS checks that ts serves https and wss that a client configured by conf trusts.
func checkTLS(t *testing.T, ts *testServer, conf *tls.Config) {
	t.Helper()
	ctx := testContext(t)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: conf}}
	defer client.CloseIdleConnections()
	if status, body := get(t, ctx, client, ts.http+"/healthz", nil); status != http.StatusOK || body != "ok\n" {
		t.Errorf("GET /healthz over TLS: %d %q", status, body)
	}
	c, _, err := ws.Dial(ctx, ts.ws+"/ws/echo", &ws.DialOptions{TLSConfig: conf})
	if err != nil {
		t.Fatalf("dialing %s: %v", ts.ws, err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, ws.MessageText, []byte("secret")); err != nil {
		t.Fatal(err)
	}
	if _, p, err := c.Read(ctx); err != nil || string(p) != "secret" {
		t.Fatalf("echo over wss: %q, %v", p, err)
	}
	c.Close(ws.StatusNormalClosure, "")

	// A client that does not trust the certificate is refused.
	if _, _, err := ws.Dial(ctx, ts.ws+"/ws/echo", nil); err == nil {
		t.Error("a client without the certificate in its roots connected")
	}
}

// writeCertificate writes a self-signed certificate for 127.0.0.1 and its key to PEM files.
func writeCertificate(t *testing.T, certFile, keyFile string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}
