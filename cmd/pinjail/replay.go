package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/pinjail/pinjail/internal/jail"
	"github.com/pinjail/pinjail/internal/progress"
	"github.com/pinjail/pinjail/internal/replay"
	"github.com/pinjail/pinjail/internal/report"
)

func newReplayCmd(g *globals) *cobra.Command {
	var (
		jails      []string
		jsonOut    bool
		reportPath string
	)
	cmd := &cobra.Command{
		Use:   "replay [--jail NAME]... LOG...",
		Short: "Run the configured jails over historical logs and print the bans",
		Long: `Run the configured jails over historical logs on log time, as the daemon
would have run them live, and print every ban (time, jail, address, ban
seconds, failure count) followed by a summary per jail. An address is not
banned again while its ban holds. LOG "-" reads standard input.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, logs []string) error {
			cfg, err := g.loadConfig(cmd)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			enc := json.NewEncoder(out)
			rep, err := createReport(reportPath)
			if err != nil {
				return err
			}
			defer rep.discard()
			onEvent := func(ev jail.Event) error {
				rep.record(ev)
				if ev.Kind == jail.Attack && !jsonOut {
					return replay.WriteAttack(out, ev)
				}
				if ev.Kind != jail.Ban {
					return nil
				}
				b := replay.BanFromEvent(ev)
				if jsonOut {
					return enc.Encode(b)
				}
				return replay.WriteBan(out, b)
			}
			var read atomic.Int64
			if total := totalSize(logs); total > 64<<20 && term.IsTerminal(int(os.Stderr.Fd())) {
				bar := progress.Start(os.Stderr, total, &read, 100*time.Millisecond)
				defer bar.Stop()
			}
			sums, err := replay.Run(cmd.Context(), cfg, logs, replay.Options{
				Jails: jails, Logger: g.logger(), Read: &read,
			}, onEvent)
			if err != nil {
				return err
			}
			if err := rep.write(sums); err != nil {
				return err
			}
			if !jsonOut {
				replay.WriteSummary(out, sums)
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&jails, "jail", "j", nil, "jail to run (repeatable); all enabled jails by default")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print one JSON object per ban and no summary")
	cmd.Flags().StringVar(&reportPath, "report", "", "also write a self-contained HTML report (rooms, banned sources, timeline) to `FILE`")
	return cmd
}

// reportFile is the --report output. It is created before the replay, so
// that a bad path fails at once rather than after a long replay, and
// removed unless the report was written.
type reportFile struct {
	f   *os.File
	rec *report.Recorder
}

// createReport creates the report at path; it returns nil, and the methods
// do nothing, when path is empty.
func createReport(path string) (*reportFile, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	return &reportFile{f: f, rec: report.NewRecorder(report.Options{})}, nil
}

func (r *reportFile) record(ev jail.Event) {
	if r != nil {
		r.rec.Record(ev)
	}
}

// write writes the report, with the jails' line counts, and closes it.
func (r *reportFile) write(sums []replay.Summary) error {
	if r == nil {
		return nil
	}
	for _, s := range sums {
		r.rec.SetStats(s.Jail, s.Stats)
	}
	err := r.rec.Write(r.f)
	if cerr := r.f.Close(); err == nil {
		err = cerr
	}
	name := r.f.Name()
	r.f = nil
	if err != nil {
		os.Remove(name)
		return fmt.Errorf("report %s: %w", name, err)
	}
	return nil
}

// discard removes the report if it was not written.
func (r *reportFile) discard() {
	if r == nil || r.f == nil {
		return
	}
	r.f.Close()
	os.Remove(r.f.Name())
}

// totalSize sums the sizes of the regular files among logs.
func totalSize(logs []string) int64 {
	var n int64
	for _, l := range logs {
		if st, err := os.Stat(l); err == nil && st.Mode().IsRegular() {
			n += st.Size()
		}
	}
	return n
}
