package seal

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/meshnode/meshnode/pkg/identity"
)

// Timer defaults (WireGuard's values where it has one).
const (
	// DefaultRetryInterval: an unanswered initiation is replaced by a new one
	// after this long, plus up to 10% random jitter.
	DefaultRetryInterval = 5 * time.Second
	// DefaultGiveUpAfter: a handshake that got no answer for this long fails with
	// ErrHandshakeTimeout. The next attempt starts only when Seal or Initiate is
	// called again, and no earlier than a backoff that doubles from
	// 2*RetryInterval up to GiveUpAfter with each consecutive failure.
	DefaultGiveUpAfter = 90 * time.Second
	// DefaultRekeyAfter: the initiator of the current session starts a new
	// handshake once the session is this old (the responder only halfway between
	// RekeyAfter and RejectAfter, so the two rarely start together).
	DefaultRekeyAfter = 2 * time.Minute
	// DefaultRejectAfterFactor: sessions older than this many times RekeyAfter
	// are never used for sending or receiving.
	DefaultRejectAfterFactor = 3
	// DefaultHandshakesPerSecond: initiations answered per second per peer
	// (bursts of twice that); the rest get ErrRateLimited.
	DefaultHandshakesPerSecond = 10
)

// ChannelConfig configures a Channel. Zero timer fields take the defaults above.
type ChannelConfig struct {
	// Cipher is the suite this side initiates with (and answers).
	Cipher Cipher
	// Accept lists further suites this side answers initiations in. When the
	// peer refuses an initiation in Cipher naming one of them as its own, the
	// channel initiates in that one from then on, at once and without
	// reporting a failure. Nil: Cipher only, and a peer with another suite
	// fails with ErrSuiteMismatch (see AutoSuites).
	Accept []Cipher
	// Decline names suites this side refuses on purpose (AutoSuites without AES
	// hardware: AES-GCM): an initiation in one is answered with a reject naming
	// our suite, which the peer falls back to if it accepts it, and is not
	// reported as a failure here (the peer reports it if it cannot fall back).
	Decline []string
	Local   identity.PrivateKey
	Remote  identity.PublicKey
	PSK     [32]byte
	// Hello is sent encrypted inside our handshake messages (at most MaxHello
	// bytes); the peer receives it in OnEstablished.
	Hello []byte
	// ResponseHello, if not nil, replaces Hello in our handshake responses (at
	// most MaxHello bytes). An initiation is readable by whoever holds the
	// responder's static key, but a response only by an initiator that knows
	// the PSK (the built-in Noise IKpsk2 mixes it in before the response's
	// payload; cipher plugins must too): what only group members may read
	// goes here. The initiator receives it in OnEstablished.
	ResponseHello []byte
	// Send transmits one packet to the peer on the current route. It is called
	// from Seal's goroutines, from Receive (handshake answers) and from timers,
	// possibly concurrently; it must not retain pkt after returning. An error is
	// packet loss.
	Send func(pkt []byte) error
	// OnEstablished runs (without locks held) when a new session became current:
	// the first link-up, every rekey and every restart of the peer. A callback
	// racing with Close may still run once after it.
	OnEstablished func(e Established)
	// OnFailure runs when a handshake failed; err wraps ErrSecretMismatch,
	// ErrSuiteMismatch, ErrPeerKeyMismatch or ErrHandshakeTimeout.
	OnFailure func(err error)
	// Logger gets Debug-level detail only (never keys or plaintext); the caller
	// logs user-facing lines from the callbacks. Nil discards.
	Logger *slog.Logger

	RetryInterval       time.Duration // default DefaultRetryInterval
	GiveUpAfter         time.Duration // default DefaultGiveUpAfter
	RekeyAfter          time.Duration // default DefaultRekeyAfter
	RejectAfter         time.Duration // default DefaultRejectAfterFactor * RekeyAfter; must exceed RekeyAfter
	HandshakesPerSecond int           // default DefaultHandshakesPerSecond
	// Budget, shared by a node's channels, bounds the initiations answered per
	// second from peers this channel never had a session with; nil: no bound
	// beyond HandshakesPerSecond.
	Budget *HandshakeBudget
}

