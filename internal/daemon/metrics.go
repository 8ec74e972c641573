package daemon

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pinjail/pinjail/internal/jail"
)

// metrics exposes the daemon's counters. Per-jail totals are read from the
// jails at scrape time, so the line path costs nothing extra; labels are
// per jail, never per address.
type metrics struct {
	d             *Daemon
	unbans        *prometheus.CounterVec
	enforceErrors prometheus.Counter
	events        *prometheus.CounterVec
	attacks       *prometheus.CounterVec
	webhookErrors prometheus.Counter

	lines, matched, failures, bans, banned, tracked, lag *prometheus.Desc
}

func newMetrics(d *Daemon) *metrics {
	jl := []string{"jail"}
	return &metrics{
		d:             d,
		unbans:        prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pinjail_unbans_total", Help: "Bans lifted, by expiry or by hand."}, jl),
		enforceErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "pinjail_enforce_errors_total", Help: "Firewall operations that failed."}),
		events:        prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pinjail_ignored_total", Help: "Failures of allow-listed addresses."}, jl),
		attacks:       prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pinjail_rooms_attacked_total", Help: "Times a Pexip room was put under attack by its failure budget."}, []string{"jail", "alias"}),
		webhookErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "pinjail_webhook_errors_total", Help: "Attack notices the webhook did not take."}),
		lines:         prometheus.NewDesc("pinjail_lines_total", "Log lines read.", jl, nil),
		matched:       prometheus.NewDesc("pinjail_lines_matched_total", "Log lines a failregex matched.", jl, nil),
		failures:      prometheus.NewDesc("pinjail_failures_total", "Failures counted.", jl, nil),
		bans:          prometheus.NewDesc("pinjail_bans_total", "Bans made.", jl, nil),
		banned:        prometheus.NewDesc("pinjail_banned", "Addresses currently banned.", jl, nil),
		tracked:       prometheus.NewDesc("pinjail_tracked_ids", "IDs with failures within findtime.", jl, nil),
		lag:           prometheus.NewDesc("pinjail_follower_lag_bytes", "Bytes written to the jail's logs and not yet read.", jl, nil),
	}
}

func (m *metrics) event(jailName string, ev jail.Event) {
	switch ev.Kind {
	case jail.Ignored:
		m.events.WithLabelValues(jailName).Inc()
	case jail.Attack:
		// Aliases are few (rooms under attack), so the label stays small.
		m.attacks.WithLabelValues(jailName, ev.Fields["alias"]).Inc()
	}
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	m.unbans.Describe(ch)
	m.enforceErrors.Describe(ch)
	m.events.Describe(ch)
	m.attacks.Describe(ch)
	m.webhookErrors.Describe(ch)
	for _, d := range []*prometheus.Desc{m.lines, m.matched, m.failures, m.bans, m.banned, m.tracked, m.lag} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	m.unbans.Collect(ch)
	m.enforceErrors.Collect(ch)
	m.events.Collect(ch)
	m.attacks.Collect(ch)
	m.webhookErrors.Collect(ch)
	now := m.d.now()
	for _, r := range m.d.runners() {
		// The jail's accessors lock what they read themselves: a scrape
		// does not wait for the jail's lock, which a state save holds
		// while it writes to the database.
		st := r.j.Stats()
		banned := r.j.NumBanned(now)
		tracked := r.j.Failing()
		var lag int64
		if r.files != nil {
			lag = r.files.Lag()
		}
		counter := func(d *prometheus.Desc, v uint64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), r.name)
		}
		gauge := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, r.name)
		}
		counter(m.lines, st.Lines)
		counter(m.matched, st.Matched)
		counter(m.failures, st.Failures)
		counter(m.bans, st.Bans)
		gauge(m.banned, float64(banned))
		gauge(m.tracked, float64(tracked))
		gauge(m.lag, float64(lag))
	}
}
