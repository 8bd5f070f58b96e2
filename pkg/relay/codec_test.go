package relay

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/meshnode/meshnode/pkg/identity"
)

func key(b byte) identity.PublicKey {
	var k identity.PublicKey
	for i := range k {
		k[i] = b
	}
	return k
}

func hdr(t frameType, n uint32) []byte {
	b := []byte{byte(t), 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], n)
	return b
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// wantErr checks err against a wanted substring ("" = no error) and, for errors,
// that it is a protocol error or a version error.
func wantErr(t *testing.T, name string, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Errorf("%s: unexpected error %v", name, err)
		}
		return
	}
	var ve *VersionError
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("%s: err = %v, want %q", name, err, want)
	} else if !errors.Is(err, ErrProtocol) && !errors.As(err, &ve) {
		t.Errorf("%s: %v is neither a protocol nor a version error", name, err)
	}
}

func TestParseHeader(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		typ  frameType
		n    int
		want string
	}{
		{"empty payload", hdr(framePeersEnd, 0), framePeersEnd, 0, ""},
		{"max", hdr(frameSend, MaxFrameLen), frameSend, MaxFrameLen, ""},
		{"max+1", hdr(frameSend, MaxFrameLen+1), 0, 0, "Send frame of 65537 bytes exceeds the 65536-byte limit"},
		{"huge", hdr(0x47, 0xffffffff), 0, 0, "exceeds"},
		{"truncated", []byte{1, 0, 0}, 0, 0, "truncated frame header (3 of 5 bytes)"},
		{"nil", nil, 0, 0, "truncated"},
		{"unknown type is the caller's business", hdr(0x7f, 3), 0x7f, 3, ""},
	} {
		typ, n, err := parseHeader(tc.in)
		wantErr(t, tc.name, err, tc.want)
		if tc.want == "" && (typ != tc.typ || n != tc.n) {
			t.Errorf("%s: got %v/%d, want %v/%d", tc.name, typ, n, tc.typ, tc.n)
		}
	}
}

func TestFrameTypeString(t *testing.T) {
	for typ, want := range map[frameType]string{frameSend: "Send", framePeersEnd: "PeersEnd", 0x7e: "type 0x7e"} {
		if got := typ.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", typ, got, want)
		}
	}
	if framePong.optional() || !frameType(0x80).optional() {
		t.Error("optional() misclassifies")
	}
}

func TestServerHello(t *testing.T) {
	h := serverHello{version: ProtocolVersion, ephPub: key(7)}
	h.challenge[0], h.challenge[31] = 1, 2
	frame := appendServerHello(nil, h)
	if typ, n, _ := parseHeader(frame); typ != frameServerHello || n != len(frame)-headerLen {
		t.Fatalf("header %v/%d for %d bytes", typ, n, len(frame))
	}
	good := frame[headerLen:]
	for _, tc := range []struct {
		name, want string
		in         []byte
	}{
		{"good", "", good},
		{"empty", "too short for a version", nil},
		{"one byte", "too short", []byte{0}},
		{"newer server", "protocol version mismatch: server 3, client 2", cat([]byte{0, 3}, good[2:])},
		{"newer server, other layout", "server 3, client 2", []byte{0, 3, 9}},
		{"short", "ServerHello is 65 bytes, want 66", good[:len(good)-1]},
		{"long", "ServerHello is 67 bytes", cat(good, []byte{0})},
	} {
		got, err := parseServerHello(tc.in)
		wantErr(t, tc.name, err, tc.want)
		if tc.want == "" && got != h {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, h)
		}
	}
}

func TestClientHello(t *testing.T) {
	h := clientHello{version: ProtocolVersion, key: key(2), group: identity.GroupID(key(1)), groupKey: identity.GroupKey(key(4))}
	h.proof[5] = 9
	h.instance[0] = 3
	h.groupSig[63] = 7
	h.authID[1] = 8
	h.auth[31] = 6
	good := appendClientHello(nil, h)[headerLen:]
	if len(good) != clientHelloLen {
		t.Fatalf("encoded %d bytes, want %d", len(good), clientHelloLen)
	}
	for _, tc := range []struct {
		name, want string
		in         []byte
		out        *clientHello
	}{
		{"good", "", good, &h},
		{"older client", "protocol version mismatch: server 2, client 1", cat([]byte{0, 1}, good[2:]), nil},
		{"newer client, tiny", "server 2, client 3", []byte{0, 3}, nil},
		{"empty", "too short for a version", nil, nil},
		{"short", "ClientHello is 241 bytes, want 242", good[:len(good)-1], nil},
		{"long", "ClientHello is 243 bytes, want 242", cat(good, []byte{0}), nil},
	} {
		got, err := parseClientHello(tc.in)
		wantErr(t, tc.name, err, tc.want)
		if tc.out != nil && got != *tc.out {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, *tc.out)
		}
	}
}

