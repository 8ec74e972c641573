package filtertest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/pinjail/pinjail/internal/config"
)

// filterName matches a filter name with optional parameters, such as
// "sshd" or "sshd[mode=aggressive]".
var filterName = regexp.MustCompile(`^[\w.-]+(?:\[.*\])?$`)

// LoadFilter turns fail2ban-regex's FILTER argument into a filter
// definition, trying in fail2ban-regex's order: a file, a filter name in the
// configuration (dir, then pinjail's built-in filters), a literal regex. It
// returns the definition and the description the report prints.
func LoadFilter(dir, arg string, opts config.Options) (*config.Filter, string, []config.Problem, error) {
	if st, err := os.Stat(arg); err == nil && !st.IsDir() {
		f, probs, err := config.LoadFilterFile(arg, nil, opts)
		if err != nil {
			return nil, "", probs, fmt.Errorf("filter file %s: %w", arg, err)
		}
		return f, FileFilterName(arg, filepath.Dir(filepath.Dir(arg))), probs, nil
	}
	if filterName.MatchString(arg) {
		f, probs, err := config.LoadFilter(dir, arg, opts)
		if err == nil {
			base := dir
			if base == "" {
				base = "(built-in)"
			}
			return f, FileFilterName(arg, base), probs, nil
		}
		if !isNotFound(err) {
			return nil, "", probs, fmt.Errorf("filter %s: %w", arg, err)
		}
	}
	return &config.Filter{
		FailRegex: splitRegexLines(arg),
		MaxLines:  1,
	}, LiteralFilterName(arg), nil, nil
}

// LiteralIgnore turns the optional IGNOREREGEX argument into regexes.
func LiteralIgnore(arg string) []config.Regex { return splitRegexLines(arg) }

// splitRegexLines reads one regex per line, as fail2ban-regex does for a
// literal argument.
func splitRegexLines(s string) []config.Regex {
	var out []config.Regex
	for i, line := range strings.Split(s, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, config.Regex{Pattern: line, Pos: config.Position{File: "command line", Line: i + 1}})
		}
	}
	return out
}

func isNotFound(err error) bool {
	return config.IsNotFound(err)
}
