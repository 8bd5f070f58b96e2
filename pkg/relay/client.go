package relay

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshnode/meshnode/pkg/identity"
	"github.com/meshnode/meshnode/pkg/transport"
)

// ClientConfig configures a node's connection to its rendezvous.
type ClientConfig struct {
	Addr      string              // the rendezvous: host:port, or a ws:// or wss:// URL for the websocket transport
	Transport transport.Transport // default transport.TCP()
	Group     identity.Group      // from identity.DeriveGroup: the client signs admission with it
	Key       identity.PrivateKey
	AuthKey   *AuthSecret // the rendezvous' auth key; nil = none (an open rendezvous)
	Logger    *slog.Logger

	// Callbacks run on the client's read goroutine, in protocol order; they must
	// not block for long. OnPacket's payload is valid only during the call;
	// more says that another packet from the same src is already here and
	// follows at once (a hint for batching acknowledgements).
	OnPacket    func(src identity.PublicKey, payload []byte, more bool)
	OnPresence  func(ev PresenceEvent)
	OnState     func(st ConnState)
	OnGroupInfo func(gi GroupInfo) // others use the group's name with another secret

	PingInterval   time.Duration // keepalive and RTT probe (default 15 s); dead after 2.5 intervals of silence
	MinBackoff     time.Duration // first reconnect delay (default 250 ms)
	MaxBackoff     time.Duration // reconnect delay cap (default 30 s)
	SendQueueBytes int           // outgoing queue bound (default 1 MiB)
}

// ConnState is a transition of the rendezvous connection.
type ConnState struct {
	Connected bool
	Addr      string        // the rendezvous address (a URL's password redacted)
	RTT       time.Duration // handshake round trip, when Connected
	Err       error         // why the connection went down, when !Connected
}

// Status is a snapshot of the client's state.
type Status struct {
	Connected  bool
	Addr       string // the rendezvous address (a URL's password redacted)
	Transport  string
	Since      time.Time     // when the current connection (or outage) began
	RTT        time.Duration // last measured round trip to the rendezvous
	BytesIn    uint64        // datagram payload bytes received
	BytesOut   uint64        // datagram payload bytes written to the connection
	PacketsIn  uint64
	PacketsOut uint64
	Drops      uint64 // datagrams refused by Send with ErrQueueFull
	Connects   uint64 // successful connections so far
	LastError  string // why the last connection or attempt failed
	// Refused is set while the rendezvous refuses this node for a reason that
	// retrying cannot fix (Code.Permanent): the client then retries slowly.
	Refused Code
	// OthersInGroup is how many nodes the rendezvous last said use this group's
	// name with another secret (GroupInfo).
	OthersInGroup int
}

// Client keeps a node connected to its rendezvous: it reconnects with backoff,
// tracks the group's presence and relays datagrams to and from peers.
type Client struct {
	cfg    ClientConfig
	pub    identity.PublicKey
	log    *slog.Logger
	pool   bufPool
	timers sync.Pool // *time.Timer, stopped: sendWait's, so a full queue does not allocate
	pres   *presence
	// instance tells the rendezvous that a reconnect comes from the same process
	// (which replaces its old connection) rather than another process with the
	// same key (which is refused while the first one lives).
	instance [instanceLen]byte

	running atomic.Bool
	sess    atomic.Pointer[clientSession] // nil while disconnected

	mu        sync.Mutex
	connected bool
	since     time.Time
	lastErr   string
	connects  uint64
	refused   Code
	others    int

	info atomic.Pointer[ServerInfo] // from the current connection's ServerInfo frame; nil = none

	rtt                                       atomic.Int64
	bytesIn, bytesOut, pktsIn, pktsOut, drops atomic.Uint64
}

// sendWait is how long Send waits for queue space before dropping.
const sendWait = 5 * time.Millisecond

// stableAfter is how long a connection must have lasted for the reconnect backoff
// to start over from MinBackoff.
const stableAfter = 10 * time.Second

