package overlay

// Wire formats the overlay puts inside a link. Everything here travels sealed by the
// link's seal.Channel, so the rendezvous never sees it; peers still may be buggy or
// hostile, so every decoder bounds lengths and rejects junk with a named error.
//
// Hello (inside our handshake messages, seal.ChannelConfig.Hello):
//
//	u8  version (1)
//	u64 epoch        generation epoch of the sender (see doc.go)
//	u8  n, n bytes   node name (<= 64)
//
// Link message (the plaintext of one sealed datagram):
//
//	u8  kind         msgKCP: the rest is one KCP segment
//
// Stream open (first bytes a stream opener writes):
//
//	u8  kind         streamService | streamCatalog
//	service: u16 serveid
//
// Service stream status (first bytes the acceptor writes back):
//
//	u8  code         0 = ok, else an error code; then
//	u8  n, n bytes   a human-readable reason (empty when ok)
//
// Catalog stream: u32 length + JSON catalogMsg (<= maxCatalogBytes), then close.

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

const helloVersion = 1

// Link message kinds.
const (
	msgKCP byte = 1
)

// Stream kinds.
const (
	streamService byte = 1
	streamCatalog byte = 2
)

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
	maxReason       = 255
)

var errMalformed = errors.New("malformed message")

type hello struct {
	Epoch uint64
	Name  string
}

func (h hello) marshal() []byte {
	name := h.Name
	if len(name) > maxNodeName {
		name = name[:maxNodeName]
	}
	b := make([]byte, 0, 10+len(name))
	b = append(b, helloVersion)
	b = binary.BigEndian.AppendUint64(b, h.Epoch)
	b = append(b, byte(len(name)))
	return append(b, name...)
}

func parseHello(b []byte) (hello, error) {
	var h hello
	if len(b) < 10 {
		return h, fmt.Errorf("hello: %d bytes: %w", len(b), errMalformed)
	}
	if b[0] != helloVersion {
		return h, fmt.Errorf("hello: version %d, this node speaks %d", b[0], helloVersion)
	}
	h.Epoch = binary.BigEndian.Uint64(b[1:9])
	n := int(b[9])
	if n > maxNodeName || len(b) != 10+n {
		return h, fmt.Errorf("hello: name length %d of %d bytes: %w", n, len(b)-10, errMalformed)
	}
	h.Name = string(b[10:])
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
	case streamCatalog:
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

// catalogMsg is what a node tells a peer about the services it serves.
type catalogMsg struct {
	// Version orders messages from one sender (later replaces earlier).
	Version  uint64    `json:"version"`
	Services []Service `json:"services"`
}

func writeCatalog(w io.Writer, m catalogMsg) error {
	for i := range m.Services {
		m.Services[i].Target = "" // targets stay private to the owner
	}
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if len(body) > maxCatalogBytes {
		return fmt.Errorf("catalog of %d bytes exceeds %d", len(body), maxCatalogBytes)
	}
	b := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(body)), uint32(len(body)))
	_, err = w.Write(append(b, body...))
	return err
}

func readCatalog(r io.Reader) (catalogMsg, error) {
	var m catalogMsg
	var l [4]byte
	if _, err := io.ReadFull(r, l[:]); err != nil {
		return m, fmt.Errorf("read catalog length: %w", err)
	}
	n := binary.BigEndian.Uint32(l[:])
	if n > maxCatalogBytes {
		return m, fmt.Errorf("catalog of %d bytes exceeds %d: %w", n, maxCatalogBytes, errMalformed)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return m, fmt.Errorf("read catalog: %w", err)
	}
	return parseCatalog(body)
}

func parseCatalog(body []byte) (catalogMsg, error) {
	var m catalogMsg
	if err := json.Unmarshal(body, &m); err != nil {
		return m, fmt.Errorf("catalog: %v: %w", err, errMalformed)
	}
	if len(m.Services) > MaxServeID {
		return m, fmt.Errorf("catalog lists %d services: %w", len(m.Services), errMalformed)
	}
	seen := make(map[ServeID]bool, len(m.Services))
	for i, s := range m.Services {
		if err := s.Validate(); err != nil {
			return m, fmt.Errorf("catalog entry %d: %v: %w", i, err, errMalformed)
		}
		if seen[s.ID] {
			return m, fmt.Errorf("catalog lists serveid %d twice: %w", s.ID, errMalformed)
		}
		seen[s.ID] = true
		m.Services[i].Target = ""
	}
	return m, nil
}
