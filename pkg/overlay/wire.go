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
//	u8  kind         streamService | streamCatalog | streamGossip
//	service: u16 serveid
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
	streamService byte = 1
	streamCatalog byte = 2
	streamGossip  byte = 3
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
}

func (o streamOpen) marshal() []byte {
	if o.Kind == streamService {
		return []byte{o.Kind, byte(o.ServeID >> 8), byte(o.ServeID)}
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
	case streamService:
		var id [2]byte
		if _, err := io.ReadFull(r, id[:]); err != nil {
			return o, fmt.Errorf("read serveid: %w", err)
		}
		o.ServeID = ServeID(binary.BigEndian.Uint16(id[:]))
		if o.ServeID == 0 || o.ServeID > MaxServeID {
			return o, fmt.Errorf("serveid %d out of range: %w", o.ServeID, errMalformed)
		}
	case streamCatalog, streamGossip:
	default:
		return o, fmt.Errorf("stream kind %d: %w", o.Kind, errMalformed)
	}
	return o, nil
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
	if h[0] > statusBusy {
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

// marshalEntry encodes an entry for peers: service targets stay private.
func marshalEntry(e catalogEntry) ([]byte, error) {
	svcs := make([]Service, len(e.Services))
	for i, s := range e.Services {
		s.Target = ""
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
	if len(e.Services) > MaxServeID {
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
		e.Services[i].Target = ""
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
