package stunsrv

import (
	"net/netip"
	"testing"

	"github.com/pion/stun"
)

// FuzzParseRequest: the parser never panics; what it answers pion decodes as
// a Binding request (with a valid FINGERPRINT when it has one), and the
// answer, for an IPv4 and an IPv6 source, decodes, names the source, and
// keeps the amplification rule. Seeds: testdata/fuzz/FuzzParseRequest.
func FuzzParseRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		req, v := parseRequest(b)
		if v != answer {
			return
		}
		m := &stun.Message{Raw: append([]byte(nil), b...)}
		if err := m.Decode(); err != nil {
			t.Fatalf("answered what pion cannot decode: %v", err)
		}
		if m.Type != stun.BindingRequest || m.TransactionID != req.tid {
			t.Fatalf("answered %v tid %x (parsed tid %x)", m.Type, m.TransactionID, req.tid)
		}
		if req.fingerprint != m.Contains(stun.AttrFingerprint) {
			t.Fatalf("fingerprint %v, pion sees %v", req.fingerprint, m.Contains(stun.AttrFingerprint))
		}
		if req.fingerprint {
			if err := stun.Fingerprint.Check(m); err != nil {
				t.Fatalf("answered a request whose FINGERPRINT pion refuses: %v", err)
			}
		}
		for _, src := range []netip.AddrPort{netip.MustParseAddrPort("198.51.100.7:3478"), netip.MustParseAddrPort("[2001:db8::7]:65535")} {
			resp := appendResponse(nil, req, src)
			if len(resp) != responseSize(req, src) || len(resp) > maxResponse {
				t.Fatalf("answer of %d bytes, responseSize %d", len(resp), responseSize(req, src))
			}
			if !withinRule(len(b), len(resp), src.Addr().Is6()) {
				t.Fatalf("answer of %d bytes to %d breaks the rule", len(resp), len(b))
			}
			r := &stun.Message{Raw: resp}
			var xa stun.XORMappedAddress
			if err := r.Decode(); err != nil || r.Type != stun.BindingSuccess || xa.GetFrom(r) != nil {
				t.Fatalf("answer does not decode: %v %v", err, r.Type)
			}
			if got, ok := netip.AddrFromSlice(xa.IP); !ok || got.Unmap() != src.Addr() || xa.Port != int(src.Port()) {
				t.Fatalf("answer names %v, want %v", xa, src)
			}
		}
	})
}
