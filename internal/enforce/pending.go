package enforce

import (
	"net/netip"
	"slices"
)

// Pending holds the changes staged for an Enforcer's next Commit. It is the
// building block of Enforcer implementations; the zero value is ready to
// use. Pending is not safe for concurrent use.
type Pending struct {
	changes []Change
}

// Add stages a ban.
func (p *Pending) Add(b Ban) {
	p.changes = append(p.changes, Change{Ban: b})
}

// Delete stages the removal of a ban.
func (p *Pending) Delete(jail string, prefix netip.Prefix) {
	p.changes = append(p.changes, Change{Ban: Ban{Jail: jail, Prefix: prefix}, Delete: true})
}

// Len returns the number of staged changes, counting repeated ones.
func (p *Pending) Len() int { return len(p.changes) }

// DropJail discards the changes staged for jail.
func (p *Pending) DropJail(jail string) {
	p.changes = slices.DeleteFunc(p.changes, func(c Change) bool { return c.Jail == jail })
}

// Take returns the staged changes and empties p. Of several changes to the
// same jail and prefix only the last is kept, because a firewall batch
// cannot touch one element twice; the others keep their relative order.
// Prefixes are compared in normalized form ([NormalizePrefix]), invalid ones
// as given.
func (p *Pending) Take() []Change {
	changes := p.changes
	p.changes = nil
	type key struct {
		jail   string
		prefix netip.Prefix
	}
	keyOf := func(c Change) key {
		if n, err := NormalizePrefix(c.Prefix); err == nil {
			return key{c.Jail, n}
		}
		return key{c.Jail, c.Prefix}
	}
	last := make(map[key]int, len(changes))
	for i, c := range changes {
		last[keyOf(c)] = i
	}
	if len(last) == len(changes) {
		return changes
	}
	kept := changes[:0]
	for i, c := range changes {
		if last[keyOf(c)] == i {
			kept = append(kept, c)
		}
	}
	return kept
}