// NewClient checks cfg and returns a client; call Run to connect.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.Addr == "" {
		return nil, errors.New("relay client: no rendezvous address")
	}
	if _, err := addrHost(cfg.Addr); err != nil {
		return nil, fmt.Errorf("relay client: rendezvous address %q: %w", displayAddr(cfg.Addr), err)
	}
	if cfg.Key.IsZero() {
		return nil, errors.New("relay client: no node key")
	}
	if !cfg.Group.CanSign() {
		return nil, errors.New("relay client: no group (derive it with identity.DeriveGroup)")
	}
	if cfg.Transport == nil {
		cfg.Transport = transport.TCP()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.PingInterval == 0 {
		cfg.PingInterval = DefaultPingInterval
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = max(DefaultMaxBackoff, cfg.MinBackoff)
	}
	if cfg.SendQueueBytes == 0 {
		cfg.SendQueueBytes = DefaultSendQueueBytes
	}
	switch {
	case cfg.PingInterval < 10*time.Millisecond:
		return nil, fmt.Errorf("relay client: ping interval %v is below 10ms", cfg.PingInterval)
	case cfg.MinBackoff < 0 || cfg.MaxBackoff < cfg.MinBackoff:
		return nil, fmt.Errorf("relay client: backoff range %v..%v is invalid", cfg.MinBackoff, cfg.MaxBackoff)
	case cfg.SendQueueBytes < headerLen+MaxFrameLen:
		return nil, fmt.Errorf("relay client: send queue of %d bytes cannot hold a %d-byte frame", cfg.SendQueueBytes, headerLen+MaxFrameLen)
	}
	pub := cfg.Key.Public()
	c := &Client{
		cfg:   cfg,
		pub:   pub,
		log:   cfg.Logger.With("rendezvous", displayAddr(cfg.Addr)),
		pres:  newPresence(pub),
		since: time.Now(),
	}
	rand.Read(c.instance[:])
	return c, nil
}