func TestSmallMessages(t *testing.T) {
	k := key(0xab)
	present := appendPeerPresent(nil, k)[headerLen:]
	for _, tc := range []struct {
		name, want string
		parse      func() error
	}{
		{"empty ok", "", func() error { return parseEmpty(frameWelcome, nil) }},
		{"empty with bytes", "Welcome carries 1 bytes, want none", func() error { return parseEmpty(frameWelcome, []byte{0}) }},
		{"error ok", "", func() error {
			c, m, err := parseError([]byte("\x02server full"))
			if err == nil && (m != "server full" || c != CodeServerFull) {
				t.Errorf("error %v %q", c, m)
			}
			return err
		}},
		{"error empty", "Error is 0 bytes, want 2 to 1025", func() error { _, _, err := parseError(nil); return err }},
		{"error code only", "Error is 1 bytes", func() error { _, _, err := parseError([]byte{1}); return err }},
		{"error code 0", "Error code 0", func() error { _, _, err := parseError([]byte{0, 'x'}); return err }},
		{"error long", "Error is 1026 bytes", func() error { _, _, err := parseError(make([]byte, MaxErrorLen+2)); return err }},
		{"error not UTF-8", "not valid UTF-8", func() error { _, _, err := parseError([]byte{1, 0xc3}); return err }},
		{"present ok", "", func() error {
			gk, err := parsePeerPresent(present)
			if err == nil && gk != k {
				t.Errorf("present: %v", gk.Short())
			}
			return err
		}},
		{"present short", "PeerPresent is 31 bytes, want 32", func() error { _, err := parsePeerPresent(k[:31]); return err }},
		{"present with a name (version 1)", "PeerPresent is 35 bytes, want 32", func() error {
			_, err := parsePeerPresent(cat(k[:], []byte("nas")))
			return err
		}},
		{"group info ok", "", func() error {
			gi, err := parseGroupInfo(appendGroupInfo(nil, GroupInfo{Others: 3})[headerLen:])
			if err == nil && gi.Others != 3 {
				t.Errorf("group info %+v", gi)
			}
			return err
		}},
		{"group info later fields", "", func() error { _, err := parseGroupInfo([]byte{0, 0, 0, 1, 9, 9}); return err }},
		{"group info short", "GroupInfo is 3 bytes", func() error { _, err := parseGroupInfo([]byte{0, 0, 1}); return err }},
		{"group info absurd", "GroupInfo counts", func() error { _, err := parseGroupInfo([]byte{0xff, 0, 0, 1}); return err }},
		{"gone ok", "", func() error {
			gk, err := parsePeerGone(k[:])
			if err == nil && gk != k {
				t.Error("gone: wrong key")
			}
			return err
		}},
		{"gone short", "PeerGone is 0 bytes, want 32", func() error { _, err := parsePeerGone(nil); return err }},
		{"gone long", "PeerGone is 33 bytes", func() error { _, err := parsePeerGone(cat(k[:], []byte{0})); return err }},
		{"datagram ok", "", func() error {
			gk, p, err := parseDatagram(frameRecv, cat(k[:], []byte("xyz")))
			if err == nil && (gk != k || string(p) != "xyz") {
				t.Errorf("datagram: %q", p)
			}
			return err
		}},
		{"datagram empty payload", "", func() error { _, _, err := parseDatagram(frameSend, k[:]); return err }},
		{"datagram short", "Send is 31 bytes, shorter than a key", func() error { _, _, err := parseDatagram(frameSend, k[:31]); return err }},
		{"ping ok", "", func() error {
			p, err := parsePing(framePing, []byte("12345678"))
			if err == nil && string(p[:]) != "12345678" {
				t.Error("ping: wrong bytes")
			}
			return err
		}},
		{"ping short", "Ping is 7 bytes, want 8", func() error { _, err := parsePing(framePing, make([]byte, 7)); return err }},
		{"pong long", "Pong is 9 bytes, want 8", func() error { _, err := parsePing(framePong, make([]byte, 9)); return err }},
	} {
		wantErr(t, tc.name, tc.parse(), tc.want)
	}
}

