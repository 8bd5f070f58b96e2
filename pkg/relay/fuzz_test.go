package relay

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
)

// Every decoder is fuzzed: it must not panic, and whatever it accepts must encode
// back to exactly the bytes it accepted (the codecs are canonical).

func FuzzParseHeader(f *testing.F) {
	f.Add(hdr(frameSend, 1350))
	f.Add(hdr(frameSend, MaxFrameLen+1))
	f.Add([]byte{1, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		typ, n, err := parseHeader(b)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("error %v is not a protocol error", err)
			}
			return
		}
		if n < 0 || n > MaxFrameLen {
			t.Fatalf("length %d accepted", n)
		}
		if got := appendHeader(nil, typ, n); !bytes.Equal(got, b[:headerLen]) {
			t.Fatalf("re-encoded %x, want %x", got, b[:headerLen])
		}
	})
}

func FuzzParseServerHello(f *testing.F) {
	f.Add(appendServerHello(nil, serverHello{version: ProtocolVersion, ephPub: key(1)})[headerLen:])
	f.Add([]byte{0, 2})
	f.Add([]byte{0, 1, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseServerHello(b)
		if err != nil {
			return
		}
		if got := appendServerHello(nil, h)[headerLen:]; !bytes.Equal(got, b) {
			t.Fatalf("re-encoded %x, want %x", got, b)
		}
	})
}

func FuzzParseClientHello(f *testing.F) {
	f.Add(appendClientHello(nil, clientHello{version: ProtocolVersion, key: key(2), name: "nas"})[headerLen:])
	f.Add(appendClientHello(nil, clientHello{version: ProtocolVersion})[headerLen:])
	f.Add([]byte{0, 9})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseClientHello(b)
		if err != nil {
			return
		}
		if validateName(h.name) != nil {
			t.Fatalf("accepted invalid name %q", h.name)
		}
		if got := appendClientHello(nil, h)[headerLen:]; !bytes.Equal(got, b) {
			t.Fatalf("re-encoded %x, want %x", got, b)
		}
	})
}

func FuzzParseError(f *testing.F) {
	f.Add([]byte("server full"))
	f.Add([]byte{0xff})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		msg, err := parseError(b)
		if err != nil {
			return
		}
		if got := appendError(nil, msg)[headerLen:]; !bytes.Equal(got, b) {
			t.Fatalf("re-encoded %q, want %q", got, b)
		}
	})
}

func FuzzParsePeerPresent(f *testing.F) {
	f.Add(appendPeerPresent(nil, key(3), "laptop")[headerLen:])
	f.Add(make([]byte, keyLen))
	f.Add(append(make([]byte, keyLen), 0x1b))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, name, err := parsePeerPresent(b)
		if err != nil {
			return
		}
		if got := appendPeerPresent(nil, k, name)[headerLen:]; !bytes.Equal(got, b) {
			t.Fatalf("re-encoded %x, want %x", got, b)
		}
	})
}

func FuzzParsePeerGone(f *testing.F) {
	f.Add(make([]byte, keyLen))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := parsePeerGone(b)
		if err != nil {
			return
		}
		if got := appendPeerGone(nil, k)[headerLen:]; !bytes.Equal(got, b) {
			t.Fatalf("re-encoded %x, want %x", got, b)
		}
	})
}

func FuzzParseDatagram(f *testing.F) {
	f.Add(append(make([]byte, keyLen), "payload"...))
	f.Add(make([]byte, 31))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, p, err := parseDatagram(frameRecv, b)
		if err != nil {
			return
		}
		out := make([]byte, headerLen+keyLen+len(p))
		putDatagram(out, frameRecv, &k, p)
		if !bytes.Equal(out[headerLen:], b) {
			t.Fatalf("re-encoded %x, want %x", out[headerLen:], b)
		}
	})
}

func FuzzParsePing(f *testing.F) {
	f.Add([]byte("12345678"))
	f.Add([]byte("1234567"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parsePing(framePing, b)
		if err != nil {
			return
		}
		if got := appendPing(nil, framePing, p)[headerLen:]; !bytes.Equal(got, b) {
			t.Fatalf("re-encoded %x, want %x", got, b)
		}
	})
}

func FuzzParseEmpty(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := parseEmpty(framePeersEnd, b); (err == nil) != (len(b) == 0) {
			t.Fatalf("parseEmpty(%x) = %v", b, err)
		}
	})
}

// FuzzReadFrame feeds a byte stream to readFrame until it fails: it must consume
// exactly the frames the stream holds and then report EOF or an error.
func FuzzReadFrame(f *testing.F) {
	k := key(1)
	f.Add(cat(appendPeerPresent(nil, k, "a"), appendEmpty(nil, framePeersEnd), hdr(frameSend, 33), k[:], []byte{9}))
	f.Add(hdr(frameSend, MaxFrameLen+1))
	f.Add([]byte("MESHRDV1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		br := bufio.NewReaderSize(bytes.NewReader(b), headerLen+MaxFrameLen)
		consumed := 0
		for {
			typ, body, err := readFrame(br, MaxFrameLen)
			if err != nil {
				if errors.Is(err, io.EOF) && consumed != len(b) {
					t.Fatalf("clean EOF after %d of %d bytes", consumed, len(b))
				}
				return
			}
			frame := cat(appendHeader(nil, typ, len(body)), body)
			if !bytes.Equal(frame, b[consumed:consumed+len(frame)]) {
				t.Fatalf("frame at %d re-encodes differently", consumed)
			}
			consumed += len(frame)
		}
	})
}
