package ws

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"time"
)

type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// dialProxy connects to addr through the proxy at proxy: an HTTP CONNECT tunnel for http
// and https proxies, a SOCKS5 CONNECT for socks5 ones.
func dialProxy(ctx context.Context, dial dialFunc, cfg *tls.Config, proxy *url.URL, addr string) (net.Conn, error) {
	var defaultPort string
	switch proxy.Scheme {
	case "http":
		defaultPort = "80"
	case "https":
		defaultPort = "443"
	case "socks5", "socks5h":
		defaultPort = "1080"
	default:
		return nil, fmt.Errorf("unsupported proxy scheme %q", proxy.Scheme)
	}
	proxyAddr := proxy.Host
	if proxy.Port() == "" {
		proxyAddr = net.JoinHostPort(proxy.Hostname(), defaultPort)
	}
	nc, err := dial(ctx, "tcp", proxyAddr)
	if err != nil {
		return nil, fmt.Errorf("connecting to proxy: %w", err)
	}
	if proxy.Scheme == "https" {
		tc := tls.Client(nc, tlsConfig(cfg, proxy.Hostname()))
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("TLS handshake with proxy: %w", err)
		}
		nc = tc
	}

	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(aLongTimeAgo) })
	if proxy.Scheme == "socks5" || proxy.Scheme == "socks5h" {
		err = socks5Connect(nc, proxy.User, addr)
	} else {
		err = httpConnect(nc, proxy.User, addr)
	}
	stop()
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	if err != nil {
		nc.Close()
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("proxy %s: %w", proxy.Redacted(), err)
	}
	nc.SetDeadline(time.Time{})
	return nc, nil
}

// httpConnect opens a tunnel to addr with an HTTP CONNECT request (RFC 9110 §9.3.6).
func httpConnect(nc net.Conn, user *url.Userinfo, addr string) error {
	req := &http.Request{
		Method: http.MethodConnect,
		URL:    &url.URL{Opaque: addr},
		Host:   addr,
		Header: make(http.Header),
	}
	if user != nil {
		pass, _ := user.Password()
		req.Header.Set("Proxy-Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user.Username()+":"+pass)))
	}
	if err := req.Write(nc); err != nil {
		return err
	}
	// Read the response a byte at a time, so that nothing past it is consumed: the
	// tunnel's first bytes belong to the server.
	br := bufio.NewReaderSize(byteReader{nc}, 16)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return fmt.Errorf("reading CONNECT response: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("CONNECT %s: %s", addr, resp.Status)
	}
	return nil
}

// byteReader reads one byte per call, so a bufio.Reader over it never reads ahead.
type byteReader struct{ r io.Reader }

func (b byteReader) Read(p []byte) (int, error) {
	if len(p) > 1 {
		p = p[:1]
	}
	return b.r.Read(p)
}

// socks5Connect asks a SOCKS5 proxy (RFC 1928) to connect to addr, authenticating with a
// user name and password (RFC 1929) when user is set.
func socks5Connect(nc net.Conn, user *url.Userinfo, addr string) error {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return fmt.Errorf("bad port %q", portStr)
	}

	// Method selection: no authentication, or user name and password.
	greeting := []byte{5, 1, 0}
	if user != nil {
		greeting = []byte{5, 2, 0, 2}
	}
	if _, err := nc.Write(greeting); err != nil {
		return err
	}
	var reply [2]byte
	if _, err := io.ReadFull(nc, reply[:]); err != nil {
		return fmt.Errorf("reading SOCKS5 method: %w", err)
	}
	if reply[0] != 5 {
		return fmt.Errorf("not a SOCKS5 proxy (version %d)", reply[0])
	}
	switch reply[1] {
	case 0:
	case 2:
		if user == nil {
			return errors.New("SOCKS5 proxy requires a user name and password")
		}
		pass, _ := user.Password()
		name := user.Username()
		if len(name) > 255 || len(pass) > 255 {
			return errors.New("SOCKS5 user name or password longer than 255 bytes")
		}
		auth := append([]byte{1, byte(len(name))}, name...)
		auth = append(append(auth, byte(len(pass))), pass...)
		if _, err := nc.Write(auth); err != nil {
			return err
		}
		if _, err := io.ReadFull(nc, reply[:]); err != nil {
			return fmt.Errorf("reading SOCKS5 authentication reply: %w", err)
		}
		if reply[1] != 0 {
			return errors.New("SOCKS5 authentication failed")
		}
	default:
		return errors.New("SOCKS5 proxy accepts none of the offered authentication methods")
	}

	req := []byte{5, 1, 0}
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Is4() {
			req = append(append(req, 1), ip.AsSlice()...)
		} else {
			req = append(append(req, 4), ip.AsSlice()...)
		}
	} else {
		if len(host) > 255 {
			return errors.New("host name longer than 255 bytes")
		}
		req = append(append(req, 3, byte(len(host))), host...)
	}
	req = binary.BigEndian.AppendUint16(req, uint16(port))
	if _, err := nc.Write(req); err != nil {
		return err
	}
	var head [4]byte
	if _, err := io.ReadFull(nc, head[:]); err != nil {
		return fmt.Errorf("reading SOCKS5 reply: %w", err)
	}
	if head[1] != 0 {
		return fmt.Errorf("SOCKS5 CONNECT %s: %s", addr, socks5Reply(head[1]))
	}
	// Skip the bound address and port.
	var skip int
	switch head[3] {
	case 1:
		skip = 4 + 2
	case 4:
		skip = 16 + 2
	case 3:
		var l [1]byte
		if _, err := io.ReadFull(nc, l[:]); err != nil {
			return err
		}
		skip = int(l[0]) + 2
	default:
		return fmt.Errorf("SOCKS5 reply with unknown address type %d", head[3])
	}
	_, err = io.CopyN(io.Discard, nc, int64(skip))
	return err
}

func socks5Reply(code byte) string {
	switch code {
	case 1:
		return "general SOCKS server failure"
	case 2:
		return "connection not allowed by ruleset"
	case 3:
		return "network unreachable"
	case 4:
		return "host unreachable"
	case 5:
		return "connection refused"
	case 6:
		return "TTL expired"
	case 7:
		return "command not supported"
	case 8:
		return "address type not supported"
	}
	return "reply code " + strconv.Itoa(int(code))
}