func TestAppendError(t *testing.T) {
	for _, tc := range []struct {
		code Code
		in   string
		want string
	}{
		{CodeServerFull, "", "server full"},
		{0, "", "protocol error"},
		{CodeNoAuthKey, "needs a key", "needs a key"},
		{CodeProtocol, strings.Repeat("é", 600), strings.Repeat("é", 512)}, // cut at a rune boundary
		{CodeProtocol, "bad \xff byte", "bad ? byte"},
	} {
		f := appendError(nil, tc.code, tc.in)
		typ, n, err := parseHeader(f)
		if err != nil || typ != frameError || n != len(f)-headerLen {
			t.Fatalf("%q: header %v %d %v", tc.in, typ, n, err)
		}
		code, got, err := parseError(f[headerLen:])
		wantCode := tc.code
		if wantCode == 0 {
			wantCode = CodeProtocol
		}
		if err != nil || got != tc.want || code != wantCode {
			t.Errorf("appendError(%v, %.20q) decodes to %v %.20q, %v; want %.20q", tc.code, tc.in, code, got, err, tc.want)
		}
	}
}

func TestPutDatagram(t *testing.T) {
	k := key(4)
	b := make([]byte, headerLen+keyLen+3)
	putDatagram(b, frameSend, &k, []byte("abc"))
	want := cat(hdr(frameSend, keyLen+3), k[:], []byte("abc"))
	if !bytes.Equal(b, want) {
		t.Fatalf("putDatagram = %x, want %x", b, want)
	}
}

func TestReadFrame(t *testing.T) {
	k := key(1)
	send := cat(hdr(frameSend, keyLen+2), k[:], []byte("hi"))
	for _, tc := range []struct {
		name   string
		in     []byte
		maxLen int
		typ    frameType
		body   []byte
		err    error  // errors.Is target, or nil
		want   string // substring, or ""
	}{
		{"one frame", send, MaxFrameLen, frameSend, send[headerLen:], nil, ""},
		{"empty payload", hdr(framePeersEnd, 0), 0, framePeersEnd, []byte{}, nil, ""},
		{"clean EOF", nil, MaxFrameLen, 0, nil, io.EOF, ""},
		{"EOF in header", send[:3], MaxFrameLen, 0, nil, io.ErrUnexpectedEOF, ""},
		{"EOF in body", send[:len(send)-1], MaxFrameLen, 0, nil, io.ErrUnexpectedEOF, ""},
		{"over the local limit", send, 8, 0, nil, ErrProtocol, "Send frame of 34 bytes exceeds the 8-byte limit here"},
		{"over the protocol limit", hdr(frameSend, MaxFrameLen+1), MaxFrameLen, 0, nil, ErrProtocol, "exceeds the 65536-byte limit"},
	} {
		br := bufio.NewReaderSize(bytes.NewReader(tc.in), headerLen+MaxFrameLen)
		typ, body, err := readFrame(br, tc.maxLen)
		if tc.err != nil || tc.want != "" {
			if err == nil || tc.err != nil && !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: err = %v, want %v %q", tc.name, err, tc.err, tc.want)
			}
			continue
		}
		if err != nil || typ != tc.typ || !bytes.Equal(body, tc.body) {
			t.Errorf("%s: got %v %x %v", tc.name, typ, body, err)
		}
	}
}

