// Package daemon runs pinjail live: it builds a jail for every enabled
// jail of the configuration, follows each jail's logs, enforces bans in the
// firewall, keeps bans, failure counts and log positions in the database,
// and serves the control socket. Reload builds the new jails first and
// swaps them in only when the whole configuration is sound.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pinjail/pinjail/internal/api"
	"github.com/pinjail/pinjail/internal/config"
	"github.com/pinjail/pinjail/internal/control"
	"github.com/pinjail/pinjail/internal/enforce"
	"github.com/pinjail/pinjail/internal/jail"
	"github.com/pinjail/pinjail/internal/store"
)

// Options configure a Daemon.
type Options struct {
	// ConfigDir is the configuration directory; "" uses the built-in
	// configuration only.
	ConfigDir string
	Builtin   fs.FS
	// Settings are the daemon's own settings (database, socket, metrics).
	Settings Settings
	// Enforcer applies bans; required (nft, or enforce.Log for a dry run).
	Enforcer enforce.Enforcer
	Logger   *slog.Logger
	// Registry receives the metrics; a new registry when nil.
	Registry *prometheus.Registry
	// Notify is told the daemon's state for systemd ("READY=1",
	// "STOPPING=1", "WATCHDOG=1"); nil when not under systemd.
	Notify func(state string)
	// WatchdogInterval is how often to send WATCHDOG=1; 0 for never.
	WatchdogInterval time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// HTTPClient posts attack notices to webhooks; a client with the
	// default transport when nil.
	HTTPClient *http.Client
}

// Settings are the daemon's own settings, from pinjail.conf.
type Settings struct {
	// DBFile is the SQLite database; ":memory:" keeps nothing.
	DBFile string
	// DBPurgeAge is how long ban history is kept.
	DBPurgeAge time.Duration
	// Socket is the control socket's path.
	Socket string
	// MetricsAddr is where Prometheus metrics are served; "" for nowhere.
	MetricsAddr string
	// ReconcileInterval is how often the firewall is checked against the
	// bans pinjail holds.
	ReconcileInterval time.Duration
	// SaveInterval is how often log positions and failure counts are
	// saved while lines flow.
	SaveInterval time.Duration
}

// DefaultSettings returns the settings of a stock installation.
func DefaultSettings() Settings {
	return Settings{
		DBFile:            "/var/lib/pinjail/pinjail.db",
		DBPurgeAge:        24 * time.Hour,
		Socket:            "/run/pinjail/pinjail.sock",
		ReconcileInterval: 5 * time.Second,
		SaveInterval:      time.Second,
	}
}

// Daemon is a running pinjail.
type Daemon struct {
	opts  Options
	log   *slog.Logger
	now   func() time.Time
	store *store.Store
	enf   enforce.Enforcer
	ctl   *control.Server
	met   *metrics

	httpClient *http.Client
	hostname   string
	// helpers match part of a jail's large batches on the processors
	// the jails' own goroutines leave.
	helpers *jail.Helpers

	// mu guards jails and cfg; each jail's own state has its own lock.
	mu    sync.Mutex
	jails map[string]*runner
	cfg   *config.Config

	stop     context.CancelFunc
	stopOnce sync.Once
}

// New opens the database and the control socket and loads the
// configuration; Run starts the jails.
func New(opts Options) (*Daemon, error) {
	if opts.Enforcer == nil {
		return nil, errors.New("daemon: no enforcer")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	d := &Daemon{
		opts: opts, log: log, now: now, enf: opts.Enforcer, jails: make(map[string]*runner), httpClient: opts.HTTPClient,
		helpers: jail.NewHelpers(runtime.GOMAXPROCS(0) - 1),
	}
	if d.httpClient == nil {
		d.httpClient = &http.Client{}
	}
	d.hostname, _ = os.Hostname()
	cfg, err := d.loadConfig()
	if err != nil {
		return nil, err
	}
	for _, p := range cfg.Problems {
		logProblem(log, p)
	}
	d.cfg = cfg
	st, err := store.Open(opts.Settings.DBFile, store.Options{Logger: log, Now: now})
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	d.store = st
	d.met = newMetrics(d)
	if err := opts.Registry.Register(d.met); err != nil {
		st.Close()
		return nil, fmt.Errorf("metrics: %w", err)
	}
	ctl, err := control.Listen(opts.Settings.Socket, d, log)
	if err != nil {
		st.Close()
		return nil, err
	}
	d.ctl = ctl
	return d, nil
}

func (d *Daemon) loadConfig() (*config.Config, error) {
	return config.Load(d.opts.ConfigDir, config.Options{Builtin: d.opts.Builtin, Logger: d.log})
}

func logProblem(log *slog.Logger, p config.Problem) {
	if p.Severity == config.SeverityError {
		log.Error("configuration", "problem", p.String())
	} else {
		log.Warn("configuration", "problem", p.String())
	}
}

// Run starts every enabled jail and serves until ctx ends or Stop is
// called, then stops cleanly: sources stop, positions, failure counts and
// bans are saved, and the firewall keeps the bans (they expire in the
// kernel on time even while pinjail is not running).
func (d *Daemon) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	d.stop = cancel
	defer cancel()

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := d.ctl.Serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("control socket", "err", err)
		}
	}()
	var metricsSrv *http.Server
	if addr := d.opts.Settings.MetricsAddr; addr != "" {
		metricsSrv = &http.Server{Addr: addr, Handler: promhttp.HandlerFor(d.opts.Registry, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := metricsSrv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				d.log.Error("metrics listener", "addr", addr, "err", err)
			}
		}()
	}

	d.mu.Lock()
	for _, jc := range d.cfg.Enabled() {
		if err := d.startJailLocked(ctx, jc, nil); err != nil {
			d.log.Error("jail not started", "jail", jc.Name, "err", err)
		}
	}
	d.mu.Unlock()
	d.notify("READY=1")
	d.log.Info("pinjail running", "jails", d.jailNames())

	wg.Add(1)
	go func() {
		defer wg.Done()
		d.housekeeping(ctx)
	}()
	<-ctx.Done()
	d.notify("STOPPING=1")
	d.log.Info("pinjail stopping")

	d.mu.Lock()
	for name, r := range d.jails {
		r.shutdown()
		d.saveState(r)
		delete(d.jails, name)
	}
	d.mu.Unlock()
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	d.ctl.Shutdown(sctx)
	if metricsSrv != nil {
		metricsSrv.Shutdown(sctx)
	}
	wg.Wait()
	return errors.Join(d.enf.Close(), d.store.Close())
}

