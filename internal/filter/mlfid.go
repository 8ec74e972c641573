package filter

import (
	"slices"
	"time"
)

// Flags of a multi-line merge (filter.py _mergeFailure's nfflgs).
const (
	mergeNoFail    = 1 << iota // this match is no failure
	mergeForget                // the connection ended: drop its entry
	mergeWasNoFail             // the previous match was no failure
	mergeGained                // a successful login: pending failures go
)

// merge folds a match whose prefregex or failregex captured an <F-MLFID>
// (a connection ID) into what earlier matches of that connection left in
// the cache, exactly as fail2ban's _mergeFailure does: the host learned
// from one line serves later ones, failures seen before the host are kept
// pending, and <F-NOFAIL>, <F-MLFFORGET> and <F-MLFGAINED> steer which
// lines count.
func (f *Filter) merge(mlfid string, fs *failState, lines []string, now time.Time) *failState {
	var flags int
	if gained := fs.groups["mlfgained"]; gained != "" {
		flags |= mergeGained | mergeNoFail
		if fs.groups["nofail"] == "" {
			fs.groups["nofail"] = gained
		}
	} else if fs.groups["nofail"] != "" {
		flags |= mergeNoFail
	}
	if forget, ok := fs.groups["mlfforget"]; ok {
		delete(fs.groups, "mlfforget")
		if forget != "" {
			flags |= mergeForget
		}
	}
	var users []string
	if cached, ok := f.mlf.get(mlfid, now); ok {
		users = cached.addUser(fs.groups["user"])
		for _, g := range []string{"nofail", "mlfgained"} {
			if v, ok := cached.groups[g]; ok {
				delete(cached.groups, g)
				if v != "" {
					flags |= mergeWasNoFail
				}
			}
		}
		if flags&mergeGained != 0 {
			cached.pending = false
		}
		if flags&mergeWasNoFail == 0 && !cached.pending {
			cached.matches = nil
		}
		for k, v := range fs.groups {
			cached.groups[k] = v
		}
		cached.fidTuple = cached.fidTuple || fs.fidTuple
		fs = cached
		if flags&mergeForget != 0 {
			f.mlf.unset(mlfid)
		}
	} else if flags&mergeForget == 0 {
		users = fs.addUser(fs.groups["user"])
		f.mlf.set(mlfid, fs, now)
	}
	// Failures pending, or several users tried on one connection: this is
	// a failure whatever the match says.
	if fs.pending || len(users) > 1 {
		delete(fs.groups, "nofail")
		delete(fs.groups, "mlfgained")
		flags &^= mergeGained | mergeNoFail
	}
	fs.pending = false
	switch {
	case flags&mergeNoFail == 0:
		m := slices.Concat(fs.nofailMatches, fs.matches)
		if flags&mergeGained == 0 {
			m = append(m, lines...)
		}
		fs.matches, fs.nofailMatches = m, nil
	case flags&(mergeNoFail|mergeForget) == mergeNoFail:
		fs.nofailMatches = slices.Concat(fs.nofailMatches, lines)
	}
	return fs
}

// addUser adds a non-empty user to the connection's set and returns the
// set (fail2ban's _updateUsers).
func (fs *failState) addUser(user string) []string {
	if user != "" && !slices.Contains(fs.users, user) {
		fs.users = append(fs.users, user)
	}
	return fs.users
}
