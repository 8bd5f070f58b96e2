package overlay

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/meshnode/meshnode/pkg/identity"
	"github.com/meshnode/meshnode/pkg/seal"
)

func TestHelloRoundTrip(t *testing.T) {
	for _, h := range []hello{{Epoch: 1, Name: ""}, {Epoch: 1<<64 - 1, Name: "office-box"},
		{Epoch: 3, Name: "a1", Entry: []byte(`{"owner":"x"}`)}, {Epoch: 4, Name: "a1", Entry: bytes.Repeat([]byte{'e'}, maxHelloEntry)}} {
		b := h.marshal()
		got, err := parseHello(b)
		if err != nil || got.Epoch != h.Epoch || got.Name != h.Name || !bytes.Equal(got.Entry, h.Entry) {
			t.Errorf("%+v: got %+v, %v", h, got, err)
		}
		if len(b) > seal.MaxHello {
			t.Errorf("hello of %d bytes exceeds seal.MaxHello", len(b))
		}
	}
	long := hello{Epoch: 7, Name: strings.Repeat("n", 100), Entry: bytes.Repeat([]byte{'e'}, maxHelloEntry)}
	b := long.marshal()
	got, err := parseHello(b)
	if err != nil || len(got.Name) != maxNodeName || len(b) > seal.MaxHello {
		t.Errorf("long name: %q %v (%d bytes)", got.Name, err, len(b))
	}
	huge := hello{Epoch: 7, Name: "a1", Entry: bytes.Repeat([]byte{'e'}, maxHelloEntry+1)}
	if got, err := parseHello(huge.marshal()); err != nil || got.Entry != nil {
		t.Errorf("an entry too big for a hello: sent %d bytes of it, %v", len(got.Entry), err)
	}
	// A node of the previous version sends no entry.
	v1 := []byte{1, 0, 0, 0, 0, 0, 0, 0, 5, 2, 'a', '1'}
	if got, err := parseHello(v1); err != nil || got.Epoch != 5 || got.Name != "a1" || got.Entry != nil {
		t.Errorf("version 1 hello: %+v, %v", got, err)
	}
}

// TestHelloOwnsEntry: a parsed hello keeps its entry after the packet buffer it
// came from is reused (link.receive returns that buffer to the pool before the
// entry is merged).
func TestHelloOwnsEntry(t *testing.T) {
	b := hello{Epoch: 3, Name: "a1", Entry: []byte(`{"owner":"x"}`)}.marshal()
	got, err := parseHello(b)
	if err != nil {
		t.Fatal(err)
	}
	clear(b)
	if string(got.Entry) != `{"owner":"x"}` {
		t.Fatalf("entry after its buffer was reused: %q", got.Entry)
	}
}

