// Package action runs a jail's fail2ban shell actions: the actionstart,
// actionban, actionunban, actionflush and actionstop commands of the files
// in action.d, with fail2ban 1.0.2's semantics (server/action.py
// CommandAction): [Init?family=inet6] values for IPv6 addresses, start on
// demand once per address family, actioncheck and actionrepair after a
// failed command and one retry, norestored, and the action's timeout.
//
// Static tags (the action's parameters and [Init] values, <fq-hostname>,
// <br>...) are expanded once, when the Runner is built. The per-ban tags
// (<ip>, <matches>, <F-USER>...) hold text from logs and are never pasted
// into a command: shellcmd.Build passes each as a positional argument that
// the script refers to.
//
// The per-ban tags are <ip> and <fid> (the ban's ID), <family>, <ip-rev>,
// <ip-host>, <failures>, <time>, <bantime>, <bancount>, <matches>,
// <restored>, <F-NAME> for each captured field (empty when absent), and
// <ipmatches>, <ipjailmatches>, <ipfailures> and <ipjailfailures>, which
// are the ban's own matches and failures: pinjail does not merge earlier
// bans from the database into them as fail2ban does. <raw-ticket> and the
// <jail.*> counters are not supported and stay as written.
package action

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pinjail/pinjail/internal/config"
	"github.com/pinjail/pinjail/internal/shellcmd"
)

// DefaultTimeout is how long a command may run when the action sets no
// timeout, fail2ban's default.
const DefaultTimeout = 60 * time.Second

// Command names: the [Definition] options that hold shell commands.
const (
	cmdStart  = "actionstart"
	cmdStop   = "actionstop"
	cmdCheck  = "actioncheck"
	cmdBan    = "actionban"
	cmdUnban  = "actionunban"
	cmdFlush  = "actionflush"
	cmdRepair = "actionrepair"
)

var commandNames = []string{cmdStart, cmdStop, cmdCheck, cmdBan, cmdUnban, cmdFlush, cmdRepair}

// Address families, as fail2ban names them in [Init?family=...].
const (
	inet4 = "inet4"
	inet6 = "inet6"
)

// Ban is one ban as the actions see it.
type Ban struct {
	// ID is what is banned and what <ip> gives: an address, a prefix in
	// CIDR notation when failures are counted by prefix, or another ID
	// (<F-ID>). When empty, Addr is used.
	ID string
	// Addr is the address the ban was decided for; it chooses the address
	// family, and so the [Init?family=...] values. When invalid, the family
	// comes from ID, and an ID that is not an address runs with the
	// action's base values and an empty <family>.
	Addr netip.Addr
	// Time is when the ban was decided (<time>); the zero Time means now.
	Time time.Time
	// BanTime is the ban's length (<bantime>, in seconds);
	// config.Permanent for ever (-1).
	BanTime time.Duration
	// Count is how many times the ID has been banned, this ban included
	// (<bancount>).
	Count int
	// Failures is the failure count that led to the ban (<failures>).
	Failures int
	// Matches are the failures' log lines (<matches>, joined by newlines).
	Matches []string
	// Fields are the filter's captured fields, keyed by lower-case name
	// (<F-USER> is Fields["user"]).
	Fields map[string]string
	// Restored marks a ban restored from the database at start: actions
	// with norestored set skip it, and <restored> is 1.
	Restored bool
}

// AddrResolver finds the names of an address, for <ip-host>;
// *net.Resolver is one.
type AddrResolver interface {
	LookupAddr(ctx context.Context, addr string) ([]string, error)
}

// Options carries a Runner's dependencies. Every field may be left zero.
type Options struct {
	// Logger receives every command run (debug) and every failure (error);
	// nil discards them.
	Logger *slog.Logger
	// Hostnames are the values of <fq-hostname> and <sh-hostname>. When
	// Short is empty, both are the kernel's host name.
	Hostnames shellcmd.Hostnames
	// Timeout is how long a command may run when the action sets no
	// timeout option; DefaultTimeout when zero.
	Timeout time.Duration
	// Resolver looks up <ip-host>, only for commands that use it;
	// net.DefaultResolver when nil.
	Resolver AddrResolver
	// Now is the clock, for the <time> of start, stop and flush commands;
	// time.Now when nil.
	Now func() time.Time
}

