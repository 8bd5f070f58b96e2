package overlay

// Wire formats the overlay puts inside a link. Everything here travels sealed by the
// link's seal.Channel, so the rendezvous never sees it; peers still may be buggy or
// hostile, so every decoder bounds lengths and rejects junk with a named error.
//
// Hello (inside our handshake messages, seal.ChannelConfig.Hello and
// ResponseHello, and in msgInfo):
//
//	u8  version (2; 1 ends after the name)
//	u64 epoch        generation epoch of the sender (see doc.go)
//	u8  n, n bytes   node name (<= 64; empty in an initiation)
//	u16 n, n bytes   the sender's catalog entry (JSON catalogEntry; n = 0: none,
//	                 always so in an initiation, which a node outside the group
//	                 could read; a response only group members can)
//
// Link message (the plaintext of one sealed datagram):
//
//	u8  kind         msgKCP: the rest is one KCP segment
//	                 msgGossip: the rest is one memberlist packet
//	                 msgBye: (empty) the sender is leaving the group cleanly
//	                 msgICE: an ICE signaling message (pkg/ice's format)
//	                 msgNAT: JSON natInfo: what the sender knows of its network
//	                 msgPing, msgPong: u64 nonce
//	                 msgInfo: a hello with the sender's name and catalog entry
//	                 (the initiator's, which its initiation could not carry)
//	                 msgHard: JSON hardNATMsg: a birthday attempt's coordination
//
// Stream open (first bytes a stream opener writes):
//
//	u8  kind         streamService | streamServiceFrom | streamCatalog | streamGossip
//	service: u16 serveid
//	service from: u16 serveid | u8 family (4, 6) | address (4 or 16 bytes) | u16 port:
//	                 the client's address, for a service that sends its target a
//	                 PROXY protocol header. Only sent for a service whose catalog
//	                 entry says WantsClient, so a node that predates it never
//	                 receives one.
//	adhoc: u8 proto (0 tcp, 1 udp) | u8 n, n bytes "IP:PORT": ask the node for
//	                 ad-hoc access to a target it never declared (adhoc.go); it
//	                 answers a status, then on ok u16 serveid, and closes
//	gossip: then memberlist's own stream protocol
//
// Service stream status (first bytes the acceptor writes back):
//
//	u8  code         0 = ok, else an error code; then
//	u8  n, n bytes   a human-readable reason (empty when ok)
//
// Catalog stream (a fetch): the acceptor answers u32 length + JSON catalogEntry
// (<= maxCatalogBytes) with its own services, then closes.
//
// Gossip user message (memberlist broadcast, see gossip.go):
//
//	u8  kind         gossipNotice: owner [32] | version u64: the owner's
//	                 catalog entry has this version (fetch it from the owner)
//
// Gossip push/pull state: n x (owner [32] | version u64), n <= maxStateNotices.
// Gossip carries versions, never entries: an entry is taken only from its owner
// (over the owner's link: a fetch, its hello or msgInfo), so no member can
// forge or replay another's services.

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"

	"github.com/meshnode/meshnode/pkg/control/api"
	"github.com/meshnode/meshnode/pkg/identity"
	"github.com/meshnode/meshnode/pkg/seal"
)

const helloVersion = 2

// Link message kinds.
const (
	msgKCP    byte = 1
	msgGossip byte = 2
	msgBye    byte = 3
	msgICE    byte = 4
	msgNAT    byte = 5
	msgPing   byte = 6
	msgPong   byte = 7
	msgInfo   byte = 8
	msgHard   byte = 9
)

// Stream kinds.
const (
	streamService     byte = 1
	streamServiceFrom byte = 4
	streamAdhoc       byte = 5
	streamCatalog     byte = 2
	streamGossip      byte = 3
)

// Gossip user message kinds (1, a whole entry, is retired: entries come only
// from their owners).
const gossipNotice byte = 2

// Service stream status codes.
const (
	statusOK         byte = 0
	statusNoService  byte = 1 // the serveid is not served by this node
	statusDialFailed byte = 2 // the local target refused or timed out
	statusBusy       byte = 3 // too many connections for this service
	// Ad-hoc refusals (answers to streamAdhoc only).
	statusNotAllowed byte = 4 // the node's ad-hoc rules refuse the target
	statusQuotaFull  byte = 5 // adhoc-max ad-hoc services exist
	statusLast            = statusQuotaFull
)