func TestParseHelloErrors(t *testing.T) {
	good := hello{Epoch: 9, Name: "ab", Entry: []byte("{}")}.marshal()
	v1 := []byte{1, 0, 0, 0, 0, 0, 0, 0, 9, 2, 'a', 'b'}
	tooLong := binary.BigEndian.AppendUint16(append([]byte{}, good[:12]...), maxHelloEntry+1)
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "0 bytes"},
		{"short", good[:9], "9 bytes"},
		{"version", append([]byte{3}, good[1:]...), "version 3"},
		{"name too long for buffer", good[:11], "name length 2"},
		{"no entry length", good[:12], "no catalog entry length"},
		{"entry cut", good[:15], "catalog entry length 2 of 1 bytes"},
		{"trailing", append(append([]byte{}, good...), 0), "catalog entry length 2 of 3 bytes"},
		{"entry too long", append(tooLong, make([]byte, maxHelloEntry+1)...), "catalog entry length 949"},
		{"version 1 trailing", append(append([]byte{}, v1...), 0), "1 bytes after the name"},
	} {
		_, err := parseHello(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestStreamOpen(t *testing.T) {
	for _, o := range []streamOpen{{Kind: streamService, ServeID: 700}, {Kind: streamCatalog},
		{Kind: streamServiceFrom, ServeID: 42, From: netip.MustParseAddrPort("192.0.2.7:51234")},
		{Kind: streamServiceFrom, ServeID: 999, From: netip.MustParseAddrPort("[2001:db8::1]:443")},
		{Kind: streamAdhoc, Adhoc: adhocRequest{Proto: "tcp", Target: netip.MustParseAddrPort("127.0.0.1:8888")}},
		{Kind: streamAdhoc, Adhoc: adhocRequest{Proto: "udp", Target: netip.MustParseAddrPort("[::1]:53")}}} {
		got, err := readStreamOpen(bytes.NewReader(o.marshal()))
		if err != nil || got != o {
			t.Errorf("%+v: got %+v %v", o, got, err)
		}
	}
	for _, tc := range []struct {
		in   []byte
		want string
	}{
		{nil, "read stream kind"},
		{[]byte{9}, "stream kind 9"},
		{[]byte{streamService, 0}, "read serveid"},
		{[]byte{streamService, 0, 0}, "serveid 0 out of range"},
		{[]byte{streamService, 0x03, 0xe8}, "serveid 1000 out of range"},
		{[]byte{streamServiceFrom, 0, 1}, "read client address family"},
		{[]byte{streamAdhoc, 0}, "read ad-hoc request"},
		{[]byte{streamAdhoc, 2, 0}, "ad-hoc request proto 2"},
		{[]byte{streamAdhoc, 0, 3, '1', ':'}, "read ad-hoc target"},
		{append([]byte{streamAdhoc, 0, 9}, "host:8888"...), `ad-hoc target "host:8888" is not IP:PORT`},
		{append([]byte{streamAdhoc, 0, 11}, "127.0.0.1:0"...), `ad-hoc target "127.0.0.1:0" is not IP:PORT`},
		{[]byte{streamServiceFrom, 0, 1, 5}, "client address family 5"},
		{[]byte{streamServiceFrom, 0, 1, 4, 10, 0, 0}, "read client address"},
		{[]byte{streamServiceFrom, 0, 1, 6, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 0}, "read client address"},
	} {
		_, err := readStreamOpen(bytes.NewReader(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%x: err = %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestStatus(t *testing.T) {
	if err := readStatus(bytes.NewReader(marshalStatus(statusOK, ""))); err != nil {
		t.Fatal(err)
	}
	err := readStatus(bytes.NewReader(marshalStatus(statusDialFailed, "dial 127.0.0.1:22: connection refused")))
	var se *statusError
	if !errors.As(err, &se) || se.Code != statusDialFailed || !strings.Contains(se.Reason, "refused") {
		t.Fatalf("got %v", err)
	}
	for _, in := range [][]byte{{}, {0, 1, 'x'}, {9, 0}, {1, 5, 'a'}} {
		if err := readStatus(bytes.NewReader(in)); err == nil || errors.As(err, &se) && in[0] != 1 {
			t.Errorf("%x: want a malformed error, got %v", in, err)
		}
	}
}

func testEntry(t *testing.T) catalogEntry {
	return catalogEntry{Owner: peerKey(t), Name: "office", Version: 3, Services: []Service{
		{ID: 700, Name: "ssh", Proto: "tcp", Info: "home", Target: "127.0.0.1:22", Claimed: 5},
		{ID: 12, Proto: "tcp", Target: "10.0.0.1:80", Was: 11},
	}}
}

func TestCatalogRoundTrip(t *testing.T) {
	in := testEntry(t)
	var buf bytes.Buffer
	if err := writeCatalog(&buf, in); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "127.0.0.1") || in.Services[0].Target == "" {
		t.Fatal("catalog leaked a service target, or cleared the caller's")
	}
	got, err := readCatalog(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if got.Owner != in.Owner || got.Version != 3 || len(got.Services) != 2 || got.Services[0].Name != "ssh" || got.Services[1].Was != 11 {
		t.Fatalf("got %+v", got)
	}
}

func TestEntryErrors(t *testing.T) {
	owner := peerKey(t).String()
	for _, tc := range []struct {
		body string
		want string
	}{
		{`{`, "catalog entry:"},
		{`{"version":1,"name":"n","services":[]}`, "without an owner"},
		{`{"owner":"` + owner + `","name":"n","services":[]}`, "without a version"},
		{`{"owner":"` + owner + `","version":1,"name":"a b"}`, "only letters"},
		{`{"owner":"` + owner + `","version":1,"services":[{"serveid":0,"proto":"tcp"}]}`, "out of range"},
		{`{"owner":"` + owner + `","version":1,"services":[{"serveid":5,"proto":"icmp"}]}`, "not supported"},
		{`{"owner":"` + owner + `","version":1,"services":[{"serveid":5,"proto":"tcp"},{"serveid":5,"proto":"tcp"}]}`, "twice"},
		{`{"owner":"bogus","version":1}`, "node ID"},
	} {
		_, err := parseEntry([]byte(tc.body))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.body, err, tc.want)
		}
	}
	big := []byte{0x7f, 0, 0, 0}
	if _, err := readCatalog(bytes.NewReader(big)); err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Errorf("oversized catalog: %v", err)
	}
}

func TestGossipMessages(t *testing.T) {
	e := testEntry(t)
	nt, err := parseGossip(marshalGossipNotice(notice{e.Owner, 42}))
	if err != nil || nt.Owner != e.Owner || nt.Version != 42 {
		t.Fatalf("notice: %+v %v", nt, err)
	}
	body, _ := marshalEntry(e)
	for _, bad := range [][]byte{nil, {9}, {gossipNotice, 1}, marshalGossipNotice(notice{e.Owner, 0}),
		marshalGossipNotice(notice{identity.PublicKey{}, 1}), append([]byte{1}, body...)} {
		if _, err := parseGossip(bad); !errors.Is(err, errMalformed) {
			t.Errorf("%x: %v, want errMalformed", bad, err)
		}
	}
	other := testEntry(t)
	ns := []notice{{e.Owner, 7}, {other.Owner, 9}}
	got, err := parseState(marshalState(ns))
	if err != nil || len(got) != 2 || got[0] != ns[0] || got[1] != ns[1] {
		t.Fatalf("state: %+v %v", got, err)
	}
	for _, bad := range [][]byte{{1, 2, 3}, make([]byte, noticeLen), marshalState([]notice{{e.Owner, 0}})} {
		if _, err := parseState(bad); !errors.Is(err, errMalformed) {
			t.Errorf("state %x: %v, want errMalformed", bad, err)
		}
	}
	if got, err := parseState(nil); err != nil || len(got) != 0 {
		t.Errorf("empty state: %v %v", got, err)
	}
}

func FuzzParseHello(f *testing.F) {
	f.Add(hello{Epoch: 1, Name: "n"}.marshal())
	f.Add(hello{Epoch: 1, Name: "n", Entry: []byte("{}")}.marshal())
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 'n'})
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseHello(b)
		if err != nil {
			return
		}
		if b[0] == helloVersion && !bytes.Equal(h.marshal(), b) {
			t.Fatalf("re-marshal differs: %x vs %x", h.marshal(), b)
		}
	})
}