// hostLookupTimeout bounds the <ip-host> lookup: a slow resolver must not
// hold up the ban.
const hostLookupTimeout = 5 * time.Second

// Runner runs the commands of one action of one jail.
//
// A Runner is safe for concurrent use. Its calls are serialized, as
// fail2ban runs one action's commands in sequence, and each blocks until its
// commands have finished: up to the action's timeout per command, and a
// failed command is checked, repaired and retried once. The daemon should
// therefore call it from a goroutine of its own, never from one that reads
// logs. Cancelling a call's context ends its running command, with the
// command's whole process group.
type Runner struct {
	jail    string
	name    string // the action's actname
	log     *slog.Logger
	timeout time.Duration
	banTime time.Duration // the jail's, for <bantime> outside bans
	now     func() time.Time
	res     AddrResolver

	conditional   bool // the action has [Init?family=...] sections
	onDemand      bool // actionstart runs at a family's first ban
	norestored    bool
	repairOnUnban bool

	// scripts holds the commands with their static tags expanded, by
	// family key ("" for the base values, inet4, inet6) and command name;
	// a command that is not defined is "".
	scripts map[string]map[string]string

	// mu serializes the commands and guards the state below.
	mu sync.Mutex
	// started holds, by family key, startedBit and itemsBit (fail2ban's
	// __started).
	started map[string]uint8
	// executed records, by command name and family key, the start and stop
	// commands that ran, so that a command identical for both families
	// runs once (fail2ban's _operationExecuted).
	executed map[string]map[string]string
}

const (
	startedBit uint8 = 1 // actionstart ran
	itemsBit   uint8 = 2 // actionban ran since; unban and flush have work
)

