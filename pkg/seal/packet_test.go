package seal

import (
	"bytes"
	"errors"
	"testing"
)

// TestPacketsAreNotSTUN: the first byte of every packet type has its top bit set
// (a STUN message starts with two zero bits).
func TestPacketsAreNotSTUN(t *testing.T) {
	p := newTestPair(t, pairOpts{clock: newFakeClock(), pskB: [32]byte{9}})
	p.a.ch.Initiate()
	flush(p.ab, p.ba)
	p2 := newTestPair(t, pairOpts{clock: newFakeClock()})
	p2.establish(t)
	p2.a.ch.Seal([]byte("x"))
	seen := map[byte]bool{}
	for _, w := range []*wire{p.ab, p.ba, p2.ab, p2.ba} {
		for _, pkt := range w.captured {
			if pkt[0]&0x80 == 0 {
				t.Fatalf("packet type 0x%02x could pass for STUN", pkt[0])
			}
			seen[pkt[0]] = true
		}
	}
	for _, typ := range []byte{typeInitiation, typeResponse, typeData, typeReject} {
		if !seen[typ] {
			t.Fatalf("no packet of type 0x%02x was produced", typ)
		}
	}
}

func TestParseErrors(t *testing.T) {
	good := appendInitiation(nil, 1, "suite", []byte{1, 2, 3})
	good = append(good, make([]byte, macLen)...)
	for _, tc := range []struct {
		name string
		pkt  []byte
	}{
		{"empty", nil},
		{"unknown type", []byte{0x85, 0, 0, 0, 0}},
		{"STUN-looking", []byte{0x00, 0x01, 0, 0}},
		{"initiation without suite", append(appendInitiation(nil, 1, "", []byte{1}), make([]byte, macLen)...)},
		{"initiation without noise message", append(appendInitiation(nil, 1, "s", nil), make([]byte, macLen)...)},
		{"initiation truncated", good[:len(good)-macLen]},
		{"initiation suite past end", []byte{typeInitiation, 0, 0, 0, 1, 60, 'a'}},
		{"response short", []byte{typeResponse, 0, 0, 0, 1, 0, 0, 0, 2}},
		{"data short", []byte{typeData, 0, 0, 0, 1, 0, 0, 0}},
		{"data too long", append([]byte{typeData}, make([]byte, maxPacketSize)...)},
		{"reject bad reason", append(appendReject(nil, 1, 9, ""), make([]byte, macLen)...)},
		{"reject trailing bytes", append(appendReject(nil, 1, rejectSuite, "s"), make([]byte, macLen+1)...)},
		{"reject suite too long", append(appendReject(nil, 1, rejectSuite, string(make([]byte, 65))), make([]byte, macLen)...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := parsePacket(tc.pkt); !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
		})
	}
	if _, err := parsePacket(good); err != nil {
		t.Fatalf("good initiation: %v", err)
	}
}

// encode re-encodes a parsed packet; a parse followed by encode must give the
// input back (the parsers neither drop nor invent bytes).
func encode(v any) []byte {
	switch p := v.(type) {
	case initiation:
		return append(appendInitiation(nil, p.sender, p.suite, p.msg), p.mac...)
	case response:
		return append(appendResponse(nil, p.sender, p.receiver, p.msg), p.mac...)
	case dataPacket:
		return append(appendDataHeader(nil, p.receiver, p.counter), p.sealed...)
	case reject:
		return append(appendReject(nil, p.receiver, p.reason, p.suite), p.mac...)
	}
	panic("unknown packet")
}

// seedPackets returns one real packet of every type.
func seedPackets(t testing.TB) [][]byte {
	p := newTestPair(t, pairOpts{clock: newFakeClock(), pskB: [32]byte{7}})
	p.a.ch.Initiate() // wrong secret: initiation, response, reject
	p2 := newTestPair(t, pairOpts{clock: newFakeClock()})
	p2.establish(t)
	p2.a.ch.Seal([]byte("some data"))
	var r [][]byte
	for _, w := range []*wire{p.ab, p.ba, p2.ab, p2.ba} {
		r = append(r, w.captured...)
	}
	return r
}

func FuzzParsePacket(f *testing.F) {
	for _, pkt := range seedPackets(f) {
		f.Add(pkt)
	}
	f.Add([]byte{typeReject, 0, 0, 0, 0, rejectSecret, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		v, err := parsePacket(b)
		if !bytes.Equal(in, b) {
			t.Fatal("the parser modified its input")
		}
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		if b[0]&0x80 == 0 {
			t.Fatal("accepted a packet without the top bit")
		}
		if out := encode(v); !bytes.Equal(out, b) {
			t.Fatalf("round trip:\n%x\n%x", b, out)
		}
	})
}

// FuzzReceive feeds arbitrary packets into a live channel: it must never panic
// and never return plaintext (nothing but the peer can make a valid packet, and
// the seeds' real data packets were delivered already).
func FuzzReceive(f *testing.F) {
	p := newTestPair(f, pairOpts{clock: newFakeClock()})
	p.establish(f)
	p.a.ch.Seal([]byte("delivered once"))
	p.b.ch.Seal([]byte("delivered once"))
	for _, w := range []*wire{p.ab, p.ba} {
		for _, pkt := range w.captured {
			f.Add(pkt)
		}
	}
	for _, pkt := range seedPackets(f) {
		f.Add(pkt)
	}
	// From here on B's answers go nowhere.
	p.ba.filter = func([]byte) bool { return false }
	p.b.takeGot()
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := p.b.ch.Receive(nil, b)
		if len(out) > 0 {
			t.Fatalf("plaintext %q from a fuzzed packet (err %v)", out, err)
		}
		if err == nil && len(b) > 0 && b[0] == typeData && len(b) != keepaliveLen {
			t.Fatal("a fuzzed data packet was accepted")
		}
	})
}
