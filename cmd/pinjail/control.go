package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pinjail/pinjail/internal/api"
	"github.com/pinjail/pinjail/internal/client"
)

// The commands in this file are thin clients of the daemon's control
// socket.

func addSocketFlag(cmd *cobra.Command, path *string) {
	cmd.Flags().StringVar(path, "socket", client.DefaultSocket, "the daemon's control socket")
}

// notRunning turns "no daemon" into the one-line message admins expect.
func notRunning(err error) error {
	if errors.Is(err, client.ErrNotRunning) {
		return &exitError{code: 255, err: err}
	}
	return err
}

func newStatusCmd() *cobra.Command {
	var socket string
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "status [JAIL]",
		Short: "Show the jails, or one jail's counters, like fail2ban-client status",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := client.New(socket)
			out := cmd.OutOrStdout()
			if len(args) == 0 {
				st, err := c.Status(cmd.Context())
				if err != nil {
					return notRunning(err)
				}
				if jsonOut {
					return json.NewEncoder(out).Encode(st)
				}
				writeStatus(out, st)
				return nil
			}
			st, err := c.JailStatus(cmd.Context(), args[0])
			if err != nil {
				return notRunning(err)
			}
			if jsonOut {
				return json.NewEncoder(out).Encode(st)
			}
			writeJailStatus(out, st)
			return nil
		},
	}
	addSocketFlag(cmd, &socket)
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return cmd
}

// writeStatus prints fail2ban-client's status tree.
func writeStatus(w io.Writer, st api.Status) {
	fmt.Fprintf(w, "Status\n|- Number of jail:\t%d\n`- Jail list:\t%s\n", len(st.Jails), strings.Join(st.Jails, ", "))
}

// writeJailStatus prints fail2ban-client's per-jail status tree.
func writeJailStatus(w io.Writer, st api.JailStatus) {
	fmt.Fprintf(w, "Status for the jail: %s\n", st.Name)
	fmt.Fprintf(w, "|- Filter\n")
	fmt.Fprintf(w, "|  |- Currently failed:\t%d\n", st.CurrentlyFailed)
	fmt.Fprintf(w, "|  |- Total failed:\t%d\n", st.TotalFailed)
	if st.JournalMatches != "" {
		fmt.Fprintf(w, "|  `- Journal matches:\t%s\n", st.JournalMatches)
	} else {
		fmt.Fprintf(w, "|  `- File list:\t%s\n", strings.Join(st.FileList, " "))
	}
	fmt.Fprintf(w, "`- Actions\n")
	fmt.Fprintf(w, "   |- Currently banned:\t%d\n", st.CurrentlyBanned)
	fmt.Fprintf(w, "   |- Total banned:\t%d\n", st.TotalBanned)
	fmt.Fprintf(w, "   `- Banned IP list:\t%s\n", strings.Join(st.BannedIPs, " "))
}

// eachAddr applies a ban or unban to every address and prints how many
// bans changed, as fail2ban-client does.
func eachAddr(cmd *cobra.Command, jail string, addrs []string, op func(context.Context, string, string) (int, error)) error {
	total := 0
	for _, a := range addrs {
		n, err := op(cmd.Context(), jail, a)
		if err != nil {
			return notRunning(err)
		}
		total += n
	}
	fmt.Fprintln(cmd.OutOrStdout(), total)
	return nil
}

func newBanCmd() *cobra.Command {
	var socket string
	cmd := &cobra.Command{
		Use:   "ban JAIL ADDR...",
		Short: "Ban addresses in a jail",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := client.New(socket)
			return eachAddr(cmd, args[0], args[1:], c.Ban)
		},
	}
	addSocketFlag(cmd, &socket)
	return cmd
}

func newUnbanCmd() *cobra.Command {
	var socket string
	var all bool
	cmd := &cobra.Command{
		Use:   "unban (JAIL ADDR... | --all)",
		Short: "Lift bans: of addresses in a jail, or every ban with --all",
		RunE: func(cmd *cobra.Command, args []string) error {
			c := client.New(socket)
			if all {
				if len(args) > 0 {
					return errors.New("--all takes no arguments")
				}
				n, err := c.UnbanAll(cmd.Context())
				if err != nil {
					return notRunning(err)
				}
				fmt.Fprintln(cmd.OutOrStdout(), n)
				return nil
			}
			if len(args) < 2 {
				return errors.New("usage: pinjail unban JAIL ADDR... | pinjail unban --all")
			}
			return eachAddr(cmd, args[0], args[1:], c.Unban)
		},
	}
	addSocketFlag(cmd, &socket)
	cmd.Flags().BoolVar(&all, "all", false, "lift every ban of every jail")
	return cmd
}

func newBannedCmd() *cobra.Command {
	var socket string
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "banned [ADDR]",
		Short: "List current bans: which jails hold an address, and until when",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			addr := ""
			if len(args) == 1 {
				addr = args[0]
			}
			bans, err := client.New(socket).Banned(cmd.Context(), addr)
			if err != nil {
				return notRunning(err)
			}
			out := cmd.OutOrStdout()
			if jsonOut {
				return json.NewEncoder(out).Encode(bans)
			}
			for _, b := range bans {
				until := "permanent"
				if !b.Until.IsZero() {
					until = b.Until.Local().Format(time.DateTime) + " (" + time.Until(b.Until).Round(time.Second).String() + " left)"
				}
				fmt.Fprintf(out, "%s\t%s\tsince %s\tuntil %s\n", b.Jail, b.Addr, b.Since.Local().Format(time.DateTime), until)
			}
			return nil
		},
	}
	addSocketFlag(cmd, &socket)
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return cmd
}

func newReloadCmd() *cobra.Command {
	var socket string
	cmd := &cobra.Command{
		Use:   "reload [JAIL]",
		Short: "Reload the configuration; a configuration with errors is rejected and the running one kept",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			jail := ""
			if len(args) == 1 {
				jail = args[0]
			}
			r, err := client.New(socket).Reload(cmd.Context(), jail)
			if err != nil {
				return notRunning(err)
			}
			out := cmd.OutOrStdout()
			for _, w := range r.Warnings {
				fmt.Fprintln(out, "warning:", w)
			}
			if len(r.Errors) > 0 {
				for _, e := range r.Errors {
					fmt.Fprintln(out, "error:", e)
				}
				return &exitError{code: 255, err: errors.New("reload rejected: the running configuration is kept")}
			}
			fmt.Fprintln(out, "OK")
			return nil
		},
	}
	addSocketFlag(cmd, &socket)
	return cmd
}

func newStopCmd() *cobra.Command {
	var socket string
	cmd := &cobra.Command{
		Use:   "stop",
		Short: "Stop the daemon",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := client.New(socket).Stop(cmd.Context()); err != nil {
				return notRunning(err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), "Shutdown successful")
			return nil
		},
	}
	addSocketFlag(cmd, &socket)
	return cmd
}
