// Package replay runs configured jails over historical logs on log time,
// reporting the bans the daemon would have made. Each jail sees every line
// of every log, in the order given, as the daemon would have seen them
// live.
package replay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"sync/atomic"
	"time"

	"github.com/pinjail/pinjail/internal/config"
	"github.com/pinjail/pinjail/internal/jail"
	"github.com/pinjail/pinjail/internal/linereader"
)

// Options tunes a replay.
type Options struct {
	// Jails names the jails to run; all enabled jails when empty. A jail
	// named here runs even if it is disabled in the configuration.
	Jails  []string
	Logger *slog.Logger
	// Read, when not nil, is advanced by the bytes read, for a progress
	// bar.
	Read *atomic.Int64
	// Now resolves dates without a year; time.Now when nil.
	Now func() time.Time
}

// Ban is one ban, as printed by replay.
type Ban struct {
	Time     time.Time
	Jail     string
	IP       string
	BanTime  time.Duration // config.Permanent for ever
	Failures int
}

// MarshalJSON writes {"time", "jail", "ip", "bantime" (seconds, -1
// permanent), "failures"}.
func (b Ban) MarshalJSON() ([]byte, error) {
	secs := int64(-1)
	if b.BanTime != config.Permanent {
		secs = int64(b.BanTime / time.Second)
	}
	return json.Marshal(struct {
		Time     string `json:"time"`
		Jail     string `json:"jail"`
		IP       string `json:"ip"`
		BanTime  int64  `json:"bantime"`
		Failures int    `json:"failures"`
	}{b.Time.Format(time.RFC3339), b.Jail, b.IP, secs, b.Failures})
}

// BanFromEvent turns a jail's ban event into a Ban.
func BanFromEvent(ev jail.Event) Ban {
	ip := ev.ID
	if ev.Addr.IsValid() {
		ip = ev.Addr.String()
	}
	return Ban{Time: ev.Time, Jail: ev.Jail, IP: ip, BanTime: ev.BanTime, Failures: ev.Failures}
}

// Summary totals one jail's replay.
type Summary struct {
	Jail string
	jail.Stats
	// Addresses is the number of distinct IDs banned.
	Addresses int
}

// Run replays logs through the selected jails of cfg, calling event for
// every event (failures, ignored failures and bans) in log order.
func Run(ctx context.Context, cfg *config.Config, logs []string, opts Options, event func(jail.Event) error) ([]Summary, error) {
	jails, err := build(cfg, opts)
	if err != nil {
		return nil, err
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	banned := make([]map[string]struct{}, len(jails))
	for i := range banned {
		banned[i] = make(map[string]struct{})
	}
	var evErr error
	emitFor := func(i int) func(jail.Event) {
		return func(ev jail.Event) {
			if ev.Kind == jail.Ban {
				banned[i][ev.ID] = struct{}{}
			}
			if evErr == nil && event != nil {
				evErr = event(ev)
			}
		}
	}
	emits := make([]func(jail.Event), len(jails))
	for i := range jails {
		emits[i] = emitFor(i)
	}
	for _, path := range logs {
		if err := replayFile(ctx, path, jails, emits, now, opts.Read); err != nil {
			return nil, err
		}
		if evErr != nil {
			return nil, evErr
		}
	}
	// No 200 can come after the end of the logs: what join accounting
	// still holds counts now.
	for i, j := range jails {
		j.Finish(ctx, emits[i])
	}
	if evErr != nil {
		return nil, evErr
	}
	sums := make([]Summary, len(jails))
	for i, j := range jails {
		sums[i] = Summary{Jail: j.Name(), Stats: j.Stats(), Addresses: len(banned[i])}
	}
	return sums, nil
}

func build(cfg *config.Config, opts Options) ([]*jail.Jail, error) {
	var selected []*config.Jail
	if len(opts.Jails) == 0 {
		selected = cfg.Enabled()
		if len(selected) == 0 {
			return nil, errors.New("no enabled jail in the configuration; name one with --jail")
		}
	}
	for _, name := range opts.Jails {
		jc := cfg.Jail(name)
		if jc == nil {
			return nil, fmt.Errorf("no jail named %q in the configuration", name)
		}
		if jc.Err != nil {
			return nil, fmt.Errorf("jail %s: %w", name, jc.Err)
		}
		selected = append(selected, jc)
	}
	jails := make([]*jail.Jail, 0, len(selected))
	for _, jc := range selected {
		j, err := jail.New(jc, jail.Options{Logger: opts.Logger})
		if err != nil {
			return nil, err
		}
		jails = append(jails, j)
	}
	return jails, nil
}

func replayFile(ctx context.Context, path string, jails []*jail.Jail, emits []func(jail.Event), now func() time.Time, read *atomic.Int64) error {
	var r io.Reader
	if path == "-" {
		r = os.Stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	lr := linereader.New(r, 0, 0)
	t := now()
	var last int64
	for n := 1; ; n++ {
		line, err := lr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: line %d: %w", path, n, err)
		}
		if n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			t = now()
			if read != nil {
				off := lr.Offset()
				read.Add(off - last)
				last = off
			}
		}
		for i, j := range jails {
			j.Line(ctx, line, t, emits[i])
		}
	}
	if read != nil {
		read.Add(lr.Offset() - last)
	}
	return nil
}

// WriteSummary prints the per-jail totals.
func WriteSummary(w io.Writer, sums []Summary) {
	sort.SliceStable(sums, func(a, b int) bool { return sums[a].Jail < sums[b].Jail })
	fmt.Fprintln(w, "\nSummary")
	for _, s := range sums {
		fmt.Fprintf(w, "  %-20s %d lines, %d matched, %d failures, %d ignored, %d bans of %d addresses\n",
			s.Jail, s.Lines, s.Matched, s.Failures, s.Ignored, s.Bans, s.Addresses)
	}
}

// WriteBan prints one ban as a text line.
func WriteBan(w io.Writer, b Ban) error {
	bt := "permanent"
	if b.BanTime != config.Permanent {
		bt = fmt.Sprintf("%ds", int64(b.BanTime/time.Second))
	}
	_, err := fmt.Fprintf(w, "%s  %-16s %-40s ban %-10s failures %d\n",
		b.Time.Format(time.RFC3339), b.Jail, b.IP, bt, b.Failures)
	return err
}

// WriteAttack prints a room put under attack as a text line.
func WriteAttack(w io.Writer, ev jail.Event) error {
	_, err := fmt.Fprintf(w, "%s  %-16s room %s under attack: every address failing a PIN on it is banned\n",
		ev.Time.Format(time.RFC3339), ev.Jail, ev.Fields["alias"])
	return err
}
