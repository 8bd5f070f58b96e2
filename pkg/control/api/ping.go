package api

// PingRequest asks the node to ping a peer over the link's current route
// (POST /v1/ping). Zero fields take the defaults.
type PingRequest struct {
	Peer       string `json:"peer"`        // name, node ID or an ID prefix of 4+ characters
	Count      int    `json:"count"`       // default 3
	IntervalMS int    `json:"interval_ms"` // default 200
	TimeoutMS  int    `json:"timeout_ms"`  // per ping, default 2000
}

// PingResult is the outcome of a ping.
type PingResult struct {
	Peer     string    `json:"peer"`
	Name     string    `json:"name"`
	Path     Path      `json:"path"`
	Endpoint string    `json:"endpoint,omitempty"` // the peer's address on a direct path
	RTTs     []float64 `json:"rtts_ms"`            // -1: lost
	Why      string    `json:"why,omitempty"`      // why the link is relayed
}