// Established describes a session that became current.
type Established struct {
	RemoteHello []byte // the peer's ChannelConfig.Hello
	Initiator   bool   // this side sent the initiation
	Suite       string // the session's suite (Cipher's or one of Accept)
}

// ChannelStatus is a snapshot for status displays.
type ChannelStatus struct {
	Established   bool      // a current session is usable for sending
	Suite         string    // the current session's suite; with none, the one this side initiates with
	Initiator     bool      // this side initiated the current session
	LastHandshake time.Time // when the current session became current (zero: never)
	Handshaking   bool      // a handshake this side initiated is in flight
	Sessions      int       // live sessions (at most 3)
	PacketsIn     uint64    // data packets accepted (keepalives included)
	PacketsOut    uint64    // data packets sealed and handed to Send
	Dropped       uint64    // packets Receive refused (bad, replayed, unknown session, ...)
	LastError     string    // the last handshake failure since the last success
}

// acceptErr checks Accept and Decline: valid, distinct suite names, none
// Cipher's, none both accepted and declined.
func (cfg *ChannelConfig) acceptErr() error {
	seen := map[string]bool{cfg.Cipher.Name(): true}
	for _, a := range cfg.Accept {
		switch {
		case a == nil:
			return errors.New("nil cipher in Accept")
		case len(a.Name()) == 0 || len(a.Name()) > maxSuiteName:
			return fmt.Errorf("accepted suite name %q must be 1-%d bytes", a.Name(), maxSuiteName)
		case seen[a.Name()]:
			return fmt.Errorf("suite %q accepted twice", a.Name())
		}
		seen[a.Name()] = true
	}
	for _, d := range cfg.Decline {
		if seen[d] {
			return fmt.Errorf("suite %q both accepted and declined", d)
		}
	}
	return nil
}

func (cfg *ChannelConfig) check() error {
	switch {
	case cfg.Cipher == nil:
		return errors.New("no cipher")
	case cfg.Local.IsZero():
		return errors.New("no local key")
	case cfg.Remote.IsZero():
		return errors.New("no remote key")
	case cfg.Send == nil:
		return errors.New("no Send function")
	case len(cfg.Hello) > MaxHello:
		return fmt.Errorf("hello of %d bytes exceeds %d", len(cfg.Hello), MaxHello)
	case len(cfg.ResponseHello) > MaxHello:
		return fmt.Errorf("response hello of %d bytes exceeds %d", len(cfg.ResponseHello), MaxHello)
	case len(cfg.Cipher.Name()) == 0 || len(cfg.Cipher.Name()) > maxSuiteName:
		return fmt.Errorf("suite name %q must be 1-%d bytes", cfg.Cipher.Name(), maxSuiteName)
	case cfg.acceptErr() != nil:
		return cfg.acceptErr()
	case cfg.RetryInterval < 0 || cfg.GiveUpAfter < 0 || cfg.RekeyAfter < 0 || cfg.RejectAfter < 0 || cfg.HandshakesPerSecond < 0:
		return errors.New("negative timer or rate")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&cfg.RetryInterval, DefaultRetryInterval)
	def(&cfg.GiveUpAfter, DefaultGiveUpAfter)
	def(&cfg.RekeyAfter, DefaultRekeyAfter)
	def(&cfg.RejectAfter, DefaultRejectAfterFactor*cfg.RekeyAfter)
	if cfg.RejectAfter <= cfg.RekeyAfter {
		return fmt.Errorf("RejectAfter (%v) must exceed RekeyAfter (%v)", cfg.RejectAfter, cfg.RekeyAfter)
	}
	if cfg.HandshakesPerSecond == 0 {
		cfg.HandshakesPerSecond = DefaultHandshakesPerSecond
	}
	if cfg.OnEstablished == nil {
		cfg.OnEstablished = func(Established) {}
	}
	if cfg.OnFailure == nil {
		cfg.OnFailure = func(error) {}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Accept = append([]Cipher(nil), cfg.Accept...)
	cfg.Hello = append([]byte(nil), cfg.Hello...)
	if cfg.ResponseHello != nil {
		cfg.ResponseHello = append([]byte(nil), cfg.ResponseHello...)
	}
	return nil
}
