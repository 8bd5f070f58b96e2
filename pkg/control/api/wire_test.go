package api

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
)

// TestWireGolden pins the API's JSON: every field of every type, filled and
// empty, encodes as testdata/wire.golden says. The golden file was produced by
// the types as they were in pkg/overlay and pkg/control before they moved here,
// so this also shows the move changed nothing on the wire. A change here is a
// change of the API's wire format.
func TestWireGolden(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 1, 2, 3, 4, time.UTC)
	svc := Service{ID: 700, Name: "ssh", Proto: "tcp", Info: "i", Target: "127.0.0.1:22", Claimed: 5, Was: 7}
	req := MappingRequest{Target: "700", Port: 2222, Bind: "127.0.0.1", Proto: "tcp"}
	vals := []any{
		StatusInfo{ID: "id", Name: "n", Group: "g", Started: t0, Cipher: "c", Transport: "t",
			Rendezvous: RendezvousStatus{Addr: "a", Connected: true, Since: t0, RTTMillis: 1.5, LastError: "e", Refused: "r", OthersInGroup: 2},
			PeersUp:    1, Peers: 2, Services: []LocalService{{Service: svc, Origin: "file", Ref: "[serve.ssh]"}},
			CatalogVersion: 9, Mappings: []MappingInfo{{MappingRequest: req, Origin: "live", Ref: "r", Listen: "l", Active: 1, Total: 2, Failed: 3, LastError: "x"}},
			Plugins: []PluginStatus{{Kind: "cipher", Name: "n", Version: "v", Suite: "s", State: "running", PID: 4, Restarts: 1, Since: t0, LastError: "e"}},
			Config:  &ConfigInfo{File: "f", Loaded: t0, LogLevel: "info", Restart: []string{"a"}, NotApplied: []string{"b"}}},
		StatusInfo{},
		[]PeerInfo{{ID: "i", Name: "n", Present: true, State: "up", Path: "direct", RTTMillis: 3, Since: t0, BytesIn: 1, BytesOut: 2, Streams: 3,
			Endpoint: "e", Local: "l", PathSince: t0, Why: "w", ICETries: 4, LastSeen: t0, Member: "alive", Error: "x"}, {}},
		[]CatalogEntry{{ServeID: 5, Name: "n", Proto: "tcp", Info: "i", Owner: "o", OwnerName: "on", Local: true, Reachable: true, Conflict: "c"}, {}},
		PingResult{Peer: "p", Name: "n", Path: "relay", Endpoint: "e", RTTs: []float64{1.5, -1}, Why: "w"},
		Event{Time: t0, Kind: "path", Peer: "p", Name: "n", Path: "direct", Remote: "r", Reason: "x"},
		Event{},
		[]Service{svc, {}},
		req,
		PingRequest{Peer: "b", Count: 1, IntervalMS: 2, TimeoutMS: 3},
		ReloadResult{File: "f", Changed: []string{"c"}, Restart: []string{"r"}, NotApplied: []string{"n"}},
	}
	var got bytes.Buffer
	for _, v := range vals {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		got.Write(b)
		got.WriteByte('\n')
	}
	want, err := os.ReadFile("testdata/wire.golden")
	if err != nil {
		t.Fatal(err)
	}
	gl, wl := strings.Split(got.String(), "\n"), strings.Split(string(want), "\n")
	if len(gl) != len(wl) {
		t.Fatalf("%d lines of JSON, golden has %d", len(gl), len(wl))
	}
	for i := range gl {
		if gl[i] != wl[i] {
			t.Errorf("value %d encodes differently:\n got %s\nwant %s", i, gl[i], wl[i])
		}
	}
}

// TestDecodeGolden: what the golden JSON says decodes back to the same JSON,
// so a client reading an answer loses nothing.
func TestDecodeGolden(t *testing.T) {
	want, err := os.ReadFile("testdata/wire.golden")
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Split(string(want), "\n")[0]
	var st StatusInfo
	if err := json.Unmarshal([]byte(line), &st); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(st)
	if string(b) != line {
		t.Fatalf("status round trip:\n got %s\nwant %s", b, line)
	}
	if st.Services[0].Origin != OriginFile || st.Plugins[0].State != PluginRunning || !st.Services[0].ID.Static() {
		t.Fatalf("typed fields: %+v", st)
	}
}

func TestParseServeID(t *testing.T) {
	for in, want := range map[string]ServeID{"1": 1, " 700 ": 700, "999": 999} {
		if got, err := ParseServeID(in); err != nil || got != want {
			t.Errorf("ParseServeID(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for in, msg := range map[string]string{"0": "out of range 1-999", "1000": "out of range", "x": "not a number", "": "not a number"} {
		if _, err := ParseServeID(in); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("ParseServeID(%q): %v, want an error with %q", in, err, msg)
		}
	}
	if id, err := ParseServeIDOrZero("0"); err != nil || id != 0 {
		t.Errorf("ParseServeIDOrZero(0) = %d, %v", id, err)
	}
}