func FuzzReadStreamOpen(f *testing.F) {
	f.Add(streamOpen{Kind: streamService, ServeID: 700}.marshal())
	f.Add([]byte{streamCatalog})
	f.Add(streamOpen{Kind: streamServiceFrom, ServeID: 7, From: netip.MustParseAddrPort("[::1]:22")}.marshal())
	f.Add(streamOpen{Kind: streamAdhoc, Adhoc: adhocRequest{Proto: "udp", Target: netip.MustParseAddrPort("10.0.0.1:53")}}.marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := readStreamOpen(bytes.NewReader(b))
		if err != nil {
			return
		}
		if !bytes.HasPrefix(b, o.marshal()) {
			t.Fatalf("re-marshal %x is not a prefix of %x", o.marshal(), b)
		}
	})
}

func FuzzReadStatus(f *testing.F) {
	f.Add(marshalStatus(statusOK, ""))
	f.Add(marshalStatus(statusBusy, "too many"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = readStatus(bytes.NewReader(b))
	})
}

func FuzzParseGossip(f *testing.F) {
	f.Add(marshalGossipNotice(notice{Owner: identity.PublicKey{1}, Version: 3}))
	f.Add(append([]byte{gossipNotice}, make([]byte, 40)...))
	f.Add([]byte{1, '{', '}'})
	f.Fuzz(func(t *testing.T, b []byte) {
		nt, err := parseGossip(b)
		if err != nil {
			return
		}
		if nt.Owner.IsZero() || nt.Version == 0 {
			t.Fatal("accepted a notice without owner or version")
		}
		if got := marshalGossipNotice(nt); !bytes.Equal(got, b) {
			t.Fatalf("re-encoded %x, want %x", got, b)
		}
	})
}

func FuzzParseState(f *testing.F) {
	f.Add(marshalState([]notice{{identity.PublicKey{1}, 1}, {identity.PublicKey{2}, 1 << 40}}))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		ns, err := parseState(b)
		if err != nil {
			return
		}
		for _, nt := range ns {
			if nt.Owner.IsZero() || nt.Version == 0 {
				t.Fatalf("accepted a bad notice %+v", nt)
			}
		}
		if got := marshalState(ns); !bytes.Equal(got, b) {
			t.Fatalf("re-encoded %x, want %x", got, b)
		}
	})
}
