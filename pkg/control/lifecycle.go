package control

import (
	"context"
	"net/http"

	"github.com/meshnode/meshnode/pkg/control/api"
)

// Lifecycle is what `meshnode up` adds to the node's API besides the node
// itself: its configuration (reload, status) and stopping the process.
type Lifecycle interface {
	// Reload re-reads the config file and applies what changed. An error
	// means the file was rejected whole and nothing changed.
	Reload(ctx context.Context) (api.ReloadResult, error)
	// Down stops the node cleanly (as SIGTERM does); it returns at once.
	Down()
	// ConfigInfo is the configuration's state for status.
	ConfigInfo() *api.ConfigInfo
}

// WithLifecycle adds reload, down and the configuration's status to the API.
func (s *Server) WithLifecycle(l Lifecycle) *Server {
	s.life = l
	return s
}

func (s *Server) status(w http.ResponseWriter, _ *http.Request) {
	st := s.b.Status()
	if s.life != nil {
		st.Config = s.life.ConfigInfo()
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) reload(w http.ResponseWriter, r *http.Request) {
	if s.life == nil {
		writeError(w, http.StatusNotImplemented, errNoLifecycle)
		return
	}
	res, err := s.life.Reload(r.Context())
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) down(w http.ResponseWriter, _ *http.Request) {
	if s.life == nil {
		writeError(w, http.StatusNotImplemented, errNoLifecycle)
		return
	}
	writeJSON(w, http.StatusAccepted, struct {
		Stopping bool `json:"stopping"`
	}{true})
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	s.life.Down()
}
