package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	sddaemon "github.com/coreos/go-systemd/v22/daemon"
	"github.com/spf13/cobra"

	"github.com/pinjail/pinjail/internal/builtin"
	"github.com/pinjail/pinjail/internal/config"
	"github.com/pinjail/pinjail/internal/daemon"
	"github.com/pinjail/pinjail/internal/enforce"
	"github.com/pinjail/pinjail/internal/enforce/nft"
)

func newRunCmd(g *globals) *cobra.Command {
	s := daemon.DefaultSettings()
	var dryRun bool
	var table string
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the daemon in the foreground",
		Long: `Follow the jails' logs, ban in nftables, keep state in SQLite and serve the
control socket. SIGHUP reloads the configuration; SIGTERM and SIGINT stop
cleanly. Under systemd (Type=notify) it reports readiness and feeds the
watchdog.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := g.dir(cmd)
			if err != nil {
				return err
			}
			// pinjail.conf gives the settings; flags given win over it.
			conf := config.LoadDaemon(dir, config.Options{})
			flags := cmd.Flags()
			if !flags.Changed("db") {
				s.DBFile = conf.DBFile
			}
			if !flags.Changed("dbpurgeage") {
				s.DBPurgeAge = conf.DBPurgeAge
			}
			if !flags.Changed("socket") {
				s.Socket = conf.Socket
			}
			if !flags.Changed("metrics") {
				s.MetricsAddr = conf.Metrics
			}
			if !cmd.Root().PersistentFlags().Changed("log-level") {
				g.logLevel = conf.LogLevel
			}
			log := g.logger()
			for _, p := range conf.Problems {
				log.Error("configuration", "problem", p.String())
			}
			var enf enforce.Enforcer
			if dryRun {
				enf = enforce.NewLog(log, nil)
			} else {
				e, err := nft.New(nft.Options{Table: table, Logger: log})
				if err != nil {
					return fmt.Errorf("nftables (use --dry-run where pinjail may not change the firewall): %w", err)
				}
				enf = e
			}
			opts := daemon.Options{
				ConfigDir: dir, Builtin: builtin.FS(), Settings: s, Enforcer: enf, Logger: log,
			}
			if os.Getenv("NOTIFY_SOCKET") != "" {
				opts.Notify = func(state string) { sddaemon.SdNotify(false, state) }
				if iv, err := sddaemon.SdWatchdogEnabled(false); err == nil && iv > 0 {
					opts.WatchdogInterval = iv / 2
				}
			}
			d, err := daemon.New(opts)
			if err != nil {
				enf.Close()
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			go func() {
				for {
					select {
					case <-ctx.Done():
						return
					case <-hup:
						r := d.Reload(context.WithoutCancel(ctx), "")
						for _, e := range r.Errors {
							log.Error("reload rejected", "error", e)
						}
					}
				}
			}()
			err = d.Run(ctx)
			if errors.Is(err, context.Canceled) {
				err = nil
			}
			return err
		},
	}
	f := cmd.Flags()
	f.BoolVar(&dryRun, "dry-run", false, "decide bans but only log them; never touch the firewall")
	f.StringVar(&s.DBFile, "db", s.DBFile, "SQLite database of bans, failure counts and log positions")
	f.StringVar(&s.Socket, "socket", s.Socket, "control socket")
	f.StringVar(&s.MetricsAddr, "metrics", s.MetricsAddr, "serve Prometheus metrics on this address (e.g. 127.0.0.1:9191); off when empty")
	f.DurationVar(&s.DBPurgeAge, "dbpurgeage", s.DBPurgeAge, "how long ban history is kept")
	f.DurationVar(&s.ReconcileInterval, "reconcile", s.ReconcileInterval, "how often the firewall is checked and repaired")
	f.StringVar(&table, "nft-table", "pinjail", "the inet table pinjail owns")
	return cmd
}
