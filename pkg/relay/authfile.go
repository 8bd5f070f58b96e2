package relay

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/meshnode/meshnode/pkg/identity"
)

// AuthKeys is the set of auth keys a rendezvous admits nodes with: the parsed
// --auth-keys file. It is immutable; a reload builds a new one (Server.SetAuthKeys).
//
// File format: one key per line, then optional fields; '#' starts a comment.
//
//	# alice's home lab: may join "home" and "lab" until the end of June 2027
//	mnrk1_3q2-7wNx...  label=alice  groups=home,lab  expires=2027-07-01
//	mnrk1_Zk0c4oPa...  label=ci
//
// label: a name for logs (letters, digits and ._-@); groups: the group names the key
// may join (default: any); expires: a date (YYYY-MM-DD, meaning 00:00 UTC of that
// day) or an RFC 3339 time after which the key is refused and its nodes are
// disconnected.
type AuthKeys struct {
	keys map[AuthKeyID]*AuthKey
}

// AuthKey is one entry of an AuthKeys file.
type AuthKey struct {
	ID      AuthKeyID
	Secret  AuthSecret
	Label   string             // "" = none; logs show the id then
	Groups  []string           // names the key may join; nil = any
	groupID []identity.GroupID // Groups, as the wire carries them
	Expires time.Time          // zero = never
	Line    int                // where the key is in its file
}

// Name is how logs refer to the key: its label, or its id.
func (k *AuthKey) Name() string {
	if k.Label != "" {
		return k.Label
	}
	return "key " + k.ID.String()
}

// allows reports whether the key may join group.
func (k *AuthKey) allows(group identity.GroupID) bool {
	return k.groupID == nil || slices.Contains(k.groupID, group)
}

// expired reports whether the key is past its expiry at now.
func (k *AuthKey) expired(now time.Time) bool {
	return !k.Expires.IsZero() && !now.Before(k.Expires)
}

// ParseAuthKeys parses an auth keys file (format: AuthKeys). name is the file's
// name for errors, which give the line and never the key itself.
func ParseAuthKeys(name, content string) (*AuthKeys, error) {
	ks := &AuthKeys{keys: make(map[AuthKeyID]*AuthKey)}
	for i, line := range strings.Split(content, "\n") {
		line, _, _ = strings.Cut(line, "#")
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		where := fmt.Sprintf("%s:%d", name, i+1)
		secret, err := ParseAuthSecret(f[0])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		k := &AuthKey{ID: secret.ID(), Secret: secret, Line: i + 1}
		if prev, ok := ks.keys[k.ID]; ok {
			return nil, fmt.Errorf("%s: the same key is already on line %d", where, prev.Line)
		}
		seen := map[string]bool{}
		for _, field := range f[1:] {
			key, val, ok := strings.Cut(field, "=")
			if !ok || val == "" {
				return nil, fmt.Errorf("%s: %q: want key=value (label=, groups=, expires=)", where, field)
			}
			if seen[key] {
				return nil, fmt.Errorf("%s: %s= given twice", where, key)
			}
			seen[key] = true
			switch key {
			case "label":
				if err := validateLabel(val); err != nil {
					return nil, fmt.Errorf("%s: label: %w", where, err)
				}
				k.Label = val
			case "groups":
				for _, g := range strings.Split(val, ",") {
					if err := identity.ValidateGroupName(g); err != nil {
						return nil, fmt.Errorf("%s: groups: %w", where, err)
					}
					k.Groups = append(k.Groups, g)
					k.groupID = append(k.groupID, identity.DeriveGroupID(g))
				}
			case "expires":
				t, err := parseExpiry(val)
				if err != nil {
					return nil, fmt.Errorf("%s: expires: %w", where, err)
				}
				k.Expires = t
			default:
				return nil, fmt.Errorf("%s: unknown field %q (want label=, groups= or expires=)", where, key)
			}
		}
		ks.keys[k.ID] = k
	}
	return ks, nil
}

func validateLabel(s string) error {
	if len(s) > 64 {
		return fmt.Errorf("%q is longer than 64 bytes", s)
	}
	for _, r := range s {
		if r > unicode.MaxASCII || !(unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("._-@", r)) {
			return fmt.Errorf("%q: use letters, digits and ._-@", s)
		}
	}
	return nil
}

func parseExpiry(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: want YYYY-MM-DD or an RFC 3339 time such as 2027-07-01T12:00:00Z", s)
	}
	return t, nil
}

// Len is the number of keys.
func (ks *AuthKeys) Len() int { return len(ks.keys) }

// List returns the keys in file order.
func (ks *AuthKeys) List() []*AuthKey {
	out := make([]*AuthKey, 0, len(ks.keys))
	for _, k := range ks.keys {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b *AuthKey) int { return a.Line - b.Line })
	return out
}

// lookup returns the key with id, or nil.
func (ks *AuthKeys) lookup(id AuthKeyID) *AuthKey { return ks.keys[id] }
