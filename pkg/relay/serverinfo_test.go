package relay

import (
	"bytes"
	"slices"
	"testing"
)

func TestServerInfoCodec(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		in         []byte
		ports      []uint16
		used       int
	}{
		{"two ports", "", []byte{2, 0x0d, 0x96, 0x0d, 0x97}, []uint16{3478, 3479}, 5},
		{"no ports", "", []byte{0}, nil, 1},
		{"four ports", "", []byte{4, 0, 1, 0, 2, 0, 3, 0, 4}, []uint16{1, 2, 3, 4}, 9},
		{"later fields ignored", "", []byte{1, 0x0d, 0x96, 0xee, 0xff}, []uint16{3478}, 3},
		{"empty", "ServerInfo is empty", nil, nil, 0},
		{"too many ports", "ServerInfo lists 5 STUN ports; the limit is 4", []byte{5, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5}, nil, 0},
		{"truncated", "ServerInfo of 4 bytes is too short for 2 STUN ports", []byte{2, 0, 1, 0}, nil, 0},
		{"port zero", "ServerInfo: STUN port 2 is 0", []byte{2, 0, 1, 0, 0}, nil, 0},
	} {
		info, used, err := parseServerInfo(tc.in)
		wantErr(t, tc.name, err, tc.want)
		if tc.want != "" {
			if info.STUNPorts != nil || used != 0 {
				t.Errorf("%s: failed parse returned %v/%d", tc.name, info.STUNPorts, used)
			}
			continue
		}
		if !slices.Equal(info.STUNPorts, tc.ports) || used != tc.used {
			t.Errorf("%s: got %v/%d, want %v/%d", tc.name, info.STUNPorts, used, tc.ports, tc.used)
		}
		frame := appendServerInfo(nil, info)
		if typ, n, _ := parseHeader(frame); typ != frameServerInfo || n != len(frame)-headerLen {
			t.Errorf("%s: header %v/%d", tc.name, typ, n)
		}
		if !bytes.Equal(frame[headerLen:], tc.in[:tc.used]) {
			t.Errorf("%s: re-encoded %x, want %x", tc.name, frame[headerLen:], tc.in[:tc.used])
		}
	}
	if !frameServerInfo.optional() || frameServerInfo.String() != "ServerInfo" {
		t.Fatal("ServerInfo must be an optional frame type named ServerInfo")
	}
}

func FuzzParseServerInfo(f *testing.F) {
	f.Add([]byte{2, 0x0d, 0x96, 0x0d, 0x97})
	f.Add([]byte{0})
	f.Add([]byte{1, 0, 0})
	f.Add([]byte{1, 0, 9, 1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		info, used, err := parseServerInfo(b)
		if err != nil {
			return
		}
		if used < 1 || used > len(b) || len(info.STUNPorts) > MaxSTUNPorts || slices.Contains(info.STUNPorts, 0) {
			t.Fatalf("accepted %x as %v (used %d)", b, info.STUNPorts, used)
		}
		if got := appendServerInfo(nil, info)[headerLen:]; !bytes.Equal(got, b[:used]) {
			t.Fatalf("re-encoded %x, want %x", got, b[:used])
		}
	})
}

// TestServerInfoAnnounced: a server with STUN ports sends ServerInfo right after
// Welcome (before the presence list); the client exposes it; a server without
// ports sends nothing and the client reports none.
func TestServerInfoAnnounced(t *testing.T) {
	srv := startServer(t, ServerConfig{STUNPorts: []uint16{3478, 0, 3479, 5, 6, 7}}, "")
	a := startClient(t, srv.addr, "home", "a", nil)
	a.waitState(t, true)

	// Raw: the frame order a node sees.
	rc := joinRaw(t, srv.addr, "home", [32]byte{})
	typ, body := rc.next(t)
	if typ != frameServerInfo {
		t.Fatalf("first frame after Welcome is %v, want ServerInfo", typ)
	}
	info, _, err := parseServerInfo(body)
	if err != nil || !slices.Equal(info.STUNPorts, []uint16{3478, 3479, 5, 6}) {
		t.Fatalf("ServerInfo %v %v; want the non-zero ports, at most 4", info.STUNPorts, err)
	}
	if typ, _ := rc.next(t); typ != framePeerPresent {
		t.Fatalf("then %v, want PeerPresent", typ)
	}

	waitFor(t, "client ServerInfo", func() bool { return len(a.ServerInfo().STUNPorts) == 4 })
	if got := a.STUNServers(); !slices.Equal(got, []string{"127.0.0.1:3478", "127.0.0.1:3479", "127.0.0.1:5", "127.0.0.1:6"}) {
		t.Fatalf("STUNServers() = %v", got)
	}
	// The result is a copy.
	a.ServerInfo().STUNPorts[0] = 1
	if a.ServerInfo().STUNPorts[0] != 3478 {
		t.Fatal("ServerInfo() aliases the client's state")
	}

	plain := startServer(t, ServerConfig{}, "")
	b := startClient(t, plain.addr, "home", "b", nil)
	b.waitState(t, true)
	rc = joinRaw(t, plain.addr, "home", [32]byte{})
	if typ, _ := rc.next(t); typ != framePeerPresent {
		t.Fatalf("server without STUN ports sent %v first", typ)
	}
	if b.ServerInfo().STUNPorts != nil || b.STUNServers() != nil {
		t.Fatalf("client of a server without STUN reports %v", b.STUNServers())
	}
}
