package config

import (
	"fmt"
	"regexp"
	"strings"
)

// tagRef is fail2ban's TAG_CRE: a <tag> reference. The name cannot hold a
// space or angle brackets, which is what lets tags nest
// (<lt_<logtype>/__prefix_line> resolves <logtype> first).
var tagRef = regexp.MustCompile(`<([^ <>]+)>`)

// maxTagReplace is fail2ban's MAX_TAG_REPLACE_COUNT: how often one tag may
// be substituted into one value before it counts as a loop.
const maxTagReplace = 25

// tagLookup resolves a tag that the tags themselves do not define. It
// reports whether the tag is known; unknown tags are left in place.
type tagLookup func(tag string) (string, bool, error)

// substituteTags resolves <tag> references among the values of tags, as
// fail2ban's helpers.substituteRecursiveTags does: each value is searched
// for tags, which are replaced by the value of the tag of that name in tags
// (or from extra), and the whole pass repeats while a substitution left a
// tag behind. Tags in ignore are neither substituted nor resolved. A value
// that refers to itself, or a tag substituted too often, is an error.
//
// The walk order is tags' insertion order, and a value substituted earlier
// in a pass is seen substituted by later ones, exactly as in fail2ban.
func substituteTags(tags *dict, ignore map[string]bool, extra tagLookup) (*dict, error) {
	tags = tags.clone()
	done := make(map[string]bool)
	repCounts := make(map[string]map[string]int)
	for {
		repeat := false
		for _, tag := range append([]string(nil), tags.keys...) {
			if ignore[tag] || done[tag] {
				continue
			}
			orig, _ := tags.get(tag)
			value := orig
			counts := repCounts[tag]
			if counts == nil {
				counts = make(map[string]int)
			}
			m := tagRef.FindStringSubmatchIndex(value)
			for m != nil {
				ref := value[m[2]:m[3]]
				if ignore[ref] {
					m = findTagFrom(value, m[1])
					continue
				}
				if ref == tag || counts[ref] > maxTagReplace {
					return nil, fmt.Errorf("tag <%s> refers to itself, directly or through <%s>, and cannot be resolved (value %q)", tag, ref, clip(value))
				}
				repl, ok := tags.get(ref)
				if !ok && extra != nil {
					var err error
					if repl, ok, err = extra(ref); err != nil {
						return nil, err
					}
				}
				if !ok {
					// Unknown tags stay: the server resolves them per
					// ban (<ip>, <F-USER>) or per family (<blocktype>).
					m = findTagFrom(value, m[1])
					continue
				}
				value = strings.ReplaceAll(value, "<"+ref+">", repl)
				counts[ref]++
				m = findTagFrom(value, m[0])
			}
			if value != orig {
				if tagRef.MatchString(value) {
					repCounts[tag] = counts
					repeat = true
				}
				tags.set(tag, value)
			}
			if !strings.Contains(value, "<") {
				done[tag] = true
			}
		}
		if !repeat {
			return tags, nil
		}
	}
}

// findTagFrom is tagRef's search from byte offset i.
func findTagFrom(s string, i int) []int {
	if i > len(s) {
		return nil
	}
	m := tagRef.FindStringSubmatchIndex(s[i:])
	for k := range m {
		m[k] += i
	}
	return m
}
