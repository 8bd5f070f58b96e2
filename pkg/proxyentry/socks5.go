package proxyentry

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"syscall"
	"time"

	socks5 "github.com/things-go/go-socks5"
	"github.com/things-go/go-socks5/statute"
)

// The SOCKS5 entry: things-go/go-socks5 speaks the protocol (method
// negotiation, RFC 1929 auth, the request); the entry answers CONNECT and UDP
// ASSOCIATE itself and refuses BIND. Names are never resolved by DNS: a
// domain name in the request (socks5h) is looked up as a .mesh name.

func (s *Server) newSOCKS5() *socks5.Server {
	opts := []socks5.Option{
		socks5.WithResolver(noResolve{}),
		socks5.WithConnectHandle(s.socksConnect),
		socks5.WithAssociateHandle(s.socksAssociate),
		socks5.WithBindHandle(func(_ context.Context, w io.Writer, _ *socks5.Request) error {
			socks5.SendReply(w, statute.RepCommandNotSupported, nil)
			return errors.New("BIND is not supported")
		}),
		socks5.WithLogger(discardLogger{}),
	}
	if s.cfg.Username != "" {
		opts = append(opts, socks5.WithAuthMethods([]socks5.Authenticator{
			socks5.UserPassAuthenticator{Credentials: credentials{user: s.cfg.Username, pass: s.cfg.Password}},
		}))
	}
	return socks5.NewServer(opts...)
}

// noResolve leaves a request's domain name for the entry to interpret.
type noResolve struct{}

func (noResolve) Resolve(ctx context.Context, _ string) (context.Context, net.IP, error) {
	return ctx, nil, nil
}

type discardLogger struct{}

func (discardLogger) Errorf(string, ...any) {}

// credentials checks a SOCKS5 username and password in constant time.
type credentials struct{ user, pass string }

func (c credentials) Valid(user, pass, _ string) bool {
	return checkUserPass(c.user, c.pass, user, pass)
}

func checkUserPass(wantUser, wantPass, user, pass string) bool {
	u := subtle.ConstantTimeCompare([]byte(user), []byte(wantUser))
	p := subtle.ConstantTimeCompare([]byte(pass), []byte(wantPass))
	return u&p == 1
}

// requestHost is the host a SOCKS request names (a domain name, or an IP
// address).
func requestHost(a *statute.AddrSpec) string {
	if a.FQDN != "" {
		return a.FQDN
	}
	return a.IP.String()
}

// socksConnect answers a CONNECT: dial the service, say so, then splice.
func (s *Server) socksConnect(_ context.Context, w io.Writer, req *socks5.Request) error {
	c := w.(net.Conn)
	host, port := requestHost(req.RawDestAddr), req.RawDestAddr.Port
	svc, err := s.dialTCP(c, host, port)
	if err != nil {
		socks5.SendReply(w, socksReply(err), nil)
		return err
	}
	defer svc.Close()
	if err := socks5.SendReply(w, statute.RepSuccess, c.LocalAddr()); err != nil {
		return err
	}
	c.SetDeadline(time.Time{})
	splice(c, req.Reader, svc)
	return nil
}

// dialTCP reaches host:port for the client of c, within what is left of c's
// handshake time, and logs a failure once.
func (s *Server) dialTCP(c net.Conn, host string, port int) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(withClient(context.Background(), c.RemoteAddr()), s.cfg.HandshakeTimeout)
	defer cancel()
	t, mesh, err := s.cfg.target(host, port)
	var svc net.Conn
	switch {
	case err != nil:
	case mesh:
		svc, err = s.d.DialTCP(ctx, t)
	default:
		var d net.Dialer
		svc, err = d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			err = fmt.Errorf("%w: %w", classifyNetErr(err), err)
		}
	}
	if err != nil {
		s.log.Info("proxy request failed", "client", c.RemoteAddr().String(), "to", net.JoinHostPort(host, strconv.Itoa(port)), "err", err)
		return nil, err
	}
	s.log.Debug("proxy request", "client", c.RemoteAddr().String(), "to", net.JoinHostPort(host, strconv.Itoa(port)))
	return svc, nil
}

// classifyNetErr says what a direct (fallthrough) dial's error means.
func classifyNetErr(err error) error {
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr):
		return ErrNoSuchService
	case errors.Is(err, syscall.ECONNREFUSED):
		return ErrRefused
	default:
		return ErrUnreachable
	}
}

// socksReply is the SOCKS5 reply code for a dial error.
func socksReply(err error) uint8 {
	switch {
	case errors.Is(err, ErrNoSuchService):
		return statute.RepHostUnreachable
	case errors.Is(err, ErrNotAllowed):
		return statute.RepRuleFailure
	case errors.Is(err, ErrRefused):
		return statute.RepConnectionRefused
	case errors.Is(err, ErrWrongProto):
		return statute.RepCommandNotSupported
	case errors.Is(err, context.DeadlineExceeded):
		return statute.RepTTLExpired
	case errors.Is(err, ErrUnreachable):
		return statute.RepNetworkUnreachable
	default:
		return statute.RepServerFailure
	}
}
