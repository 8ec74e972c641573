package report

import "time"

// series names what a timeline bucket counts.
type series int

const (
	attemptsSeries series = iota
	failuresSeries
	bansSeries
	numSeries
)

type counts [numSeries]uint64

// bucketWidths are the bucket widths a timeline can keep, in seconds, each
// a multiple of the one before so that buckets merge exactly when the
// timeline widens them. Read-only.
var bucketWidths = [...]int64{
	60, 5 * 60, 15 * 60, 30 * 60,
	3600, 3 * 3600, 6 * 3600, 12 * 3600,
	86400, 7 * 86400,
}

// timeline counts events per time bucket: per minute while there are at
// most max buckets, then per wider buckets. At the widest (a week) it
// stops widening, which takes a log spanning centuries to matter.
type timeline struct {
	max int
	// width indexes bucketWidths.
	width int
	// buckets are keyed by the Unix time their bucket starts at.
	buckets map[int64]*counts
}

func newTimeline(limit int) timeline {
	return timeline{max: limit, buckets: make(map[int64]*counts)}
}

func (tl *timeline) add(t time.Time, s series) {
	if t.IsZero() {
		return
	}
	unix := t.Unix()
	k := floorTo(unix, bucketWidths[tl.width])
	c := tl.buckets[k]
	if c == nil {
		for len(tl.buckets) >= tl.max && tl.width < len(bucketWidths)-1 {
			tl.widen()
		}
		k = floorTo(unix, bucketWidths[tl.width])
		if c = tl.buckets[k]; c == nil {
			c = new(counts)
			tl.buckets[k] = c
		}
	}
	c[s]++
}

// widen merges the buckets into the next wider ones.
func (tl *timeline) widen() {
	tl.width++
	w := bucketWidths[tl.width]
	merged := make(map[int64]*counts, len(tl.buckets)/2)
	for k, c := range tl.buckets {
		nk := floorTo(k, w)
		m := merged[nk]
		if m == nil {
			merged[nk] = c
			continue
		}
		for s := range c {
			m[s] += c[s]
		}
	}
	tl.buckets = merged
}

// floorTo rounds t down to a multiple of w, also below zero.
func floorTo(t, w int64) int64 {
	q := t / w
	if t%w < 0 {
		q--
	}
	return q * w
}
