package ws_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/duplex-ws/duplex/ws"
)

func reviewTLSPair(t *testing.T) (srv, cli *tls.Conn) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"localhost"}}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan *tls.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			ch <- nil
			return
		}
		s := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}})
		s.Handshake()
		ch <- s
	}()
	cli, err = tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	return <-ch, cli
}

// Over TLS, a Write that its context ends leaves crypto/tls unable to write again, however
// little went out: the connection must then count as closed, so that later writes report
// net.ErrClosed rather than a timeout of their own.
func TestRegressionTLSWriteCtx(t *testing.T) {
	s, cli := reviewTLSPair(t)
	defer cli.Close()
	c := ws.NewConnForTest(s, false, nil)
	defer c.CloseNow()
	msg := make([]byte, 8<<10)
	for i := 0; i < 100000; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		start := time.Now()
		err := c.Write(ctx, ws.MessageBinary, msg)
		cancel()
		if err != nil {
			d := time.Since(start)
			t.Logf("write %d failed after %v: %v", i, d, err)
			// A second write: "stays usable" if the first wrote nothing?
			start = time.Now()
			err2 := c.Write(context.Background(), ws.MessageBinary, []byte("x"))
			t.Logf("next write after %v: %v", time.Since(start), err2)
			start = time.Now()
			c.CloseNow()
			t.Logf("CloseNow took %v", time.Since(start))
			if errors.Is(err, context.DeadlineExceeded) && err2 != nil && !errors.Is(err2, net.ErrClosed) {
				t.Fatalf("after a ctx-ended Write left the connection open, the next Write failed: %v", err2)
			}
			return
		}
	}
	t.Fatal("no write blocked")
}