// Run connects to the rendezvous and keeps reconnecting, with exponential backoff
// and jitter, until ctx is done; it then returns nil. It fails only when called
// while already running.
func (c *Client) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("relay client: Run is already running")
	}
	defer c.running.Store(false)
	bo := backoff{min: c.cfg.MinBackoff, max: c.cfg.MaxBackoff}
	var lastLogged string
	for {
		connectedAt, err := c.connectOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if !connectedAt.IsZero() && time.Since(connectedAt) >= stableAfter {
			bo.reset()
		}
		code := refusalCode(err)
		d := bo.next()
		if code.Permanent() {
			// Retrying soon cannot help (no or a bad auth key, a wrong version, a
			// clash of node keys): retry at the slowest pace, and say it once.
			d = c.cfg.MaxBackoff
		}
		c.mu.Lock()
		c.lastErr = err.Error()
		c.refused = 0
		if code.Permanent() {
			c.refused = code
		}
		c.mu.Unlock()
		switch {
		case code.Permanent() && err.Error() == lastLogged:
			c.log.Debug("rendezvous still refuses this node", "err", err, "retry_in", d.Round(time.Millisecond))
		case code.Permanent():
			c.log.Error("the rendezvous refused this node", "reason", code.String(), "err", err, "retry_in", d.Round(time.Millisecond))
		case !connectedAt.IsZero():
			c.log.Warn("lost rendezvous connection", "err", err, "retry_in", d.Round(time.Millisecond))
		default:
			c.log.Warn("rendezvous connection failed", "err", err, "retry_in", d.Round(time.Millisecond))
		}
		lastLogged = ""
		if code.Permanent() {
			lastLogged = err.Error()
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// refusalCode is the code of a refusal by the server at the handshake (0
// otherwise). A server that closes a joined connection (a revoked key, say) is
// tried again at the usual pace: the next handshake says whether it refuses.
func refusalCode(err error) Code {
	var re *RejectedError
	if errors.As(err, &re) {
		return re.Code
	}
	return 0
}

// Send relays payload to dst, a member of our group. It copies payload. It never
// blocks for long: when the send queue is full it waits a few milliseconds for
// room and then drops the datagram with ErrQueueFull. It returns ErrNotConnected
// while there is no rendezvous connection.
func (c *Client) Send(dst identity.PublicKey, payload []byte) error {
	if len(payload) > MaxDatagramLen {
		return ErrPayloadTooLarge
	}
	s := c.sess.Load()
	if s == nil {
		return ErrNotConnected
	}
	fb := c.pool.get(headerLen + keyLen + len(payload))
	putDatagram(fb.b, frameSend, &dst, payload)
	switch s.q.push(fb, false) {
	case pushed:
		return nil
	case pushFull:
		return c.sendWait(s, fb)
	}
	c.pool.put(fb)
	return ErrNotConnected
}

// sendWait waits up to sendWait for room in s's queue.
func (c *Client) sendWait(s *clientSession, fb *frameBuf) error {
	s.q.waiters.Add(1)
	defer s.q.waiters.Add(-1)
	var t *time.Timer
	defer func() {
		if t != nil {
			t.Stop() // Go >= 1.23: no stale tick survives Stop, so the timer is reusable
			c.timers.Put(t)
		}
	}()
	for {
		switch s.q.push(fb, false) { // again: the writer may have made room before we registered
		case pushed:
			return nil
		case pushClosed:
			c.pool.put(fb)
			return ErrNotConnected
		}
		if t == nil {
			if v, ok := c.timers.Get().(*time.Timer); ok {
				t = v
				t.Reset(sendWait)
			} else {
				t = time.NewTimer(sendWait)
			}
		}
		select {
		case <-s.q.space:
		case <-t.C:
			c.pool.put(fb)
			c.drops.Add(1)
			return ErrQueueFull
		}
	}
}

// ServerInfo returns what the rendezvous announced on the current connection
// (its STUN ports); while reconnecting, what the last connection announced. It is
// the zero ServerInfo before the first frame arrives (right after Welcome) and with
// a server that announces nothing.
func (c *Client) ServerInfo() ServerInfo {
	if p := c.info.Load(); p != nil {
		return ServerInfo{STUNPorts: slices.Clone(p.STUNPorts)}
	}
	return ServerInfo{}
}

// STUNServers returns the rendezvous' STUN servers as "host:port" strings, primary
// first: the host of the address this client dials (a URL's host name for a
// ws:// or wss:// address) with each announced port. It is empty when the server
// announced none (see ServerInfo).
func (c *Client) STUNServers() []string {
	ports := c.ServerInfo().STUNPorts
	if len(ports) == 0 {
		return nil
	}
	host, _ := addrHost(c.cfg.Addr) // checked by NewClient
	out := make([]string, len(ports))
	for i, p := range ports {
		out[i] = net.JoinHostPort(host, strconv.Itoa(int(p)))
	}
	return out
}

// Peers returns the group's members present at the rendezvous (not us), in key
// order. While reconnecting it is the last known list.
func (c *Client) Peers() []identity.PublicKey { return c.pres.list() }

// Status returns a snapshot of the connection state and counters.
func (c *Client) Status() Status {
	c.mu.Lock()
	st := Status{
		Connected:     c.connected,
		Since:         c.since,
		LastError:     c.lastErr,
		Connects:      c.connects,
		Refused:       c.refused,
		OthersInGroup: c.others,
	}
	c.mu.Unlock()
	st.Addr = displayAddr(c.cfg.Addr)
	st.Transport = c.cfg.Transport.Name()
	st.RTT = time.Duration(c.rtt.Load())
	st.BytesIn, st.BytesOut = c.bytesIn.Load(), c.bytesOut.Load()
	st.PacketsIn, st.PacketsOut = c.pktsIn.Load(), c.pktsOut.Load()
	st.Drops = c.drops.Load()
	return st
}

// deadAfter is how long the client waits for any frame before declaring the
// rendezvous dead: two ping intervals and a half.
func (c *Client) deadAfter() time.Duration { return 2*c.cfg.PingInterval + c.cfg.PingInterval/2 }

func (c *Client) setConnected(up bool, rtt time.Duration, err error) {
	c.mu.Lock()
	c.connected = up
	c.since = time.Now()
	if up {
		c.connects++
		c.refused = 0
	} else if err != nil {
		c.lastErr = err.Error() // at once: Status must say why from the moment it says down
	}
	c.mu.Unlock()
	if c.cfg.OnState != nil {
		c.cfg.OnState(ConnState{Connected: up, Addr: displayAddr(c.cfg.Addr), RTT: rtt, Err: err})
	}
}

func (c *Client) emit(evs []PresenceEvent) {
	if c.cfg.OnPresence == nil {
		return
	}
	for _, ev := range evs {
		c.cfg.OnPresence(ev)
	}
}
