package relay

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
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
	f.Add(appendClientHello(nil, clientHello{version: ProtocolVersion, key: key(2), authID: AuthKeyID{1}})[headerLen:])
	f.Add(appendClientHello(nil, clientHello{version: ProtocolVersion})[headerLen:])
	f.Add([]byte{0, 9})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseClientHello(b)
		if err != nil {
			return
		}
		if got := appendClientHello(nil, h)[headerLen:]; !bytes.Equal(got, b) {
			t.Fatalf("re-encoded %x, want %x", got, b)
		}
	})
}

func FuzzParseError(f *testing.F) {
	f.Add([]byte("\x02server full"))
	f.Add([]byte{0xff})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		code, msg, err := parseError(b)
		if err != nil {
			return
		}
		if got := appendError(nil, code, msg)[headerLen:]; !bytes.Equal(got, b) {
			t.Fatalf("re-encoded %q, want %q", got, b)
		}
	})
}

func FuzzParsePeerPresent(f *testing.F) {
	f.Add(appendPeerPresent(nil, key(3))[headerLen:])
	f.Add(append(make([]byte, keyLen), 0x1b))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := parsePeerPresent(b)
		if err != nil {
			return
		}
		if got := appendPeerPresent(nil, k)[headerLen:]; !bytes.Equal(got, b) {
			t.Fatalf("re-encoded %x, want %x", got, b)
		}
	})
}

func FuzzParseGroupInfo(f *testing.F) {
	f.Add(appendGroupInfo(nil, GroupInfo{Others: 2})[headerLen:])
	f.Add([]byte{0, 0, 0, 1, 7})
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		gi, err := parseGroupInfo(b)
		if err != nil {
			return
		}
		if gi.Others < 0 || gi.Others > 1<<24 {
			t.Fatalf("accepted a count of %d", gi.Others)
		}
		if got := appendGroupInfo(nil, gi)[headerLen:]; !bytes.Equal(got, b[:groupInfoLen]) {
			t.Fatalf("re-encoded %x, want %x", got, b[:groupInfoLen])
		}
	})
}

func FuzzParseAuthKeys(f *testing.F) {
	k1 := AuthSecret{1}
	f.Add("# keys\n" + k1.Encode() + " label=alice groups=home,lab expires=2027-07-01\n")
	f.Add(k1.Encode() + " expires=2027-07-01T12:00:00Z\n\n" + k1.Encode())
	f.Add("mnrk1_ label=x")
	f.Add(k1.Encode() + " groups=,")
	f.Fuzz(func(t *testing.T, content string) {
		ks, err := ParseAuthKeys("keys", content)
		if err != nil {
			// Errors never quote what may be a key (with a typo in it).
			for _, line := range strings.Split(content, "\n") {
				if f := strings.Fields(line); len(f) > 0 && len(f[0]) > 8 && strings.Contains(err.Error(), f[0]) {
					t.Fatalf("error quotes %q: %v", f[0], err)
				}
			}
			return
		}
		for _, k := range ks.List() {
			if k.ID != k.Secret.ID() || k.Line < 1 {
				t.Fatalf("key %+v", k)
			}
			if len(k.Groups) != len(k.groupID) {
				t.Fatalf("groups %v vs %d ids", k.Groups, len(k.groupID))
			}
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
	f.Add(cat(appendPeerPresent(nil, k), appendEmpty(nil, framePeersEnd), hdr(frameSend, 33), k[:], []byte{9}))
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

func FuzzParseNodeAuthKey(f *testing.F) {
	k := AuthSecret{3}
	f.Add(k.Encode() + "\n")
	f.Add("# the key\n\n" + k.Encode() + " label=home\n")
	f.Add("mnrk1_\n")
	f.Fuzz(func(t *testing.T, content string) {
		got, err := ParseNodeAuthKey(content)
		if err != nil {
			if strings.Contains(err.Error(), content) && len(content) > 8 {
				t.Fatalf("the error quotes the file: %v", err)
			}
			return
		}
		if got == (AuthSecret{}) || !strings.Contains(content, got.Encode()) {
			t.Fatalf("parsed a key that is not in the file")
		}
	})
}