const (
	maxNodeName     = 64
	maxCatalogBytes = 256 << 10
	maxStateNotices = 1 << 16
	maxReason       = 255
)

var errMalformed = errors.New("malformed message")

type hello struct {
	Epoch uint64
	Name  string
	Entry []byte // the sender's catalog entry as marshalEntry encodes it; nil: none
}

// maxHelloEntry bounds hello.Entry so a hello fits seal.MaxHello with the
// longest name; a bigger entry reaches peers by gossip alone.
const maxHelloEntry = seal.MaxHello - 1 - 8 - 1 - maxNodeName - 2

func (h hello) marshal() []byte {
	name := h.Name
	if len(name) > maxNodeName {
		name = name[:maxNodeName]
	}
	entry := h.Entry
	if len(entry) > maxHelloEntry {
		entry = nil
	}
	b := make([]byte, 0, 12+len(name)+len(entry))
	b = append(b, helloVersion)
	b = binary.BigEndian.AppendUint64(b, h.Epoch)
	b = append(b, byte(len(name)))
	b = append(b, name...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(entry)))
	return append(b, entry...)
}

func parseHello(b []byte) (hello, error) {
	var h hello
	if len(b) < 10 {
		return h, fmt.Errorf("hello: %d bytes: %w", len(b), errMalformed)
	}
	if b[0] != 1 && b[0] != helloVersion {
		return h, fmt.Errorf("hello: version %d, this node speaks 1-%d", b[0], helloVersion)
	}
	h.Epoch = binary.BigEndian.Uint64(b[1:9])
	n := int(b[9])
	if n > maxNodeName || len(b) < 10+n {
		return h, fmt.Errorf("hello: name length %d of %d bytes: %w", n, len(b)-10, errMalformed)
	}
	h.Name = string(b[10 : 10+n])
	rest := b[10+n:]
	if b[0] == 1 {
		if len(rest) != 0 {
			return h, fmt.Errorf("hello: %d bytes after the name: %w", len(rest), errMalformed)
		}
		return h, nil
	}
	if len(rest) < 2 {
		return h, fmt.Errorf("hello: no catalog entry length: %w", errMalformed)
	}
	m := int(binary.BigEndian.Uint16(rest))
	if m > maxHelloEntry || len(rest) != 2+m {
		return h, fmt.Errorf("hello: catalog entry length %d of %d bytes: %w", m, len(rest)-2, errMalformed)
	}
	if m > 0 {
		h.Entry = append([]byte(nil), rest[2:]...) // a copy: b may be a pooled buffer, reused once h is parsed
	}
	return h, nil
}

type streamOpen struct {
	Kind    byte
	ServeID ServeID
	From    netip.AddrPort // streamServiceFrom: the client's address
	Adhoc   adhocRequest   // streamAdhoc
}

// adhocRequest asks for ad-hoc access to Target (IP:PORT as the serving node
// reaches it).
type adhocRequest struct {
	Proto  string // tcp | udp
	Target netip.AddrPort
}

func (o streamOpen) marshal() []byte {
	switch o.Kind {
	case streamService:
		return []byte{o.Kind, byte(o.ServeID >> 8), byte(o.ServeID)}
	case streamServiceFrom:
		a := o.From.Addr() // as given: the opener unmaps 4-in-6 addresses
		b := []byte{o.Kind, byte(o.ServeID >> 8), byte(o.ServeID), 4}
		if a.Is6() {
			b[3] = 6
		}
		b = append(b, a.AsSlice()...)
		return binary.BigEndian.AppendUint16(b, o.From.Port())
	case streamAdhoc:
		p := byte(0)
		if o.Adhoc.Proto == "udp" {
			p = 1
		}
		t := o.Adhoc.Target.String()
		return append([]byte{o.Kind, p, byte(len(t))}, t...)
	}
	return []byte{o.Kind}
}

