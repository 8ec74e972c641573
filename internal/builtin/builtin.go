// Package builtin holds pinjail's embedded configuration: the default
// jail.conf, the Pexip jails and filters, and pinjail's native actions. The
// config package layers these under the configuration directory, so pinjail
// works with no files at all and an admin's files override ours.
package builtin

import (
	"embed"
	"io/fs"
)

//go:embed all:conf
var files embed.FS

// FS returns the embedded configuration tree, laid out like /etc/fail2ban
// (jail.conf, filter.d/, action.d/).
func FS() fs.FS {
	sub, err := fs.Sub(files, "conf")
	if err != nil {
		// Unreachable: fs.Sub fails only on an invalid path, and "conf" is
		// valid. Returning the unrooted tree keeps this free of panics.
		return files
	}
	return sub
}
