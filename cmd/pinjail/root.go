package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/pinjail/pinjail/internal/builtin"
	"github.com/pinjail/pinjail/internal/config"
)

// defaultConfigDir is where pinjail looks for fail2ban-style configuration.
const defaultConfigDir = "/etc/pinjail"

// globals are the flags every subcommand shares.
type globals struct {
	configDir string
	logLevel  string
}

// exitError carries a process exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

func newRootCmd() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "pinjail",
		Short: "Intrusion prevention for Pexip Infinity reverse proxies, fail2ban-compatible",
		Long: `pinjail bans addresses that guess conference PINs on a Pexip Infinity
reverse proxy, and runs fail2ban's jails, filters and actions unchanged.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVarP(&g.configDir, "config-dir", "c", defaultConfigDir, "configuration directory in fail2ban's layout (jail.conf, jail.local, jail.d, filter.d, action.d)")
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	root.AddCommand(
		newRegexCmd(g),
		newReplayCmd(g),
		newCheckCmd(g),
		newRunCmd(g),
		newStatusCmd(),
		newBanCmd(),
		newUnbanCmd(),
		newBannedCmd(),
		newReloadCmd(),
		newStopCmd(),
	)
	return root
}

// logger returns the slog logger the flags ask for, writing to stderr.
func (g *globals) logger() *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// dir returns the configuration directory to read: "" (embedded defaults
// only) when the default directory does not exist, an error when a
// directory given explicitly does not.
func (g *globals) dir(cmd *cobra.Command) (string, error) {
	_, err := os.Stat(g.configDir)
	switch {
	case err == nil:
		return g.configDir, nil
	case errors.Is(err, fs.ErrNotExist) && !cmd.Flags().Changed("config-dir"):
		return "", nil
	default:
		return "", fmt.Errorf("configuration directory: %w", err)
	}
}

func (g *globals) configOptions() config.Options {
	return config.Options{Builtin: builtin.FS(), Logger: g.logger()}
}

// loadConfig reads the whole configuration.
func (g *globals) loadConfig(cmd *cobra.Command) (*config.Config, error) {
	dir, err := g.dir(cmd)
	if err != nil {
		return nil, err
	}
	return config.Load(dir, g.configOptions())
}
