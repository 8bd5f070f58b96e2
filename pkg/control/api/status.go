package api

import "time"

// StatusInfo is the node's state (GET /v1/status).
type StatusInfo struct {
	ID         string           `json:"id"`
	Name       string           `json:"name"`
	Group      string           `json:"group"`
	Started    time.Time        `json:"started"`
	Cipher     string           `json:"cipher"`
	Transport  string           `json:"transport"`
	Rendezvous RendezvousStatus `json:"rendezvous"`
	PeersUp    int              `json:"peers_up"`
	Peers      int              `json:"peers"`
	Services   []LocalService   `json:"services"`
	// CatalogVersion is the version of this node's catalog entry: it grows
	// with every change, across restarts (it is kept in the state dir).
	CatalogVersion uint64         `json:"catalog_version"`
	Mappings       []MappingInfo  `json:"mappings"`
	Plugins        []PluginStatus `json:"plugins,omitempty"`
	// Config is the configuration's state, when the node runs with one
	// (started by `meshnode up`).
	Config *ConfigInfo `json:"config,omitempty"`
	// HardNAT counts the hard-NAT attempts (after plain ICE failed) and the
	// direct paths they found, by method (predict, lockstep, birthday).
	HardNAT map[string]HardNATCount `json:"hard_nat,omitempty"`
}

// HardNATCount is one hard-NAT method's attempts and successes.
type HardNATCount struct {
	Attempts uint64 `json:"attempts"`
	Direct   uint64 `json:"direct"`
}

// RendezvousStatus is the node's view of its rendezvous connection.
type RendezvousStatus struct {
	Addr      string    `json:"addr"`
	Connected bool      `json:"connected"`
	Since     time.Time `json:"since,omitempty"`
	RTTMillis float64   `json:"rtt_ms"`
	LastError string    `json:"last_error,omitempty"`
	// Refused is set while the rendezvous refuses this node for a reason only a
	// configuration change fixes (no or a bad auth key, a node key in use...).
	Refused string `json:"refused,omitempty"`
	// OthersInGroup counts the nodes the rendezvous says use this group's name
	// with a different secret.
	OthersInGroup int `json:"others_in_group,omitempty"`
}

// PluginKind says what a plugin provides.
type PluginKind string

// The kinds of plugins.
const (
	PluginCipher    PluginKind = "cipher"
	PluginTransport PluginKind = "transport"
)

// PluginState is the state of a plugin's process.
type PluginState string

// The states of a plugin's process.
const (
	PluginRunning    PluginState = "running"
	PluginRestarting PluginState = "restarting"
	PluginStopped    PluginState = "stopped"
)

// PluginStatus describes a cipher or transport plugin the node runs.
type PluginStatus struct {
	Kind      PluginKind  `json:"kind"`
	Name      string      `json:"name"`
	Version   string      `json:"version"`
	Suite     string      `json:"suite,omitempty"`
	State     PluginState `json:"state"`
	PID       int         `json:"pid,omitempty"`
	Restarts  int         `json:"restarts"`
	Since     time.Time   `json:"since"`
	LastError string      `json:"last_error,omitempty"`
}

// ConfigInfo is the state of the node's configuration.
type ConfigInfo struct {
	File     string    `json:"file,omitempty"` // the config file; "" when the node runs on flags alone
	Loaded   time.Time `json:"loaded"`         // last start or successful reload
	LogLevel string    `json:"log_level"`
	// Restart lists settings whose new value waits for a restart.
	Restart []string `json:"restart_needed,omitempty"`
	// NotApplied lists declared items that are not in effect, each with why
	// (a clash with a live item, a port in use).
	NotApplied []string `json:"not_applied,omitempty"`
}

// ReloadResult says what a reload did (POST /v1/reload).
type ReloadResult struct {
	File string `json:"file"`
	// Changed lists what was applied, one line per setting or item
	// ("log-level: info -> debug", "[serve.web]: added as serveid 710").
	Changed []string `json:"changed,omitempty"`
	// Restart lists settings whose new value waits for a restart.
	Restart []string `json:"restart_needed,omitempty"`
	// NotApplied lists declared items not in effect, each with why.
	NotApplied []string `json:"not_applied,omitempty"`
}
