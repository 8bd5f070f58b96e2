package api

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Limits bound what one service (on its serving node) or one mapping (on
// the node that maps it) carries, NodePass-style. Zero values mean no limit
// beyond the node's defaults. Over a limit, a new connection is refused at
// once with a logged reason; open connections are never cut by MaxConns.
type Limits struct {
	// MaxConns is how many connections may be open at once (0: the node's
	// default, 4096).
	MaxConns int `json:"max_conns,omitempty"`
	// Rate is the bytes per second in each direction, shared by all of the
	// service's (mapping's) connections: a token bucket (0: no limit).
	Rate int64 `json:"rate,omitempty"`
	// IdleTimeout closes a connection that moved no byte either way for this
	// long, "5m" (a Go duration of 1s or more; "": never).
	IdleTimeout string `json:"idle_timeout,omitempty"`
	// ProxyProtocol, for a service: "v1" or "v2" sends a PROXY protocol
	// header to the target before the client's bytes, with the real client's
	// address (v2 also names the mesh node it came from). Not for mappings.
	ProxyProtocol string `json:"proxy_protocol,omitempty"`
}

// Bounds of the limits.
const (
	MaxLimitConns  = 65535
	MinIdleTimeout = time.Second
)

// IsZero reports whether l sets nothing.
func (l *Limits) IsZero() bool { return l == nil || *l == Limits{} }

// Idle is the idle timeout (0: none); Validate has checked it parses.
func (l *Limits) Idle() time.Duration {
	if l == nil || l.IdleTimeout == "" {
		return 0
	}
	d, _ := time.ParseDuration(l.IdleTimeout)
	return d
}

// Validate names what is wrong with l; forMapping refuses what only a
// service can have.
func (l *Limits) Validate(forMapping bool) error {
	if l == nil {
		return nil
	}
	if l.MaxConns < 0 || l.MaxConns > MaxLimitConns {
		return fmt.Errorf("max-conns %d out of range 0-%d", l.MaxConns, MaxLimitConns)
	}
	if l.Rate < 0 {
		return fmt.Errorf("rate %d is negative", l.Rate)
	}
	if l.IdleTimeout != "" {
		d, err := time.ParseDuration(l.IdleTimeout)
		if err != nil {
			return fmt.Errorf("idle-timeout %q: want a duration such as 30s or 5m", l.IdleTimeout)
		}
		if d < MinIdleTimeout {
			return fmt.Errorf("idle-timeout %v is below the minimum %v", d, MinIdleTimeout)
		}
	}
	switch l.ProxyProtocol {
	case "", "v1", "v2":
	default:
		return fmt.Errorf("proxy-protocol %q: want v1 or v2", l.ProxyProtocol)
	}
	if forMapping && l.ProxyProtocol != "" {
		return fmt.Errorf("proxy-protocol is a setting of the service (on its serving node), not of a mapping")
	}
	return nil
}

// String is l for people: "max-conns=2 rate=1MB/s".
func (l *Limits) String() string {
	if l.IsZero() {
		return ""
	}
	var parts []string
	if l.MaxConns != 0 {
		parts = append(parts, "max-conns="+strconv.Itoa(l.MaxConns))
	}
	if l.Rate != 0 {
		parts = append(parts, "rate="+FormatRate(l.Rate))
	}
	if l.IdleTimeout != "" {
		parts = append(parts, "idle-timeout="+l.IdleTimeout)
	}
	if l.ProxyProtocol != "" {
		parts = append(parts, "proxy-protocol="+l.ProxyProtocol)
	}
	return strings.Join(parts, " ")
}

// ParseRate parses a byte size or rate: a number with an optional unit (B,
// kB, KiB, MB, MiB, GB, GiB; a trailing "/s" is allowed). "0" or "" is 0.
func ParseRate(s string) (int64, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimSuffix(t, "/s")
	if t == "" {
		return 0, nil
	}
	i := len(t)
	for i > 0 && (t[i-1] < '0' || t[i-1] > '9') {
		i--
	}
	num, unit := strings.TrimSpace(t[:i]), strings.TrimSpace(t[i:])
	mult := map[string]int64{"": 1, "b": 1, "kb": 1e3, "kib": 1 << 10, "k": 1 << 10, "mb": 1e6, "mib": 1 << 20, "m": 1 << 20,
		"gb": 1e9, "gib": 1 << 30, "g": 1 << 30}[strings.ToLower(unit)]
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || mult == 0 || n < 0 {
		return 0, fmt.Errorf("%q: want a number of bytes with an optional unit, such as 20MB, 50MiB or 1048576", s)
	}
	return int64(n * float64(mult)), nil
}

// FormatRate is a rate in bytes per second for people: "1MB/s".
func FormatRate(r int64) string {
	for _, u := range []struct {
		n    int64
		unit string
	}{{1e9, "GB"}, {1e6, "MB"}, {1e3, "kB"}} {
		if r >= u.n && r%(u.n/1000) == 0 {
			return strconv.FormatFloat(float64(r)/float64(u.n), 'f', -1, 64) + u.unit + "/s"
		}
	}
	return strconv.FormatInt(r, 10) + "B/s"
}
