package overlay

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/memberlist"
	"golang.org/x/crypto/blake2s"

	"github.com/meshnode/meshnode/pkg/identity"
)

// gossipTransport is memberlist's NodeAwareTransport over the node's links:
// memberlist packets travel as sealed link datagrams (msgGossip), its streams as
// link streams (streamGossip). Nodes need no listening port of their own, and
// gossip works wherever links work, relayed or direct.
//
// memberlist wants IP addresses; every node gets a synthetic one derived from its
// key (gossipAddr), and memberlist's node names are node IDs, by which packets
// are routed.
type gossipTransport struct {
	n       *Node
	packets chan *memberlist.Packet
	streams chan net.Conn
	done    chan struct{}
}

// gossipPort is the port of every synthetic gossip address.
const gossipPort = 7946

// Bounds on what waits for memberlist: beyond them packets are dropped (as UDP
// would) and streams refused.
const (
	gossipPacketQueue = 1024
	gossipStreamQueue = 64
)

func newGossipTransport(n *Node) *gossipTransport {
	return &gossipTransport{
		n:       n,
		packets: make(chan *memberlist.Packet, gossipPacketQueue),
		streams: make(chan net.Conn, gossipStreamQueue),
		done:    make(chan struct{}),
	}
}

// gossipAddr is a node's synthetic gossip address: an IPv6 unique local address
// (fd00::/8) holding 120 bits of a hash of the node key.
func gossipAddr(k identity.PublicKey) net.IP {
	h := blake2s.Sum256(append([]byte("meshnode gossip addr\x00"), k[:]...))
	ip := make(net.IP, net.IPv6len)
	ip[0] = 0xfd
	copy(ip[1:], h[:15])
	return ip
}

func gossipNetAddr(k identity.PublicKey) net.Addr {
	return &net.UDPAddr{IP: gossipAddr(k), Port: gossipPort}
}

func (t *gossipTransport) FinalAdvertiseAddr(string, int) (net.IP, int, error) {
	return gossipAddr(t.n.pub), gossipPort, nil
}

// peerOf finds the node an address names: by name (node ID), which memberlist
// always gives us since every join names its node.
func (t *gossipTransport) peerOf(a memberlist.Address) (identity.PublicKey, error) {
	if a.Name == "" {
		return identity.PublicKey{}, fmt.Errorf("gossip address %s has no node name", a.Addr)
	}
	k, err := identity.ParsePublicKey(a.Name)
	if err != nil {
		return k, fmt.Errorf("gossip address: %w", err)
	}
	return k, nil
}

func (t *gossipTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

// WriteToAddress seals b to the node and sends it on the link's route. Like UDP,
// it never blocks and a packet without a session yet is dropped (the handshake it
// triggers lets the next one through).
func (t *gossipTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	peer, err := t.peerOf(a)
	if err != nil {
		return time.Time{}, err
	}
	l := t.n.linkFor(peer, "")
	if l == nil {
		return time.Time{}, fmt.Errorf("no link to %s", peer.Short())
	}
	l.sendMessage(msgGossip, b)
	return time.Now(), nil
}

func (t *gossipTransport) PacketCh() <-chan *memberlist.Packet { return t.packets }

func (t *gossipTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

// DialAddressTimeout opens a gossip stream over the link to the node, waiting up
// to timeout for the link.
func (t *gossipTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	peer, err := t.peerOf(a)
	if err != nil {
		return nil, err
	}
	l := t.n.linkFor(peer, "")
	if l == nil {
		return nil, fmt.Errorf("no link to %s", peer.Short())
	}
	ctx, cancel := context.WithTimeout(t.n.runContext(), timeout)
	defer cancel()
	st, err := l.openStream(ctx)
	if err != nil {
		return nil, err
	}
	st.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := st.Write(streamOpen{Kind: streamGossip}.marshal()); err != nil {
		st.Close()
		return nil, fmt.Errorf("open gossip stream: %w", err)
	}
	st.SetWriteDeadline(time.Time{})
	return st, nil
}

func (t *gossipTransport) StreamCh() <-chan net.Conn { return t.streams }

func (t *gossipTransport) Shutdown() error {
	select {
	case <-t.done:
	default:
		close(t.done)
	}
	return nil
}

// deliverPacket hands a gossip packet from peer to memberlist (a copy: b belongs
// to the caller).
func (t *gossipTransport) deliverPacket(peer identity.PublicKey, b []byte) {
	p := &memberlist.Packet{Buf: append([]byte(nil), b...), From: gossipNetAddr(peer), Timestamp: time.Now()}
	select {
	case <-t.done:
	case t.packets <- p:
	default: // memberlist is behind: drop, as a full UDP socket would
	}
}

// deliverStream hands an accepted gossip stream to memberlist.
func (t *gossipTransport) deliverStream(c net.Conn) {
	select {
	case <-t.done:
		c.Close()
	case t.streams <- c:
	default:
		c.Close()
	}
}

var _ memberlist.NodeAwareTransport = (*gossipTransport)(nil)
