package overlay

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/meshnode/meshnode/pkg/control/api"
)

// ServeID numbers a service within a group: the API's type, the same number
// in the API and on the wire.
type ServeID = api.ServeID

// Limits on service metadata.
const (
	MaxServiceName = 64
	MaxServiceInfo = 256
)

// Service is something a node serves to its group: a local TCP target reachable
// through the mesh under a serveid.
type Service struct {
	ID     ServeID `json:"serveid"`
	Name   string  `json:"name,omitempty"`
	Proto  string  `json:"proto"`
	Info   string  `json:"info,omitempty"`
	Target string  `json:"target,omitempty"` // host:port; only the owner knows it (not sent to peers)
	// Claimed is when the owner took the serveid (unix ns): of two services
	// claiming one dynamic serveid, the earlier keeps it.
	Claimed int64 `json:"claimed,omitempty"`
	// Was is the serveid the mesh moved this service from after a dynamic
	// serveid conflict (0: never moved), so the other owner can say so too.
	Was ServeID `json:"was,omitempty"`
	// Limits bound the service's connections (limits.go); like Target, only
	// the owner knows them (not sent to peers).
	Limits *api.Limits `json:"limits,omitempty"`
	// WantsClient says the owner wants each connection's client address
	// (for its PROXY protocol header): openers send streamServiceFrom.
	// Public, unlike Limits. Set by the mesh.
	WantsClient bool `json:"wants_client,omitempty"`
	// AdHoc marks a temporary service served for an ad-hoc request (adhoc.go).
	AdHoc bool `json:"adhoc,omitempty"`
}

// Static reports whether the serveid is static (500-999): the mesh never changes
// it, and a second claim is an error rather than a renumbering.
func (s Service) Static() bool { return s.ID.Static() }

// Validate checks a service declaration and names what is wrong.
func (s Service) Validate() error {
	if s.ID == 0 || s.ID > api.MaxServeID {
		return fmt.Errorf("serveid %d out of range 1-%d", s.ID, api.MaxServeID)
	}
	if s.Claimed < 0 {
		return fmt.Errorf("serveid %d: negative claim time", s.ID)
	}
	if s.Was > api.MaxServeID {
		return fmt.Errorf("serveid %d: previous serveid %d out of range", s.ID, s.Was)
	}
	if err := validateLabel("service name", s.Name, MaxServiceName); err != nil {
		return err
	}
	if len(s.Info) > MaxServiceInfo {
		return fmt.Errorf("service info is %d bytes; the limit is %d", len(s.Info), MaxServiceInfo)
	}
	if s.Proto != "tcp" && s.Proto != "udp" {
		return fmt.Errorf("service proto %q is not supported (tcp or udp)", s.Proto)
	}
	if s.Target != "" {
		if _, _, err := splitHostPort(s.Target); err != nil {
			return fmt.Errorf("service target: %w", err)
		}
	}
	if err := s.Limits.Validate(false); err != nil {
		return err
	}
	return udpLimitsErr(s.Proto, s.Limits)
}

// udpLimitsErr refuses the limits only TCP connections have: UDP flows take
// connection slots (max-conns) and end after their own idle time.
func udpLimitsErr(proto string, l *api.Limits) error {
	if proto != "udp" || l == nil {
		return nil
	}
	if l.Rate != 0 || l.IdleTimeout != "" || l.ProxyProtocol != "" {
		return fmt.Errorf("rate, idle-timeout and proxy-protocol apply to TCP only; a UDP service or mapping takes max-conns")
	}
	return nil
}

func validateLabel(what, v string, max int) error {
	if len(v) > max {
		return fmt.Errorf("%s is %d bytes; the limit is %d", what, len(v), max)
	}
	for _, r := range v {
		if !(r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return fmt.Errorf("%s %q: only letters, digits, '-', '_' and '.' are allowed", what, v)
		}
	}
	return nil
}

func splitHostPort(hp string) (string, int, error) {
	host, ps, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, fmt.Errorf("%q is not host:port: %w", hp, err)
	}
	if host == "" {
		return "", 0, fmt.Errorf("%q has no host", hp)
	}
	p, err := strconv.Atoi(ps)
	if err != nil || p < 1 || p > 65535 {
		return "", 0, fmt.Errorf("%q: port %q is not a number in 1-65535", hp, ps)
	}
	return host, p, nil
}

// ParseServeSpec parses the --serve flag syntax:
//
//	SERVEID=HOST:PORT[,name=X][,info=Y][,proto=tcp][,max-conns=N][,rate=1MB][,idle-timeout=5m][,proxy-protocol=v1|v2]
//
// SERVEID 0 asks the mesh for a free dynamic serveid (1-499).
func ParseServeSpec(spec string) (Service, error) {
	s := Service{Proto: "tcp"}
	head, opts, _ := strings.Cut(spec, ",")
	idStr, target, ok := strings.Cut(head, "=")
	if !ok {
		return s, fmt.Errorf("--serve %q: want SERVEID=HOST:PORT[,name=X][,info=Y]", spec)
	}
	id, err := api.ParseServeIDOrZero(idStr)
	if err != nil {
		return s, fmt.Errorf("--serve %q: %w", spec, err)
	}
	s.ID, s.Target = id, target
	if opts != "" {
		for _, kv := range strings.Split(opts, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return s, fmt.Errorf("--serve %q: option %q is not key=value", spec, kv)
			}
			switch k {
			case "name":
				s.Name = v
			case "info":
				s.Info = v
			case "proto":
				s.Proto = v
			case "max-conns":
				lim := s.limits()
				if lim.MaxConns, err = strconv.Atoi(v); err != nil {
					return s, fmt.Errorf("--serve %q: max-conns %q is not a number", spec, v)
				}
			case "rate":
				if s.limits().Rate, err = api.ParseRate(v); err != nil {
					return s, fmt.Errorf("--serve %q: rate %w", spec, err)
				}
			case "idle-timeout":
				s.limits().IdleTimeout = v
			case "proxy-protocol":
				s.limits().ProxyProtocol = v
			default:
				return s, fmt.Errorf("--serve %q: unknown option %q (name, info, proto, max-conns, rate, idle-timeout, proxy-protocol)", spec, k)
			}
		}
	}
	if s.Target == "" {
		return s, fmt.Errorf("--serve %q: missing HOST:PORT after '='", spec)
	}
	if err := s.ValidateDeclared(); err != nil {
		return s, fmt.Errorf("--serve %q: %w", spec, err)
	}
	return s, nil
}

// limits returns s.Limits, making it first.
func (s *Service) limits() *api.Limits {
	if s.Limits == nil {
		s.Limits = &api.Limits{}
	}
	return s.Limits
}

// ValidateDeclared is Validate for a service being declared: it needs a target,
// and serveid 0 (assign one) is allowed.
func (s Service) ValidateDeclared() error {
	if s.Target == "" {
		return fmt.Errorf("serveid %d: no target HOST:PORT", s.ID)
	}
	if s.ID == 0 {
		s.ID = 1
	}
	return s.Validate()
}
