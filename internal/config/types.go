package config

import (
	"time"
)

// Config is a loaded and validated configuration: every jail found in the
// jail files (enabled or not), each with its filter and actions resolved, and
// every problem met on the way. A jail with an error is kept, with Err set, so
// that callers can report it while the other jails run.
type Config struct {
	// Dir is the configuration directory that was read ("" when only the
	// embedded defaults were used).
	Dir string
	// Jails lists every jail section in the order of first appearance.
	Jails []*Jail
	// Problems lists warnings and errors, each naming its file and line.
	Problems []Problem
}

// Enabled returns the jails that are enabled and have no error.
func (c *Config) Enabled() []*Jail {
	var out []*Jail
	for _, j := range c.Jails {
		if j.Enabled && j.Err == nil {
			out = append(out, j)
		}
	}
	return out
}

// Jail returns the jail called name, or nil.
func (c *Config) Jail(name string) *Jail {
	for _, j := range c.Jails {
		if j.Name == name {
			return j
		}
	}
	return nil
}

// HasErrors reports whether any problem is an error.
func (c *Config) HasErrors() bool {
	for _, p := range c.Problems {
		if p.Severity == SeverityError {
			return true
		}
	}
	return false
}

// Severity grades a Problem.
type Severity int

const (
	SeverityWarning Severity = iota
	SeverityError
)

func (s Severity) String() string {
	if s == SeverityError {
		return "error"
	}
	return "warning"
}

// Problem is one warning or error found while reading the configuration.
type Problem struct {
	Severity Severity
	File     string // path of the file, "" when not tied to one
	Line     int    // 1-based line, 0 when unknown
	Jail     string // jail concerned, "" for global problems
	Msg      string
}

func (p Problem) String() string {
	s := p.Severity.String() + ": "
	if p.File != "" {
		s += p.File
		if p.Line > 0 {
			s += ":" + itoa(p.Line)
		}
		s += ": "
	}
	if p.Jail != "" {
		s += "jail " + p.Jail + ": "
	}
	return s + p.Msg
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

// Position names where a value was defined.
type Position struct {
	File string
	Line int
}

// Permanent is the BanTime of a ban that never ends (fail2ban's -1).
const Permanent time.Duration = -1

// Jail is one jail with every option resolved to its typed value.
type Jail struct {
	Name    string
	Pos     Position // the jail's section header
	Enabled bool
	// Err is set when the jail cannot run (its filter or an action could
	// not be built); the problem is also in Config.Problems.
	Err error

	Filter  *Filter
	Actions []*Action

	// LogPaths are the logpath entries, not glob-expanded.
	LogPaths []LogPath
	Backend  string // auto, polling, pyinotify, gamin, systemd (with options kept in BackendOptions)
	// BackendOptions holds systemd[journalflags=..] style parameters.
	BackendOptions map[string]string
	LogEncoding    string
	LogTimezone    string // "" for local time

	MaxRetry   int
	MaxMatches int
	FindTime   time.Duration
	BanTime    time.Duration // Permanent for -1
	Increment  Increment

	IgnoreIP      []string // addresses, CIDR prefixes and DNS names, as written
	IgnoreSelf    bool
	IgnoreCommand string // with tags left for the runtime to substitute
	UseDNS        string // yes, warn, no, raw

	Port     string
	Protocol string

	// MaxTrackedIDs caps the number of IDs with failure state (pinjail's
	// "maxtracked" option); the oldest are evicted first.
	MaxTrackedIDs int

	// IPv4Prefix and IPv6Prefix are the prefix lengths failures are
	// counted and banned by (options ipv4prefix, default 32, and
	// ipv6prefix, default 128 — the built-in Pexip jails set 64), so that
	// an attacker rotating addresses inside its prefix is one ID.
	IPv4Prefix, IPv6Prefix int

	// Pexip holds the Pexip accounting options.
	Pexip Pexip

	// Options holds every option of the jail section after interpolation,
	// keyed by lower-cased name, for tags that actions and ignorecommand
	// resolve against the jail.
	Options map[string]string
}

// Pexip holds pinjail's accounting options for Pexip PIN failures. They
// act on failures that carry an "alias" field (the conference alias).
type Pexip struct {
	// Joins is set when the filter's mode is "joins": a 403 is held for
	// JoinWindow and forgiven if the same address joins the same room in
	// that time; past JoinHold held 403s of one attempt they all count.
	// mode = strict counts every 403 at once, as Pexip's stock jail.
	Joins      bool
	JoinWindow time.Duration // joinwindow
	JoinHold   int           // joinhold
	// RoomBudget is how many unexplained 403s one room takes from all
	// addresses within RoomWindow before it is under attack for RoomAttack
	// (roombudget, roomwindow, roomattack); 0 turns this off.
	RoomBudget int
	RoomWindow time.Duration
	RoomAttack time.Duration
	// AttackWebhook receives a JSON POST when a room comes under attack
	// (attackwebhook); "" for none.
	AttackWebhook string
}

// DefaultPexip returns the accounting defaults: 2-minute join window, 5
// held 403s (two typos in any client flow), no room budget, and for rooms
// that set one a 10-minute window and 30 minutes under attack.
func DefaultPexip() Pexip {
	return Pexip{JoinWindow: 2 * time.Minute, JoinHold: 5, RoomWindow: 10 * time.Minute, RoomAttack: 30 * time.Minute}
}

// LogPath is one logpath entry.
type LogPath struct {
	Path string
	Tail bool // "tail": start at the end of the file instead of the head
}

// Increment holds the bantime.* options.
type Increment struct {
	Enabled      bool
	Factor       string    // bantime.factor, an arithmetic expression ("1" when unset)
	Formula      string    // bantime.formula, "" for fail2ban's default exponential formula
	Multipliers  []float64 // bantime.multipliers, nil when unset
	MaxTime      time.Duration
	RndTime      time.Duration
	OverallJails bool
}

// Filter is a resolved filter definition: all %() and <tag> interpolation
// done, jail overrides applied. Regex texts still hold fail2ban's tags
// (<HOST>, <F-USER>...), which the filter package expands.
type Filter struct {
	Name   string            // "sshd", or "" for a literal regex
	File   string            // main file the definition came from
	Params map[string]string // name[k=v] parameters and [Init] values after merging
	Mode   string

	PrefRegex   *Regex
	FailRegex   []Regex
	IgnoreRegex []Regex

	MaxLines     int
	DatePattern  string // raw datepattern value, "" for the default detector
	JournalMatch []string
	LogType      string // file or journal
	UseDNS       string // from the filter, overridden by the jail when set
}

// Regex is one regular expression with the place it was written.
type Regex struct {
	Pattern string
	Pos     Position
}

// Action is a resolved action instance of a jail.
type Action struct {
	Name    string // file name, e.g. "iptables-multiport"
	ActName string // unique instance name (<actname>)
	File    string
	Pos     Position // where the action= entry is
	// Params holds the name[k=v] parameters merged over [Init] (and the
	// jail's standard options as fallback), tags not yet substituted.
	Params map[string]string
	// InitFamily holds [Init?family=X] overrides, keyed by family (inet4, inet6).
	InitFamily map[string]map[string]string
	// Commands holds the [Definition] values: actionstart, actionstop,
	// actioncheck, actionban, actionunban, actionflush, actionrepair,
	// actionreload, actionprolong, actionreban, plus flags such as
	// norestored, timeout, actionstart_on_demand.
	Commands map[string]string
	// Builtin is set for pinjail's native actions (nftables, log); those have
	// no Commands.
	Builtin bool
}
