// Command profiled runs pinjail's daemon as `pinjail run` does, with what
// bench/daemon.sh needs to find out where its time and memory go: the
// runtime's profiles over HTTP (net/http/pprof on -pprof), and the daemon
// settings the command line does not expose (-save-interval). It is a
// diagnostic tool, never a way to run pinjail in production.
//
//	profiled -config-dir DIR -db FILE -socket PATH -metrics 127.0.0.1:9191 -pprof 127.0.0.1:6060
//	go tool pprof -top http://127.0.0.1:6060/debug/pprof/heap
//
// Like `pinjail run` it enforces in nftables, so run it in a network
// namespace of its own (ip netns exec).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/pinjail/pinjail/internal/builtin"
	"github.com/pinjail/pinjail/internal/daemon"
	"github.com/pinjail/pinjail/internal/enforce/nft"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "profiled:", err)
		os.Exit(1)
	}
}

func run() error {
	s := daemon.DefaultSettings()
	configDir := flag.String("config-dir", "", "configuration directory; empty for the built-in configuration only")
	flag.StringVar(&s.DBFile, "db", s.DBFile, "SQLite database")
	flag.StringVar(&s.Socket, "socket", s.Socket, "control socket")
	flag.StringVar(&s.MetricsAddr, "metrics", s.MetricsAddr, "Prometheus metrics address; off when empty")
	flag.DurationVar(&s.ReconcileInterval, "reconcile", s.ReconcileInterval, "how often the firewall is checked and repaired")
	flag.DurationVar(&s.SaveInterval, "save-interval", s.SaveInterval, "how often log positions and failure counts are saved while lines flow")
	table := flag.String("nft-table", "pinjail", "the inet table pinjail owns")
	pprofAddr := flag.String("pprof", "127.0.0.1:6060", "address of the profiling endpoints")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", flag.Arg(0))
	}

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	enf, err := nft.New(nft.Options{Table: *table, Logger: log})
	if err != nil {
		return err
	}
	d, err := daemon.New(daemon.Options{
		ConfigDir: *configDir, Builtin: builtin.FS(), Settings: s, Enforcer: enf, Logger: log,
	})
	if err != nil {
		enf.Close()
		return err
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Addr: *pprofAddr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("pprof listener", "addr", *pprofAddr, "err", err)
		}
	}()
	defer srv.Close()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := d.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
