package relay

import "fmt"

// Code says why the rendezvous refused or closed a connection (the first byte of
// an Error frame; see proto.go). Nodes explain a refusal by its code, so the
// message that comes with it is only detail.
type Code uint8

// Error codes. Their numbers are part of the wire protocol.
const (
	CodeProtocol        Code = 1  // the client broke the protocol
	CodeServerFull      Code = 2  // --max-conns reached
	CodeVersion         Code = 3  // the versions differ (the message names both)
	CodeNoAuthKey       Code = 4  // the server needs an auth key and the node sent none
	CodeBadAuthKey      Code = 5  // unknown key id, or a proof that does not match
	CodeAuthKeyExpired  Code = 6  // the key's expiry passed
	CodeAuthKeyGroup    Code = 7  // the key may not join this group
	CodeBadNodeProof    Code = 8  // the client does not hold its node key
	CodeBadGroupSig     Code = 9  // the group signature does not verify
	CodeNodeKeyInUse    Code = 10 // another live process connected with the same node key
	CodeTooManyFromAddr Code = 11 // --max-conns-per-ip reached
	CodeShuttingDown    Code = 12 // the server stops
	CodeReplaced        Code = 13 // the same node reconnected on a newer connection
	CodeAuthKeyRevoked  Code = 14 // the key was removed from the server's file (reload)
	CodeGroupFull       Code = 15 // --max-group-members reached
	CodeStuck           Code = 16 // the client did not read or send for too long
	CodeDisconnected    Code = 17 // the rendezvous' operator disconnected the node (admin API); it may reconnect
)

// maxCode bounds the codes the server counts refusals by.
const maxCode = 32

var codeNames = map[Code]string{
	CodeProtocol:        "protocol error",
	CodeServerFull:      "server full",
	CodeVersion:         "version mismatch",
	CodeNoAuthKey:       "no auth key",
	CodeBadAuthKey:      "bad auth key",
	CodeAuthKeyExpired:  "auth key expired",
	CodeAuthKeyGroup:    "auth key not valid for the group",
	CodeBadNodeProof:    "bad node proof",
	CodeBadGroupSig:     "bad group signature",
	CodeNodeKeyInUse:    "node key already connected",
	CodeTooManyFromAddr: "too many connections from this address",
	CodeShuttingDown:    "shutting down",
	CodeReplaced:        "replaced by a newer connection",
	CodeAuthKeyRevoked:  "auth key revoked",
	CodeGroupFull:       "group full",
	CodeStuck:           "connection stuck",
	CodeDisconnected:    "disconnected by the operator",
}

func (c Code) String() string {
	if s, ok := codeNames[c]; ok {
		return s
	}
	return fmt.Sprintf("code %d", uint8(c))
}

// Permanent reports whether retrying soon cannot help: the node's configuration
// (its auth key, group secret or key) or the server's must change first. The
// client then retries at its slowest pace and logs the refusal once.
func (c Code) Permanent() bool {
	switch c {
	case CodeVersion, CodeNoAuthKey, CodeBadAuthKey, CodeAuthKeyExpired, CodeAuthKeyGroup,
		CodeBadNodeProof, CodeBadGroupSig, CodeNodeKeyInUse, CodeAuthKeyRevoked:
		return true
	}
	return false
}
