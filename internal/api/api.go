// Package api defines the wire types of pinjail's control API, shared by the
// daemon's control server and the CLI's client. Every route is under /v1/;
// bodies are JSON; errors are an [Error] with a non-2xx status.
package api

import "time"

// Routes of the control API.
const (
	PathStatus   = "/v1/status"             // GET: Status
	PathJail     = "/v1/jails/{jail}"       // GET: JailStatus
	PathBan      = "/v1/jails/{jail}/ban"   // POST BanRequest: BanResponse
	PathUnban    = "/v1/jails/{jail}/unban" // POST BanRequest: BanResponse
	PathUnbanAll = "/v1/unban"              // POST: BanResponse (every jail)
	PathBanned   = "/v1/banned"             // GET ?addr=A: []Banned
	PathReload   = "/v1/reload"             // POST ReloadRequest: ReloadResponse
	PathStop     = "/v1/stop"               // POST: empty
)

// Error is the body of every failed request.
type Error struct {
	Message string `json:"error"`
}

// Status lists the jails of a running daemon.
type Status struct {
	Jails []string `json:"jails"`
}

// JailStatus is one jail's counters, as fail2ban-client status JAIL shows
// them.
type JailStatus struct {
	Name            string   `json:"name"`
	CurrentlyFailed int      `json:"currently_failed"`
	TotalFailed     uint64   `json:"total_failed"`
	FileList        []string `json:"file_list,omitempty"`
	JournalMatches  string   `json:"journal_matches,omitempty"`
	CurrentlyBanned int      `json:"currently_banned"`
	TotalBanned     uint64   `json:"total_banned"`
	BannedIPs       []string `json:"banned_ips"`
}

// BanRequest names one address (or prefix) for a ban or an unban.
type BanRequest struct {
	Addr string `json:"addr"`
}

// BanResponse counts the addresses a ban or unban changed.
type BanResponse struct {
	Changed int `json:"changed"`
}

// Banned is one current ban of an address.
type Banned struct {
	Jail  string    `json:"jail"`
	Addr  string    `json:"addr"`
	Since time.Time `json:"since"`
	// Until is zero for a permanent ban.
	Until time.Time `json:"until,omitzero"`
}

// ReloadRequest reloads one jail, or all when Jail is empty.
type ReloadRequest struct {
	Jail string `json:"jail,omitempty"`
}

// ReloadResponse reports a reload. When Errors is not empty the new
// configuration was rejected and the running one kept.
type ReloadResponse struct {
	Errors   []string `json:"errors,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}
