package config

import (
	"maps"
	"slices"
)

// dict is a string map that remembers insertion order, as Python's dict
// does. fail2ban walks its option dicts in that order when substituting
// tags, and the order can decide the result, so pinjail keeps it too.
type dict struct {
	keys []string
	m    map[string]string
}

func newDict() *dict { return &dict{m: make(map[string]string)} }

// dictOf copies a Go map, in sorted key order since it has no other.
func dictOf(m map[string]string) *dict {
	d := newDict()
	for _, k := range slices.Sorted(maps.Keys(m)) {
		d.set(k, m[k])
	}
	return d
}

func (d *dict) get(k string) (string, bool) {
	if d == nil {
		return "", false
	}
	v, ok := d.m[k]
	return v, ok
}

func (d *dict) has(k string) bool {
	_, ok := d.get(k)
	return ok
}

// set replaces the value of an existing key in place, or appends the key.
func (d *dict) set(k, v string) {
	if _, ok := d.m[k]; !ok {
		d.keys = append(d.keys, k)
	}
	d.m[k] = v
}

func (d *dict) len() int {
	if d == nil {
		return 0
	}
	return len(d.keys)
}

func (d *dict) clone() *dict {
	c := &dict{keys: make([]string, 0, d.len()), m: make(map[string]string, d.len())}
	if d != nil {
		for _, k := range d.keys {
			c.set(k, d.m[k])
		}
	}
	return c
}

// merge returns {**d, **over}: d's keys first, over's values winning.
func (d *dict) merge(over *dict) *dict {
	c := d.clone()
	if over != nil {
		for _, k := range over.keys {
			c.set(k, over.m[k])
		}
	}
	return c
}

// toMap returns the entries as a Go map.
func (d *dict) toMap() map[string]string {
	m := make(map[string]string, d.len())
	if d != nil {
		for _, k := range d.keys {
			m[k] = d.m[k]
		}
	}
	return m
}