func readStreamOpen(r io.Reader) (streamOpen, error) {
	var o streamOpen
	var k [1]byte
	if _, err := io.ReadFull(r, k[:]); err != nil {
		return o, fmt.Errorf("read stream kind: %w", err)
	}
	o.Kind = k[0]
	switch o.Kind {
	case streamService, streamServiceFrom:
		var id [2]byte
		if _, err := io.ReadFull(r, id[:]); err != nil {
			return o, fmt.Errorf("read serveid: %w", err)
		}
		o.ServeID = ServeID(binary.BigEndian.Uint16(id[:]))
		if o.ServeID == 0 || o.ServeID > api.MaxServeID {
			return o, fmt.Errorf("serveid %d out of range: %w", o.ServeID, errMalformed)
		}
		if o.Kind == streamServiceFrom {
			var err error
			if o.From, err = readAddrPort(r); err != nil {
				return o, err
			}
		}
	case streamAdhoc:
		var h [2]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return o, fmt.Errorf("read ad-hoc request: %w", err)
		}
		switch h[0] {
		case 0:
			o.Adhoc.Proto = "tcp"
		case 1:
			o.Adhoc.Proto = "udp"
		default:
			return o, fmt.Errorf("ad-hoc request proto %d: %w", h[0], errMalformed)
		}
		t := make([]byte, h[1])
		if _, err := io.ReadFull(r, t); err != nil {
			return o, fmt.Errorf("read ad-hoc target: %w", err)
		}
		ap, err := netip.ParseAddrPort(string(t))
		if err != nil || ap.Port() == 0 || ap.Addr().Zone() != "" || ap.String() != string(t) { // canonical only
			return o, fmt.Errorf("ad-hoc target %q is not IP:PORT: %w", t, errMalformed)
		}
		o.Adhoc.Target = ap
	case streamCatalog, streamGossip:
	default:
		return o, fmt.Errorf("stream kind %d: %w", o.Kind, errMalformed)
	}
	return o, nil
}

// readAddrPort reads a client address: u8 family | address | u16 port.
func readAddrPort(r io.Reader) (netip.AddrPort, error) {
	var fam [1]byte
	if _, err := io.ReadFull(r, fam[:]); err != nil {
		return netip.AddrPort{}, fmt.Errorf("read client address family: %w", err)
	}
	var b [18]byte
	n := 4
	switch fam[0] {
	case 4:
	case 6:
		n = 16
	default:
		return netip.AddrPort{}, fmt.Errorf("client address family %d: %w", fam[0], errMalformed)
	}
	if _, err := io.ReadFull(r, b[:n+2]); err != nil {
		return netip.AddrPort{}, fmt.Errorf("read client address: %w", err)
	}
	a, _ := netip.AddrFromSlice(b[:n])
	return netip.AddrPortFrom(a, binary.BigEndian.Uint16(b[n:])), nil
}

func marshalStatus(code byte, reason string) []byte {
	if len(reason) > maxReason {
		reason = reason[:maxReason]
	}
	b := make([]byte, 0, 2+len(reason))
	b = append(b, code, byte(len(reason)))
	return append(b, reason...)
}

// statusError is a refusal the serving node sent for a service stream.
type statusError struct {
	Code   byte
	Reason string
}

func (e *statusError) Error() string { return e.Reason }

func readStatus(r io.Reader) error {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return fmt.Errorf("read service status: %w", err)
	}
	reason := make([]byte, h[1])
	if _, err := io.ReadFull(r, reason); err != nil {
		return fmt.Errorf("read service status: %w", err)
	}
	if h[0] == statusOK {
		if len(reason) != 0 {
			return fmt.Errorf("service status ok with a reason: %w", errMalformed)
		}
		return nil
	}
	if h[0] > statusLast {
		return fmt.Errorf("service status code %d: %w", h[0], errMalformed)
	}
	return &statusError{Code: h[0], Reason: string(reason)}
}

func writeCatalog(w io.Writer, e catalogEntry) error {
	body, err := marshalEntry(e)
	if err != nil {
		return err
	}
	b := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(body)), uint32(len(body)))
	_, err = w.Write(append(b, body...))
	return err
}

func readCatalog(r io.Reader) (catalogEntry, error) {
	var l [4]byte
	if _, err := io.ReadFull(r, l[:]); err != nil {
		return catalogEntry{}, fmt.Errorf("read catalog length: %w", err)
	}
	n := binary.BigEndian.Uint32(l[:])
	if n > maxCatalogBytes {
		return catalogEntry{}, fmt.Errorf("catalog of %d bytes exceeds %d: %w", n, maxCatalogBytes, errMalformed)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return catalogEntry{}, fmt.Errorf("read catalog: %w", err)
	}
	return parseEntry(body)
}