// New builds the runner of action a of jail. It expands the static tags of
// every command for each address family, and fails, naming the action file,
// when the action is one of pinjail's built-in actions, a tag refers to
// itself, or the timeout is not a positive time.
func New(jail *config.Jail, a *config.Action, opts Options) (*Runner, error) {
	if a.Builtin {
		return nil, fmt.Errorf("jail %s: action %s is built in and has no shell commands", jail.Name, a.Name)
	}
	where := a.File
	if where == "" {
		where = "action " + a.Name
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if v, ok := a.Commands["timeout"]; ok && strings.TrimSpace(v) != "" {
		d, err := config.ParseDuration(v)
		if err != nil {
			return nil, fmt.Errorf("%s: timeout: %w", where, err)
		}
		if d <= 0 {
			return nil, fmt.Errorf("%s: timeout %q: must be positive", where, v)
		}
		timeout = d
	}
	host := opts.Hostnames
	if host.Short == "" {
		name, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("%s: host name: %w", where, err)
		}
		host = shellcmd.Hostnames{FQDN: name, Short: name}
	}
	if host.FQDN == "" {
		host.FQDN = host.Short
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Runner{
		jail:          jail.Name,
		name:          a.ActName,
		log:           log.With("jail", jail.Name, "action", a.ActName),
		timeout:       timeout,
		banTime:       jail.BanTime,
		now:           opts.Now,
		res:           opts.Resolver,
		conditional:   len(a.InitFamily) > 0,
		norestored:    a.Commands["norestored"] == "true",
		repairOnUnban: a.Commands["actionrepair_on_unban"] == "true",
		scripts:       make(map[string]map[string]string),
		started:       make(map[string]uint8),
		executed:      make(map[string]map[string]string),
	}
	// Unset, actionstart_on_demand follows the conditional sections, as in
	// fail2ban: iptables starts at the first ban of each family.
	r.onDemand = r.conditional
	if v, ok := a.Commands["actionstart_on_demand"]; ok {
		r.onDemand = v == "true"
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.res == nil {
		r.res = net.DefaultResolver
	}
	keys := []string{""}
	if r.conditional {
		keys = append(keys, inet4, inet6)
	}
	for _, key := range keys {
		params := staticParams(a, key, timeout)
		cmds := make(map[string]string, len(commandNames))
		for _, name := range commandNames {
			cmd := a.Commands[name]
			if strings.TrimSpace(cmd) == "" {
				continue
			}
			expanded, err := shellcmd.Expand(cmd, params, host)
			if err != nil {
				if key != "" {
					return nil, fmt.Errorf("%s: %s for family %s: %w", where, name, key, err)
				}
				return nil, fmt.Errorf("%s: %s: %w", where, name, err)
			}
			cmds[name] = expanded
		}
		r.scripts[key] = cmds
	}
	return r, nil
}

// staticParams are the values the static tags of the commands resolve to
// for family key, as fail2ban's server resolves them against the action's
// properties: the [Definition] options, the action's timeout in seconds,
// the parameters and [Init] values, and over them the family's
// [Init?family=...] values. The jail's options are not among them: the
// configuration already resolved the tags they stand in for (jail.conf's
// action_ passes port, protocol and chain as parameters). As in fail2ban,
// bantime is always the ban's own, never a static value.
func staticParams(a *config.Action, key string, timeout time.Duration) map[string]string {
	p := make(map[string]string, len(a.Commands)+len(a.Params)+len(a.InitFamily[key])+1)
	for k, v := range a.Commands {
		p[k] = v
	}
	p["timeout"] = seconds(timeout)
	for k, v := range a.Params {
		p[k] = v
	}
	for k, v := range a.InitFamily[key] {
		p[k] = v
	}
	delete(p, "bantime")
	return p
}

// Name returns the action's instance name (<actname>).
func (r *Runner) Name() string { return r.name }

// familyKey returns the family a ban of b uses, its <family> tag, and the
// key its commands and state are found under: the family for an action
// with conditional sections, "" for one without (one set of values, one
// state, whatever the family).
func (r *Runner) familyKey(b Ban) (family, key string) {
	family = familyOf(b)
	if r.conditional {
		return family, family
	}
	return family, ""
}

// Start runs actionstart, for every family when the action has conditional
// sections, unless the action starts on demand (at each family's first ban;
// the default for actions with [Init?family=...] sections, such as
// iptables).
func (r *Runner) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.onDemand {
		return nil
	}
	return r.startLocked(ctx, r.families())
}

// families lists the family keys started together.
func (r *Runner) families() []string {
	if r.conditional {
		return []string{inet4, inet6}
	}
	return []string{""}
}

func (r *Runner) startLocked(ctx context.Context, keys []string) error {
	return r.operationLocked(ctx, cmdStart, keys, func(key string) {
		r.forget(cmdStop, key)
		r.started[key] = startedBit
	})
}

// Ban runs actionban for b, starting the family first if the action starts
// on demand. It does nothing for a restored ban when the action has
// norestored set.
func (r *Runner) Ban(ctx context.Context, b Ban) error {
	if b.ID == "" && !b.Addr.IsValid() {
		return fmt.Errorf("jail %s action %s: ban without an ID or address", r.jail, r.name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if b.Restored && r.norestored {
		r.log.Debug("restored ban skipped (norestored)", "id", b.ident())
		return nil
	}
	family, key := r.familyKey(b)
	if r.onDemand && r.started[key] == 0 {
		if err := r.startLocked(ctx, []string{key}); err != nil {
			return err
		}
	}
	if err := r.processLocked(ctx, cmdBan, key, r.banTags(ctx, b, family, r.scripts[key][cmdBan])); err != nil {
		return fmt.Errorf("jail %s action %s: banning %s: %w", r.jail, r.name, b.ident(), err)
	}
	r.started[key] |= startedBit | itemsBit
	return nil
}

// Unban runs actionunban for b, if a ban of b's family ran since the action
// started or was last flushed.
func (r *Runner) Unban(ctx context.Context, b Ban) error {
	if b.ID == "" && !b.Addr.IsValid() {
		return fmt.Errorf("jail %s action %s: unban without an ID or address", r.jail, r.name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.unbanLocked(ctx, b)
}

func (r *Runner) unbanLocked(ctx context.Context, b Ban) error {
	family, key := r.familyKey(b)
	if r.started[key]&itemsBit == 0 {
		return nil
	}
	if err := r.processLocked(ctx, cmdUnban, key, r.banTags(ctx, b, family, r.scripts[key][cmdUnban])); err != nil {
		return fmt.Errorf("jail %s action %s: unbanning %s: %w", r.jail, r.name, b.ident(), err)
	}
	return nil
}

// Flush removes every ban, as fail2ban does at stop and for unban --all:
// with actionflush, once per family that has bans, when the action has one;
// otherwise with actionunban for each of bans.
func (r *Runner) Flush(ctx context.Context, bans []Ban) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.scripts[""][cmdFlush] == "" {
		var errs []error
		for _, b := range bans {
			if err := r.unbanLocked(ctx, b); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	var keys []string
	for _, key := range r.knownKeys() {
		if r.started[key]&(startedBit|itemsBit) == startedBit|itemsBit {
			keys = append(keys, key)
		}
	}
	// A flush identical for both families runs once.
	ran := make(map[string]bool)
	var errs []error
	for _, key := range keys {
		cmd := r.scripts[key][cmdFlush]
		if !ran[cmd] {
			if err := r.run(ctx, cmdFlush, cmd, r.operationTags(key)); err != nil {
				errs = append(errs, err)
				continue
			}
			ran[cmd] = true
		}
		r.started[key] &^= itemsBit
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("jail %s action %s: flushing: %w", r.jail, r.name, err)
	}
	return nil
}

// Stop runs actionstop for every family that was started.
func (r *Runner) Stop(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var keys []string
	for _, key := range r.knownKeys() {
		if r.started[key] != 0 {
			keys = append(keys, key)
		}
	}
	clear(r.started)
	return r.stopLocked(ctx, keys)
}

func (r *Runner) stopLocked(ctx context.Context, keys []string) error {
	return r.operationLocked(ctx, cmdStop, keys, func(key string) { r.forget(cmdStart, key) })
}

// knownKeys lists the family keys in a fixed order.
func (r *Runner) knownKeys() []string {
	if r.conditional {
		return []string{inet4, inet6, ""}
	}
	return []string{""}
}

// operationLocked runs command name (actionstart or actionstop) for each of
// keys, as fail2ban's _executeOperation: a command identical to one already
// run for another family is not run again but counts as done, and done is
// called for each family whose command succeeded.
func (r *Runner) operationLocked(ctx context.Context, name string, keys []string, done func(key string)) error {
	var errs []error
	for _, key := range keys {
		cmd := r.scripts[key][name]
		if cmd != "" && !r.ranElsewhere(name, key, cmd) {
			if err := r.run(ctx, name, cmd, r.operationTags(key)); err != nil {
				r.forget(name, key)
				errs = append(errs, err)
				continue
			}
		}
		done(key)
		if cmd != "" {
			if r.executed[name] == nil {
				r.executed[name] = make(map[string]string)
			}
			r.executed[name][key] = cmd
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("jail %s action %s: %w", r.jail, r.name, err)
	}
	return nil
}

// ranElsewhere reports whether cmd ran as command name for a family other
// than key.
func (r *Runner) ranElsewhere(name, key, cmd string) bool {
	for k, c := range r.executed[name] {
		if k != key && c == cmd {
			return true
		}
	}
	return false
}

// forget drops the record of command name for key, and for every family
// that ran the same command.
func (r *Runner) forget(name, key string) {
	m := r.executed[name]
	cmd, ok := m[key]
	if !ok {
		return
	}
	for k, c := range m {
		if c == cmd {
			delete(m, k)
		}
	}
}

// processLocked runs command name for family key with the ban's tags, as
// fail2ban's _processCmd: when it fails, actioncheck (if any) verifies the
// environment and repairs it, and the command is tried once more.
func (r *Runner) processLocked(ctx context.Context, name, key string, tags map[string]string) error {
	cmd := r.scripts[key][name]
	if cmd == "" {
		return nil
	}
	err := r.run(ctx, name, cmd, tags)
	if err == nil || ctx.Err() != nil {
		return err
	}
	if r.scripts[key][cmdCheck] != "" {
		if cerr := r.checkLocked(ctx, key, name == cmdUnban); cerr != nil {
			return errors.Join(err, cerr)
		}
	}
	return r.run(ctx, name, cmd, tags)
}

// checkLocked runs actioncheck for key and, when it fails, restores the
// environment with actionrepair, or by stopping and starting the family
// when there is none, then checks again (fail2ban's _invariantCheck).
func (r *Runner) checkLocked(ctx context.Context, key string, unban bool) error {
	if unban {
		if _, ok := r.started[key]; !ok {
			return nil
		}
	}
	tags := r.operationTags(key)
	check := r.scripts[key][cmdCheck]
	if r.run(ctx, cmdCheck, check, tags) == nil {
		return nil
	}
	if unban && !r.repairOnUnban {
		r.log.Error("invariant check failed; unban is impossible", "family", key)
		return errors.New("actioncheck failed; unban is impossible without actionrepair_on_unban")
	}
	// The bans made so far may be gone from the firewall now; fail2ban
	// re-bans them when their IDs show up again.
	r.log.Error("invariant check failed; trying to restore a sane environment", "family", key)
	if repair := r.scripts[key][cmdRepair]; repair != "" {
		if err := r.run(ctx, cmdRepair, repair, tags); err != nil {
			r.started[key] = 0
			r.log.Error("unable to restore environment", "family", key)
			return fmt.Errorf("repairing: %w", err)
		}
		r.started[key] = startedBit
	} else {
		if _, ok := r.started[key]; ok {
			r.started[key] = 0
			if err := r.stopLocked(ctx, []string{key}); err != nil {
				r.log.Warn("stop before restart failed", "family", key, "err", err)
			}
		}
		if !unban || !r.onDemand {
			if err := r.startLocked(ctx, []string{key}); err != nil {
				r.log.Error("unable to restore environment", "family", key)
				return fmt.Errorf("restarting: %w", err)
			}
		}
	}
	if r.started[key] != 0 {
		if err := r.run(ctx, cmdCheck, check, tags); err != nil {
			r.log.Error("unable to restore environment", "family", key)
			return fmt.Errorf("check after repair: %w", err)
		}
	}
	return nil
}

// outputTail is how much of a failed command's output is logged and
// returned: the end, where shells print their errors.
const outputTail = 1024

// run runs one command with its dynamic tags.
func (r *Runner) run(ctx context.Context, name, cmd string, tags map[string]string) error {
	script, args := shellcmd.Build(cmd, tags)
	start := time.Now()
	res, err := shellcmd.Run(ctx, script, args, r.timeout)
	elapsed := time.Since(start)
	if err == nil && res.ExitCode == 0 {
		r.log.Debug("action command", "command", name, "script", script, "args", args, "elapsed", elapsed)
		return nil
	}
	out := tail(res.Output, outputTail)
	if err == nil {
		err = fmt.Errorf("exit status %d", res.ExitCode)
	}
	r.log.Error("action command failed", "command", name, "exit", res.ExitCode, "err", err,
		"output", out, "elapsed", elapsed, "script", script, "args", args)
	if out != "" {
		return fmt.Errorf("%s: %w: %s", name, err, out)
	}
	return fmt.Errorf("%s: %w", name, err)
}

// tail returns the last n bytes of out, at a line start when one is near,
// without surrounding white space.
func tail(out []byte, n int) string {
	if len(out) > n {
		out = out[len(out)-n:]
		if i := slices.Index(out, '\n'); i >= 0 && i < n/4 {
			out = out[i+1:]
		}
	}
	return strings.TrimSpace(string(out))
}

// ident is how logs and errors name the ban.
func (b Ban) ident() string {
	if b.ID != "" {
		return b.ID
	}
	return b.Addr.String()
}

// seconds formats d in seconds, as fail2ban prints its times: an integer
// when whole.
func seconds(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10)
	}
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}