// Stop makes Run return.
func (d *Daemon) Stop() {
	d.stopOnce.Do(func() {
		if d.stop != nil {
			d.stop()
		}
	})
}

func (d *Daemon) notify(state string) {
	if d.opts.Notify != nil {
		d.opts.Notify(state)
	}
}

func (d *Daemon) jailNames() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	names := make([]string, 0, len(d.jails))
	for n := range d.jails {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// housekeeping lifts expired bans, repairs the firewall, saves state and
// purges old history, each on its own period.
func (d *Daemon) housekeeping(ctx context.Context) {
	unban := time.NewTicker(time.Second)
	defer unban.Stop()
	reconcile := time.NewTicker(d.opts.Settings.ReconcileInterval)
	defer reconcile.Stop()
	purge := time.NewTicker(time.Hour)
	defer purge.Stop()
	var watchdog <-chan time.Time
	if d.opts.WatchdogInterval > 0 {
		t := time.NewTicker(d.opts.WatchdogInterval)
		defer t.Stop()
		watchdog = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-unban.C:
			d.expireBans(ctx)
		case <-reconcile.C:
			d.reconcile(ctx)
		case <-purge.C:
			if n, err := d.store.Purge(ctx, d.opts.Settings.DBPurgeAge); err != nil {
				d.log.Warn("database purge", "err", err)
			} else if n > 0 {
				d.log.Info("database purged", "rows", n)
			}
		case <-watchdog:
			d.notify("WATCHDOG=1")
		}
	}
}

func (d *Daemon) runners() []*runner {
	d.mu.Lock()
	defer d.mu.Unlock()
	rs := make([]*runner, 0, len(d.jails))
	for _, r := range d.jails {
		rs = append(rs, r)
	}
	return rs
}

func (d *Daemon) runner(name string) (*runner, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.jails[name]
	if r == nil {
		return nil, &control.NotFoundError{Jail: name}
	}
	return r, nil
}

func (d *Daemon) expireBans(ctx context.Context) {
	now := d.now()
	var batch store.Batch
	for _, r := range d.runners() {
		r.tick(ctx, now)
		d.stageUnbans(r, r.expire(now), &batch, "expiry")
	}
	d.applyUnbans(ctx, &batch)
}

func (d *Daemon) reconcile(ctx context.Context) {
	// The runners are looked up before the firewall's lock is taken: a
	// reload holds the daemon's lock while it starts jails in the firewall.
	runners := make(map[string]*runner)
	for _, r := range d.runners() {
		runners[r.name] = r
	}
	want := func(jailName string) []enforce.Ban {
		r := runners[jailName]
		if r == nil || !r.nft {
			return nil
		}
		return r.firewallBans(d.now())
	}
	n, err := d.enf.Reconcile(ctx, want)
	if err != nil {
		d.met.enforceErrors.Inc()
		d.log.Error("firewall reconcile", "err", err)
	}
	if n > 0 {
		d.log.Warn("firewall changed from outside: restored", "bans", n)
	}
}

// commit applies staged firewall changes, logging what failed.
func (d *Daemon) commit(ctx context.Context) {
	if err := d.enf.Commit(ctx); err != nil {
		d.met.enforceErrors.Inc()
		d.log.Error("firewall", "err", err)
	}
}

// banPrefix returns the firewall prefix of a ban event; IDs that are not
// addresses are never sent to the firewall.
func banPrefix(ev jail.Event) (netip.Prefix, bool) {
	if ev.Prefix.IsValid() {
		return ev.Prefix, true
	}
	if ev.Addr.IsValid() {
		a := ev.Addr.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	return netip.Prefix{}, false
}

// Status implements control.Backend.
func (d *Daemon) Status() api.Status { return api.Status{Jails: d.jailNames()} }

// JailStatus implements control.Backend.
func (d *Daemon) JailStatus(name string) (api.JailStatus, error) {
	r, err := d.runner(name)
	if err != nil {
		return api.JailStatus{}, err
	}
	return r.status(d.now()), nil
}
