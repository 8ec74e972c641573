package config

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"time"
)

// Daemon holds the daemon's own settings, from the [Definition] section of
// pinjail.conf (with pinjail.d/*.conf, pinjail.local and pinjail.d/*.local
// over it), as fail2ban.conf holds fail2ban-server's. fail2ban.conf itself
// is not read: its dbfile is fail2ban's database, which pinjail must not
// take over.
type Daemon struct {
	// DBFile is the SQLite database; ":memory:" keeps nothing (dbfile).
	DBFile string
	// DBPurgeAge is how long ban history is kept (dbpurgeage).
	DBPurgeAge time.Duration
	// Socket is the control socket's path (socket).
	Socket string
	// Metrics is the address Prometheus metrics are served on, "" for
	// nowhere (metrics).
	Metrics string
	// LogLevel is debug, info, warn or error (loglevel).
	LogLevel string
	// Problems are the settings that could not be used; their defaults
	// apply instead.
	Problems []Problem
}

// DefaultDaemon returns the settings of a stock installation.
func DefaultDaemon() Daemon {
	return Daemon{
		DBFile:     "/var/lib/pinjail/pinjail.db",
		DBPurgeAge: 24 * time.Hour,
		Socket:     "/run/pinjail/pinjail.sock",
		LogLevel:   "info",
	}
}

// LoadDaemon reads the daemon's settings from dir ("" for none). Missing
// files leave the defaults; a bad value is a problem, reported with its
// file and line, and its default is kept.
func LoadDaemon(dir string, opts Options) Daemon {
	d := DefaultDaemon()
	if dir == "" {
		return d
	}
	l := newLoader(dir, Options{Logger: opts.Logger})
	conf, err := l.readNamed("pinjail")
	if err != nil {
		return d // no pinjail.conf: the defaults
	}
	for _, err := range conf.errs {
		d.Problems = append(d.Problems, errorProblem(SeverityError, "", Position{}, err))
	}
	const sec = "Definition"
	bad := func(opt string, err error) {
		_, s, _ := conf.getSetting(sec, opt, nil)
		d.Problems = append(d.Problems, errorProblem(SeverityError, "", s.pos, fmt.Errorf("%s: %w", opt, err)))
	}
	get := func(opt string) (string, bool) {
		v, err := conf.get(sec, opt, nil)
		if err != nil {
			return "", false
		}
		return strings.TrimSpace(v), true
	}
	if v, ok := get("dbfile"); ok && v != "" {
		if v != ":memory:" && !filepath.IsAbs(v) {
			bad("dbfile", fmt.Errorf("%q is not an absolute path", v))
		} else {
			d.DBFile = v
		}
	}
	if v, ok := get("dbpurgeage"); ok && v != "" {
		if age, err := ParseDuration(v); err != nil || age <= 0 {
			bad("dbpurgeage", fmt.Errorf("%q is not a positive duration", v))
		} else {
			d.DBPurgeAge = age
		}
	}
	if v, ok := get("socket"); ok && v != "" {
		if !filepath.IsAbs(v) {
			bad("socket", fmt.Errorf("%q is not an absolute path", v))
		} else {
			d.Socket = v
		}
	}
	if v, ok := get("metrics"); ok && v != "" {
		if _, _, err := net.SplitHostPort(v); err != nil {
			bad("metrics", fmt.Errorf("%q is not a host:port address", v))
		} else {
			d.Metrics = v
		}
	}
	if v, ok := get("loglevel"); ok && v != "" {
		switch lv := strings.ToLower(v); lv {
		case "debug", "info", "warn", "warning", "error":
			d.LogLevel = strings.TrimSuffix(lv, "ing")
		default:
			bad("loglevel", fmt.Errorf("%q is none of debug, info, warn, error", v))
		}
	}
	return d
}
