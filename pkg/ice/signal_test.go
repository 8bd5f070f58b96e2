package ice

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func sampleOffer() signal {
	return signal{
		kind: kindOffer, from: 0x1122334455667788, to: 0x0102030405060708,
		controlling: true, end: true,
		ufrag: "abcdEFGH0123+/xy", pwd: strings.Repeat("p", 32),
		cands: []wireCand{
			{kind: candSrflx, priority: 1694498815, addr: netip.MustParseAddrPort("198.18.1.2:40001")},
			{kind: candHost, priority: 2130706431, addr: netip.MustParseAddrPort("10.20.0.5:5000")},
			{kind: candHost, priority: 2130706175, addr: netip.MustParseAddrPort("[2001:db8::1]:6000")},
		},
	}
}

func TestSignalRoundTrip(t *testing.T) {
	bye := signal{kind: kindBye, from: 7, to: 9}
	noCands := sampleOffer()
	noCands.cands, noCands.end, noCands.to, noCands.controlling = nil, false, 0, false
	mapped := sampleOffer()
	mapped.cands = append(mapped.cands, wireCand{kind: candMapped, priority: mappedPriority, addr: netip.MustParseAddrPort("198.18.12.2:4000")})
	for name, m := range map[string]signal{"offer": sampleOffer(), "bye": bye, "empty offer": noCands, "mapped": mapped} {
		b := appendSignal(nil, m)
		if len(b) > MaxSignalLen {
			t.Fatalf("%s: %d bytes > MaxSignalLen", name, len(b))
		}
		got, err := parseSignal(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("%s: round trip\n got %+v\nwant %+v", name, got, m)
		}
	}
	// The largest possible message fits MaxSignalLen exactly.
	big := sampleOffer()
	big.ufrag, big.pwd = strings.Repeat("u", maxUfragLen), strings.Repeat("w", maxPwdLen)
	big.cands = nil
	for i := range MaxCandidates {
		big.cands = append(big.cands, wireCand{kind: candHost, priority: 1, addr: netip.AddrPortFrom(netip.MustParseAddr("2001:db8::1"), uint16(i+1))})
	}
	if n := len(appendSignal(nil, big)); n != MaxSignalLen {
		t.Fatalf("largest message is %d bytes, MaxSignalLen %d", n, MaxSignalLen)
	}
}

func TestParseSignalErrors(t *testing.T) {
	good := appendSignal(nil, sampleOffer())
	// Offsets into good: header 18, flags 18, ufrag len 19, ufrag 20..35, pwd len 36,
	// pwd 37..68, count 69, first candidate at 70.
	const countOff, candOff = 69, 70
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	set := func(off int, v ...byte) []byte {
		return edit(func(b []byte) []byte { copy(b[off:], v); return b })
	}
	byeNoTo := appendSignal(nil, signal{kind: kindBye, from: 1, to: 1})
	binary.BigEndian.PutUint64(byeNoTo[10:], 0)
	for _, tc := range []struct {
		name, want string
		in         []byte
	}{
		{"empty", "empty message", nil},
		{"version 2", "version 2, this node speaks 1", set(0, 2)},
		{"short header", "shorter than the 18-byte header", good[:17]},
		{"zero from", "sender attempt id is 0", set(2, 0, 0, 0, 0, 0, 0, 0, 0)},
		{"unknown kind", "unknown message kind 9", set(1, 9)},
		{"bye without to", "bye without a receiver", byeNoTo},
		{"bye with body", "bye carries 1 extra bytes", append(appendSignal(nil, signal{kind: kindBye, from: 1, to: 2}), 0)},
		{"unknown flags", "unknown flags 0x80", set(18, 0x83)},
		{"short ufrag", "ufrag is 3 characters", edit(func(b []byte) []byte {
			return append(append(b[:19:19], 3, 'a', 'b', 'c'), b[36:]...)
		})},
		{"bad ufrag char", `ufrag contains '-'`, set(20, '-')},
		{"bad pwd char", `pwd contains ' '`, set(40, ' ')},
		{"truncated in pwd", "truncated in its pwd", good[:50]},
		{"no count", "truncated before its candidate count", good[:countOff]},
		{"too many", "offer lists 21 candidates; the limit is 20", set(countOff, 21)},
		{"count beyond data", "candidate 4 of 4 is truncated", set(countOff, 4)},
		{"relay type", "candidate 1 has unknown type 4", set(candOff, 4)},
		{"zero priority", "candidate 1 has priority 0", set(candOff+1, 0, 0, 0, 0)},
		{"address length 5", "candidate 1 has a 5-byte address", set(candOff+5, 5)},
		{"port 0", "candidate 1 has port 0", set(candOff+10, 0, 0)},
		{"trailing", "1 bytes after the last candidate", append(bytes.Clone(good), 0)},
		{"truncated candidate", "candidate 3 of 3 is truncated", good[:len(good)-1]},
		{"too long", "exceeds the", make([]byte, MaxSignalLen+1)},
		{"v4-mapped", "IPv4-mapped", appendSignal(nil, signal{kind: kindOffer, from: 1, ufrag: "abcd", pwd: strings.Repeat("x", 22),
			cands: []wireCand{{kind: candHost, priority: 1, addr: netip.MustParseAddrPort("[::ffff:1.2.3.4]:5")}}})},
	} {
		_, err := parseSignal(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrBadSignal) {
			t.Errorf("%s: err = %v, want ErrBadSignal with %q", tc.name, err, tc.want)
		}
	}
}

func FuzzParseSignal(f *testing.F) {
	f.Add(appendSignal(nil, sampleOffer()))
	f.Add(appendSignal(nil, signal{kind: kindBye, from: 1, to: 2}))
	f.Add([]byte{1, 1})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseSignal(b)
		if err != nil {
			if !errors.Is(err, ErrBadSignal) {
				t.Fatalf("error %v does not wrap ErrBadSignal", err)
			}
			return
		}
		if len(m.cands) > MaxCandidates || m.from == 0 {
			t.Fatalf("accepted %+v", m)
		}
		for _, c := range m.cands {
			if _, err := c.candidate(); err != nil {
				t.Fatalf("accepted candidate %v that pion refuses: %v", c, err)
			}
		}
		if got := appendSignal(nil, m); !bytes.Equal(got, b) {
			t.Fatalf("re-encoded %x, want %x", got, b)
		}
	})
}
