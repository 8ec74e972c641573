package main

import (
	"encoding/json"
	"os"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/pinjail/pinjail/internal/jail"
	"github.com/pinjail/pinjail/internal/progress"
	"github.com/pinjail/pinjail/internal/replay"
)

func newReplayCmd(g *globals) *cobra.Command {
	var (
		jails   []string
		jsonOut bool
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
			onEvent := func(ev jail.Event) error {
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
			if !jsonOut {
				replay.WriteSummary(out, sums)
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&jails, "jail", "j", nil, "jail to run (repeatable); all enabled jails by default")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print one JSON object per ban and no summary")
	return cmd
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
