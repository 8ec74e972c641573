// Command pinjail is an intrusion-prevention daemon for Pexip Infinity
// reverse proxies that reads fail2ban's configuration. Each subcommand lives
// in its own file and only wires internal packages together.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "pinjail:", err)
		os.Exit(exitCode(err))
	}
}