// TestRecvBuffered: the hint that another packet from the same source
// follows is given only for a whole Recv frame from that source already in
// the buffer, and asking leaves the frame just read intact.
func TestRecvBuffered(t *testing.T) {
	a, b := key(1), key(2)
	recv := func(k identity.PublicKey, p string) []byte {
		return cat(hdr(frameRecv, uint32(keyLen+len(p))), k[:], []byte(p))
	}
	first := recv(a, "first")
	for _, tc := range []struct {
		name string
		next []byte
		want bool
	}{
		{"a Recv from the same source", recv(a, "second"), true},
		{"a Recv from another source", recv(b, "second"), false},
		{"the same source, frame not all here", recv(a, "second")[:headerLen+keyLen+2], false},
		{"only part of the header", recv(a, "second")[:3], false},
		{"a Send, not a Recv", cat(hdr(frameSend, keyLen+1), a[:], []byte("x")), false},
		{"a Ping", cat(hdr(framePing, pingLen), make([]byte, pingLen)), false},
		{"a Recv too short to hold a key", cat(hdr(frameRecv, 3), []byte("abc")), false},
		{"nothing", nil, false},
	} {
		br := bufio.NewReaderSize(bytes.NewReader(cat(first, tc.next)), headerLen+MaxFrameLen)
		_, body, err := readFrame(br, MaxFrameLen)
		if err != nil {
			t.Fatal(err)
		}
		src, payload, err := parseDatagram(frameRecv, body)
		if err != nil {
			t.Fatal(err)
		}
		if got := recvBuffered(br, &src); got != tc.want {
			t.Errorf("%s: recvBuffered = %v, want %v", tc.name, got, tc.want)
		}
		if string(payload) != "first" {
			t.Errorf("%s: the frame read before became %q", tc.name, payload)
		}
	}
}

func TestProof(t *testing.T) {
	node, _ := identity.GeneratePrivateKey()
	server, _ := identity.GeneratePrivateKey()
	other, _ := identity.GeneratePrivateKey()
	var ch [challengeLen]byte
	ch[0] = 1
	h := clientHello{key: node.Public(), group: identity.DeriveGroupID("home")}

	dhNode, _ := node.SharedSecret(server.Public())
	dhServer, _ := server.SharedSecret(h.key)
	p1 := computeProof(dhNode, &ch, &h)
	p2 := computeProof(dhServer, &ch, &h)
	if !proofsEqual(&p1, &p2) {
		t.Fatal("client and server compute different proofs")
	}
	// A node that does not own the key cannot produce the proof.
	dhOther, _ := other.SharedSecret(server.Public())
	if p := computeProof(dhOther, &ch, &h); proofsEqual(&p, &p2) {
		t.Fatal("proof made without the node key verifies")
	}
	// The proof binds the challenge, the group, the group key and the instance.
	ch2 := ch
	ch2[0] = 2
	if p := computeProof(dhNode, &ch2, &h); proofsEqual(&p, &p2) {
		t.Fatal("proof does not depend on the challenge")
	}
	for name, edit := range map[string]func(*clientHello){
		"group":     func(h *clientHello) { h.group = identity.DeriveGroupID("office") },
		"group key": func(h *clientHello) { h.groupKey[0] = 1 },
		"instance":  func(h *clientHello) { h.instance[0] = 1 },
	} {
		h2 := h
		edit(&h2)
		if p := computeProof(dhNode, &ch, &h2); proofsEqual(&p, &p2) {
			t.Errorf("proof does not depend on the %s", name)
		}
	}
}

func TestAuthProof(t *testing.T) {
	k, err := GenerateAuthKey()
	if err != nil {
		t.Fatal(err)
	}
	var ch [challengeLen]byte
	h := clientHello{key: key(1), group: identity.DeriveGroupID("home"), authID: k.ID()}
	p := computeAuthProof((*[AuthKeySize]byte)(&k), &ch, &h)
	other, _ := GenerateAuthKey()
	if q := computeAuthProof((*[AuthKeySize]byte)(&other), &ch, &h); proofsEqual(&p, &q) {
		t.Fatal("another key gives the same proof")
	}
	for name, edit := range map[string]func(*clientHello, *[challengeLen]byte){
		"challenge": func(_ *clientHello, c *[challengeLen]byte) { c[0] = 1 },
		"node key":  func(h *clientHello, _ *[challengeLen]byte) { h.key[0] ^= 1 },
		"group":     func(h *clientHello, _ *[challengeLen]byte) { h.group[0] ^= 1 },
		"group key": func(h *clientHello, _ *[challengeLen]byte) { h.groupKey[0] ^= 1 },
	} {
		h2, ch2 := h, ch
		edit(&h2, &ch2)
		if q := computeAuthProof((*[AuthKeySize]byte)(&k), &ch2, &h2); proofsEqual(&p, &q) {
			t.Errorf("auth proof does not depend on the %s", name)
		}
	}
}
