package scenarios

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// logIndex is what the checks need of a generated log, read back from the
// file as the engine read it.
type logIndex struct {
	lines int
	// addrs holds every client address in the log.
	addrs map[netip.Addr]struct{}
	// watched are the sources whose failure lines are kept.
	watched []netip.Prefix
	// failures holds the failure lines of watched sources, in log order.
	failures []failureLine
}

// failureLine is a request_token answered 401, 403 or 404: a wrong PIN, a
// wrong password or an unknown alias.
type failureLine struct {
	addr   netip.Addr
	time   time.Time
	alias  string
	status int
}

// logTime is the layout of nginx's $time_local.
const logTime = "02/Jan/2006:15:04:05 -0700"

// requestLine picks the client address, time, path and status out of a
// pexapplog line.
var requestLine = regexp.MustCompile(`^(\S+) - \S+ \[([^\]]+)\]  "\S+ (\S+) [^"]*" (\d{3}) `)

func indexLog(path string, watched []netip.Prefix) (*logIndex, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	idx := &logIndex{addrs: map[netip.Addr]struct{}{}, watched: watched}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		idx.lines++
		m := requestLine.FindStringSubmatch(sc.Text())
		if m == nil {
			return nil, fmt.Errorf("%s:%d: not a pexapplog line: %q", path, idx.lines, sc.Text())
		}
		addr, err := netip.ParseAddr(m[1])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, idx.lines, err)
		}
		idx.addrs[addr] = struct{}{}
		status, _ := strconv.Atoi(m[4])
		if status != 401 && status != 403 && status != 404 || !idx.isWatched(addr) {
			continue
		}
		alias, ok := requestTokenAlias(m[3])
		if !ok {
			continue
		}
		t, err := time.Parse(logTime, m[2])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, idx.lines, err)
		}
		idx.failures = append(idx.failures, failureLine{addr: addr, time: t, alias: alias, status: status})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return idx, nil
}

// requestTokenAlias returns the conference or registration alias of a
// request_token path.
func requestTokenAlias(path string) (string, bool) {
	rest, ok := strings.CutPrefix(path, "/api/client/v2/conferences/")
	if !ok {
		rest, ok = strings.CutPrefix(path, "/api/client/v2/registrations/")
	}
	if !ok {
		return "", false
	}
	return strings.CutSuffix(rest, "/request_token")
}

func (idx *logIndex) isWatched(addr netip.Addr) bool {
	for _, p := range idx.watched {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// guessesFrom returns the failure lines from source, on alias only unless
// alias is empty.
func (idx *logIndex) guessesFrom(source netip.Prefix, alias string) []failureLine {
	var out []failureLine
	for _, f := range idx.failures {
		if source.Contains(f.addr) && (alias == "" || f.alias == alias) {
			out = append(out, f)
		}
	}
	return out
}
