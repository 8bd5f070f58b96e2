package main

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/meshnode/meshnode/pkg/identity"
	"github.com/meshnode/meshnode/pkg/relay"
)

// The admin API (--admin ADDR): the operator's view of the rendezvous, behind
// its own key (--admin-key-file). It lists the connected nodes (node ID,
// address, since when, bytes relayed) and disconnects one, and serves the same
// /metrics as --metrics. It shows nothing of what nodes send (the rendezvous
// relays sealed datagrams and never learns group names): a group appears only
// as the short form of its group key.
//
//	GET    /api/v1/nodes                      the connected nodes
//	DELETE /api/v1/nodes/{id}                 disconnect node {id} (full ID or a unique prefix of 4+ characters)
//	POST   /api/v1/nodes/{id}/disconnect      the same
//	GET    /metrics                           Prometheus metrics
//
// Every request needs "Authorization: Bearer KEY"; anything else gets 401 and
// no detail. Errors are JSON: {"error": {"code": "...", "message": "..."}}.

// adminKeyPrefix starts every admin key, so a key is recognizable in a file.
const adminKeyPrefix = "mnra1_"

// loadAdminKey reads the admin key from path, creating the file (0600) with a
// new random key when it does not exist. An existing file must not be readable
// by other users, and its first word is the key.
func loadAdminKey(path string, log *slog.Logger) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		var raw [32]byte
		rand.Read(raw[:])
		key := adminKeyPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return "", fmt.Errorf("--admin-key-file %s: create: %w", path, err)
		}
		_, werr := f.WriteString(key + "\n")
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			os.Remove(path)
			return "", fmt.Errorf("--admin-key-file %s: write: %w", path, werr)
		}
		log.Info("created a new admin key", "path", path)
		return key, nil
	}
	if err != nil {
		return "", fmt.Errorf("--admin-key-file %s: %w", path, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("--admin-key-file %s: %w", path, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("--admin-key-file %s is readable by other users (mode %04o); chmod 600 it", path, st.Mode().Perm())
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return "", fmt.Errorf("--admin-key-file %s is empty: delete it and the rendezvous makes a new key, or write one (16+ characters)", path)
	}
	if len(fields[0]) < 16 {
		return "", fmt.Errorf("--admin-key-file %s: the key is %d characters, too short to be safe (want 16+)", path, len(fields[0]))
	}
	return fields[0], nil
}

// adminAPI serves the admin routes for srv, and metrics at /metrics.
type adminAPI struct {
	srv     *relay.Server
	keyHash [sha256.Size]byte
	log     *slog.Logger
}

func newAdminHandler(srv *relay.Server, key string, metrics http.Handler, log *slog.Logger) http.Handler {
	a := &adminAPI{srv: srv, keyHash: sha256.Sum256([]byte(key)), log: log}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/nodes", a.listNodes)
	mux.HandleFunc("DELETE /api/v1/nodes/{id}", a.disconnect)
	mux.HandleFunc("POST /api/v1/nodes/{id}/disconnect", a.disconnect)
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such route: see the rendezvous' README for the admin API")
	})
	return a.auth(mux)
}

// auth lets through only requests with the admin key as a Bearer token,
// compared in constant time (of hashes, so the length leaks nothing either).
func (a *adminAPI) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		h := sha256.Sum256([]byte(strings.TrimSpace(tok)))
		if !ok || subtle.ConstantTimeCompare(h[:], a.keyHash[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="rendezvous admin"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "missing or wrong admin key")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// adminNode is one connected node in the admin API's list.
type adminNode struct {
	ID            string    `json:"id"`             // the node's public key (its node ID)
	Short         string    `json:"short"`          // its short form, as logs and meshnode show it
	Group         string    `json:"group"`          // short form of the group key: not the group's name
	Remote        string    `json:"remote"`         // where it connects from
	Since         time.Time `json:"since"`          // when its connection was accepted
	BytesSent     uint64    `json:"bytes_sent"`     // relayed from it to others
	BytesReceived uint64    `json:"bytes_received"` // relayed to it from others
}

func (a *adminAPI) listNodes(w http.ResponseWriter, r *http.Request) {
	nodes := a.srv.Nodes()
	out := struct {
		Nodes []adminNode `json:"nodes"`
	}{Nodes: make([]adminNode, 0, len(nodes))}
	for _, n := range nodes {
		out.Nodes = append(out.Nodes, adminNode{ID: n.Key.String(), Short: n.Key.Short(), Group: n.GroupKey.Short(),
			Remote: n.Remote, Since: n.Since.UTC(), BytesSent: n.BytesSent, BytesReceived: n.BytesReceived})
	}
	writeJSON(w, http.StatusOK, out)
}

// minIDPrefix is the shortest node ID prefix disconnect accepts.
const minIDPrefix = 4

func (a *adminAPI) disconnect(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if len(id) < minIDPrefix {
		writeError(w, http.StatusBadRequest, "bad_id", fmt.Sprintf("node ID %q is too short: give the full ID or a prefix of %d+ characters", id, minIDPrefix))
		return
	}
	var match []identity.PublicKey
	for _, n := range a.srv.Nodes() {
		if strings.HasPrefix(n.Key.String(), strings.ToLower(id)) {
			if len(match) == 0 || match[len(match)-1] != n.Key {
				match = append(match, n.Key)
			}
		}
	}
	switch len(match) {
	case 0:
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no connected node with ID %q", id))
		return
	case 1:
	default:
		writeError(w, http.StatusConflict, "ambiguous", fmt.Sprintf("%d connected nodes have IDs starting with %q: give more of the ID", len(match), id))
		return
	}
	closed := a.srv.Disconnect(match[0])
	a.log.Info("admin: node disconnected", "node", match[0].Short(), "connections", closed)
	writeJSON(w, http.StatusOK, map[string]any{"id": match[0].String(), "short": match[0].Short(), "connections_closed": closed})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	type body struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	writeJSON(w, status, map[string]body{"error": {Code: code, Message: msg}})
}
