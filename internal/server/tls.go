package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"time"
)

// tlsConfig returns the TLS configuration of c, or nil if c serves plain HTTP.
func tlsConfig(c *Config, now time.Time) (*tls.Config, error) {
	var cert tls.Certificate
	var err error
	switch {
	case c.TLSSelfSigned:
		cert, err = selfSignedCertificate(now)
		if err != nil {
			return nil, fmt.Errorf("server: making a self-signed certificate: %w", err)
		}
	case c.TLSCertFile != "":
		cert, err = tls.LoadX509KeyPair(c.TLSCertFile, c.TLSKeyFile)
		if err == nil && cert.Leaf == nil { // with GODEBUG=x509keypairleaf=0
			cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0])
		}
		if err != nil {
			return nil, fmt.Errorf("%w: loading the TLS certificate: %w", ErrConfig, err)
		}
	default:
		return nil, nil
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
	}, nil
}

// selfSignedCertificate makes an ECDSA P-256 certificate for localhost, 127.0.0.1 and ::1,
// valid from an hour before now for 30 days, signed by its own key.
func selfSignedCertificate(now time.Time) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return tls.Certificate{}, err
	}
	template := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"Duplex development"}, CommonName: "localhost"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(30 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}
