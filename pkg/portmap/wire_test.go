package portmap

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
)

func TestPMPRoundTrip(t *testing.T) {
	req := pmpMapRequest(4000, 4001, 7200)
	if want := []byte{0, 1, 0, 0, 0x0f, 0xa0, 0x0f, 0xa1, 0, 0, 0x1c, 0x20}; !bytes.Equal(req, want) {
		t.Fatalf("map request % x, want % x", req, want)
	}
	resp := []byte{0, 129, 0, 0, 0, 0, 0, 9, 0x0f, 0xa0, 0x75, 0x30, 0, 0, 0x1c, 0x20}
	r, err := parsePMP(resp)
	if err != nil || r.op != pmpOpMapUDP || r.internal != 4000 || r.mapped != 30000 || r.lifetime != 7200 || r.epoch != 9 {
		t.Fatalf("parse %+v, %v", r, err)
	}
	addr := []byte{0, 128, 0, 0, 0, 0, 0, 1, 198, 18, 12, 2}
	r, err = parsePMP(addr)
	if err != nil || r.external != netip.MustParseAddr("198.18.12.2") {
		t.Fatalf("parse address %+v, %v", r, err)
	}
	// Refusal: only the code counts, even cut short.
	if r, err := parsePMP([]byte{0, 129, 0, 2}); err != nil || r.result != 2 {
		t.Fatalf("refusal %+v, %v", r, err)
	}
	for _, bad := range [][]byte{nil, {0, 129}, {1, 129, 0, 0}, {0, 1, 0, 0}, {0, 128, 0, 0, 0, 0, 0, 1}, {0, 130, 0, 0}, append(resp, 0)} {
		if _, err := parsePMP(bad); err == nil {
			t.Errorf("parsePMP(% x) accepted", bad)
		}
	}
}

func TestPCPRoundTrip(t *testing.T) {
	client := netip.MustParseAddr("10.22.0.2")
	nonce := [12]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	req := pcpMapRequest(client, nonce, 4000, netip.MustParseAddrPort("198.18.12.2:4000"), 7200)
	if len(req) != 60 || req[0] != 2 || req[1] != 1 || binary.BigEndian.Uint32(req[4:]) != 7200 {
		t.Fatalf("request % x", req)
	}
	if got := netip.AddrFrom16([16]byte(req[8:24])).Unmap(); got != client {
		t.Fatalf("client address %v", got)
	}
	// A server's answer: the request with R set, result, epoch, assigned port.
	resp := bytes.Clone(req)
	resp[1] |= pcpResponseFlag
	resp[2], resp[3] = 0, 0
	binary.BigEndian.PutUint32(resp[8:], 77)
	clear(resp[12:24])
	binary.BigEndian.PutUint16(resp[24+18:], 30001)
	r, err := parsePCP(resp)
	if err != nil || r.op != pcpOpMap || r.nonce != nonce || r.protocol != protoUDP || r.internal != 4000 ||
		r.external != netip.MustParseAddrPort("198.18.12.2:30001") || r.lifetime != 7200 || r.epoch != 77 {
		t.Fatalf("parse %+v, %v", r, err)
	}
	// Options after the payload are skipped.
	if _, err := parsePCP(append(bytes.Clone(resp), 1, 0, 0, 0)); err != nil {
		t.Errorf("with an option: %v", err)
	}
	// A NAT-PMP server's "unsupported version" answer.
	if r, err := parsePCP([]byte{0, 128 + 1, 0, 1, 0, 0, 0, 0}); err != nil || r.result != pcpUnsupportedVersion {
		t.Errorf("NAT-PMP unsupported version: %+v, %v", r, err)
	}
	for _, bad := range [][]byte{nil, resp[:23], resp[:50], append(bytes.Clone(resp), 0), req} {
		if _, err := parsePCP(bad); err == nil {
			t.Errorf("parsePCP(% x) accepted", bad)
		}
	}
	ann := pcpAnnounceRequest(client)
	if len(ann) != 24 || ann[1] != 0 {
		t.Fatalf("announce % x", ann)
	}
}

func TestDefaultGateway(t *testing.T) {
	table := "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
		"eth1\t0000160A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n" +
		"eth1\t00000000\t0100160A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
	gw, err := defaultGateway([]byte(table))
	if err != nil || gw != netip.MustParseAddr("10.22.0.1") {
		t.Fatalf("gateway %v, %v", gw, err)
	}
	if _, err := defaultGateway([]byte(table[:130])); err == nil {
		t.Fatal("a table without a default route gave a gateway")
	}
}

// FuzzParse: the parsers never panic, and a parsed MAP answer re-encodes its
// fields where they were.
func FuzzParse(f *testing.F) {
	f.Add([]byte{0, 129, 0, 0, 0, 0, 0, 9, 0x0f, 0xa0, 0x75, 0x30, 0, 0, 0x1c, 0x20})
	f.Add([]byte{0, 128, 0, 0, 0, 0, 0, 1, 198, 18, 12, 2})
	req := pcpMapRequest(netip.MustParseAddr("10.0.0.2"), [12]byte{1}, 4000, netip.AddrPort{}, 60)
	req[1] |= pcpResponseFlag
	f.Add(req)
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := parsePMP(b); err == nil && r.result == 0 && r.op == pmpOpMapUDP {
			if binary.BigEndian.Uint16(b[10:]) != r.mapped {
				t.Fatal("NAT-PMP mapped port misread")
			}
		}
		if r, err := parsePCP(b); err == nil && r.op == pcpOpMap && len(b) >= pcpHeaderLen+pcpMapPayloadLen {
			if binary.BigEndian.Uint16(b[24+18:]) != r.external.Port() || !bytes.Equal(b[24:36], r.nonce[:]) {
				t.Fatal("PCP MAP answer misread")
			}
		}
	})
}