// marshalEntry encodes an entry for peers: service targets and limits stay private.
func marshalEntry(e catalogEntry) ([]byte, error) {
	svcs := make([]Service, len(e.Services))
	for i, s := range e.Services {
		s.Target, s.Limits = "", nil
		svcs[i] = s
	}
	e.Services = svcs
	body, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	if len(body) > maxCatalogBytes {
		return nil, fmt.Errorf("catalog of %d bytes exceeds %d", len(body), maxCatalogBytes)
	}
	return body, nil
}

func parseEntry(body []byte) (catalogEntry, error) {
	var e catalogEntry
	if err := json.Unmarshal(body, &e); err != nil {
		return e, fmt.Errorf("catalog entry: %v: %w", err, errMalformed)
	}
	return e, validateEntry(&e)
}

func validateEntry(e *catalogEntry) error {
	if e.Owner.IsZero() {
		return fmt.Errorf("catalog entry without an owner: %w", errMalformed)
	}
	if e.Version == 0 {
		return fmt.Errorf("catalog entry of %s without a version: %w", e.Owner.Short(), errMalformed)
	}
	if err := validateLabel("node name", e.Name, maxNodeName); err != nil {
		return fmt.Errorf("catalog entry of %s: %v: %w", e.Owner.Short(), err, errMalformed)
	}
	if len(e.Services) > api.MaxServeID {
		return fmt.Errorf("catalog entry lists %d services: %w", len(e.Services), errMalformed)
	}
	seen := make(map[ServeID]bool, len(e.Services))
	for i, s := range e.Services {
		if err := s.Validate(); err != nil {
			return fmt.Errorf("catalog entry %d of %s: %v: %w", i, e.Owner.Short(), err, errMalformed)
		}
		if seen[s.ID] {
			return fmt.Errorf("catalog of %s lists serveid %d twice: %w", e.Owner.Short(), s.ID, errMalformed)
		}
		seen[s.ID] = true
		e.Services[i].Target, e.Services[i].Limits = "", nil
	}
	return nil
}

// notice is an owner's catalog version, as gossip carries it.
type notice struct {
	Owner   identity.PublicKey
	Version uint64
}

const noticeLen = identity.KeySize + 8

// marshalState encodes a push/pull state: the versions this node holds.
func marshalState(ns []notice) []byte {
	b := make([]byte, 0, len(ns)*noticeLen)
	for _, n := range ns {
		b = append(b, n.Owner[:]...)
		b = binary.BigEndian.AppendUint64(b, n.Version)
	}
	return b
}

// parseState decodes a push/pull state; a malformed one is an error as a whole.
func parseState(b []byte) ([]notice, error) {
	if len(b)%noticeLen != 0 || len(b)/noticeLen > maxStateNotices {
		return nil, fmt.Errorf("catalog state of %d bytes: %w", len(b), errMalformed)
	}
	ns := make([]notice, len(b)/noticeLen)
	for i := range ns {
		r := b[i*noticeLen:]
		copy(ns[i].Owner[:], r)
		ns[i].Version = binary.BigEndian.Uint64(r[identity.KeySize:])
		if ns[i].Owner.IsZero() || ns[i].Version == 0 {
			return nil, fmt.Errorf("catalog state entry %d without owner or version: %w", i, errMalformed)
		}
	}
	return ns, nil
}

func marshalGossipNotice(n notice) []byte {
	b := append([]byte{gossipNotice}, n.Owner[:]...)
	return binary.BigEndian.AppendUint64(b, n.Version)
}

// parseGossip decodes a gossip user message: a notice.
func parseGossip(b []byte) (notice, error) {
	var n notice
	if len(b) == 0 {
		return n, fmt.Errorf("empty gossip message: %w", errMalformed)
	}
	if b[0] != gossipNotice {
		return n, fmt.Errorf("gossip message kind %d: %w", b[0], errMalformed)
	}
	if len(b) != 1+noticeLen {
		return n, fmt.Errorf("gossip notice of %d bytes: %w", len(b), errMalformed)
	}
	copy(n.Owner[:], b[1:])
	n.Version = binary.BigEndian.Uint64(b[1+identity.KeySize:])
	if n.Owner.IsZero() || n.Version == 0 {
		return n, fmt.Errorf("gossip notice without owner or version: %w", errMalformed)
	}
	return n, nil
}
