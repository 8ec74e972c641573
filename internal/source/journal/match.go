package journal

import (
	"fmt"
	"strconv"
	"strings"
)

// matchArgs turns a filter's journalmatch lines into journalctl match
// arguments. fail2ban splits each line like a POSIX shell (shlex), ANDs
// the terms of a group, ORs groups separated by "+", and ORs the lines;
// journalctl reads the same expression from its arguments, so the lines
// are joined by "+".
func matchArgs(lines []string) ([]string, error) {
	var args []string
	for _, line := range lines {
		words, err := shellSplit(line)
		if err != nil {
			return nil, fmt.Errorf("journalmatch %q: %w", line, err)
		}
		var group []string
		flush := func() {
			if len(group) == 0 {
				return
			}
			if len(args) > 0 {
				args = append(args, "+")
			}
			args = append(args, group...)
			group = group[:0]
		}
		for _, w := range words {
			if w == "+" {
				flush()
				continue
			}
			if i := strings.IndexByte(w, '='); i <= 0 || strings.HasPrefix(w, "-") {
				return nil, fmt.Errorf("journalmatch %q: term %q is not FIELD=VALUE", line, w)
			}
			group = append(group, w)
		}
		flush()
	}
	return args, nil
}

// shellSplit splits s into words as Python's shlex.split does: on
// whitespace, with single quotes taken literally, and double quotes and
// backslashes escaping.
func shellSplit(s string) ([]string, error) {
	var (
		words  []string
		word   strings.Builder
		inWord bool
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
		case c == '\\':
			inWord = true
			if i+1 < len(s) {
				i++
				word.WriteByte(s[i])
			}
		case c == '\'':
			inWord = true
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("no closing quotation")
			}
			word.WriteString(s[i+1 : i+1+end])
			i += end + 1
		case c == '"':
			inWord = true
			for i++; ; i++ {
				if i == len(s) {
					return nil, fmt.Errorf("no closing quotation")
				}
				if s[i] == '"' {
					break
				}
				if s[i] == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\') {
					i++
				}
				word.WriteByte(s[i])
			}
		default:
			inWord = true
			word.WriteByte(c)
		}
	}
	if inWord {
		words = append(words, word.String())
	}
	return words, nil
}

// BackendArgs returns the journalctl arguments for the options of
// fail2ban's "systemd" backend (backend = systemd[journalflags=1, ...]):
// journalpath (a journal directory), journalfiles (journal files, split
// on spaces), namespace, and journalflags, of which journalctl can honour
// 1 (local only, its default), 4 (system) and 8 (current user). Without
// journalflags, path or files, fail2ban reads the system journal only, and
// so does the result.
func BackendArgs(options map[string]string) ([]string, error) {
	var args []string
	path, hasPath := options["journalpath"]
	files, hasFiles := options["journalfiles"]
	if hasPath && hasFiles {
		return nil, fmt.Errorf("systemd backend: journalpath and journalfiles exclude each other")
	}
	if hasPath {
		args = append(args, "--directory="+path)
	}
	for _, f := range strings.Fields(files) {
		args = append(args, "--file="+f)
	}
	if ns, ok := options["namespace"]; ok {
		args = append(args, "--namespace="+ns)
	}
	flags, hasFlags := options["journalflags"]
	if !hasFlags {
		if !hasPath && !hasFiles {
			args = append(args, "--system")
		}
	} else {
		n, err := strconv.Atoi(strings.TrimSpace(flags))
		if err != nil || n < 0 {
			return nil, fmt.Errorf("systemd backend: journalflags %q is not a number", flags)
		}
		const localOnly, system, currentUser = 1, 4, 8
		if rest := n &^ (localOnly | system | currentUser); rest != 0 {
			return nil, fmt.Errorf("systemd backend: journalflags %d: journalctl has no option for flags %d", n, rest)
		}
		if n&system != 0 {
			args = append(args, "--system")
		}
		if n&currentUser != 0 {
			args = append(args, "--user")
		}
	}
	for k := range options {
		switch k {
		case "journalpath", "journalfiles", "namespace", "journalflags":
		default:
			return nil, fmt.Errorf("systemd backend: unknown option %q", k)
		}
	}
	return args, nil
}
