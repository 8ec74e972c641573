package report

import (
	"testing"
	"time"
)

func TestTimelineWidens(t *testing.T) {
	tests := []struct {
		name       string
		maxBuckets int
		// events are at these offsets from t0.
		offsets []time.Duration
		width   int64
		buckets int
	}{
		{"per minute", 10, []time.Duration{0, 30 * time.Second, time.Minute, 9 * time.Minute}, 60, 3},
		{"per 5 minutes past the limit", 3, []time.Duration{0, time.Minute, 2 * time.Minute, 3 * time.Minute, 7 * time.Minute}, 300, 2},
		{"several steps at once", 2, []time.Duration{0, 10 * time.Hour, 30 * time.Hour}, 86400, 2},
		{"before the epoch", 10, []time.Duration{-t0.Sub(time.Unix(-30, 0))}, 60, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tl := newTimeline(tt.maxBuckets)
			for _, o := range tt.offsets {
				tl.add(t0.Add(o), failuresSeries)
			}
			if w := bucketWidths[tl.width]; w != tt.width || len(tl.buckets) != tt.buckets {
				t.Errorf("%d buckets of %ds, want %d of %ds", len(tl.buckets), w, tt.buckets, tt.width)
			}
			var sum uint64
			for k, c := range tl.buckets {
				if k%bucketWidths[tl.width] != 0 {
					t.Errorf("bucket %d not aligned to %ds", k, bucketWidths[tl.width])
				}
				sum += c[failuresSeries]
			}
			if sum != uint64(len(tt.offsets)) {
				t.Errorf("buckets hold %d events, want %d", sum, len(tt.offsets))
			}
		})
	}
}

func TestFloorTo(t *testing.T) {
	for _, tt := range []struct{ t, w, want int64 }{
		{0, 60, 0}, {59, 60, 0}, {60, 60, 60}, {-1, 60, -60}, {-60, 60, -60}, {-61, 60, -120},
	} {
		if got := floorTo(tt.t, tt.w); got != tt.want {
			t.Errorf("floorTo(%d, %d) = %d, want %d", tt.t, tt.w, got, tt.want)
		}
	}
}

func TestChart(t *testing.T) {
	tests := []struct {
		name string
		// minutes holds, per minute after t0, attempts, failures and bans.
		minutes map[int]counts
		bars    int
		step    string
		drawn   [numSeries]int
	}{
		{
			name:    "one bar per minute",
			minutes: map[int]counts{0: {5, 2, 1}, 1: {3, 0, 0}, 4: {1, 1, 0}},
			bars:    5, step: "minute", drawn: [numSeries]int{3, 2, 1},
		},
		{
			name:    "a day in 15-minute bars",
			minutes: map[int]counts{0: {1, 1, 1}, 14: {1, 0, 0}, 1439: {2, 2, 2}},
			bars:    96, step: "15 minutes", drawn: [numSeries]int{2, 2, 2},
		},
		{
			name:    "a month in 6-hour bars",
			minutes: map[int]counts{0: {1, 0, 0}, 30 * 1440: {1, 0, 0}},
			bars:    121, step: "6 hours", drawn: [numSeries]int{2, 0, 0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tl := newTimeline(DefaultMaxBuckets)
			for m, c := range tt.minutes {
				for s := range numSeries {
					for range c[s] {
						tl.add(t0.Add(time.Duration(m)*time.Minute), s)
					}
				}
			}
			c := newChart(&tl, nil, time.UTC)
			if c.Bars != tt.bars || c.Step != tt.step {
				t.Errorf("%d bars of %s, want %d of %s", c.Bars, c.Step, tt.bars, tt.step)
			}
			if got := [numSeries]int{len(c.Attempts), len(c.Failures), len(c.Bans)}; got != tt.drawn {
				t.Errorf("drawn %v bars (attempts, failures, bans), want %v", got, tt.drawn)
			}
		})
	}
}

// TestChartScale checks the tallest bar fills its panel and a bar of one
// stays visible next to it.
func TestChartScale(t *testing.T) {
	tl := newTimeline(DefaultMaxBuckets)
	for range 500 {
		tl.add(t0, attemptsSeries)
	}
	tl.add(t0.Add(time.Minute), attemptsSeries)
	c := newChart(&tl, []attack{{"meet.alice", t0.Add(time.Minute)}}, time.UTC)
	if got := c.YTicks[len(c.YTicks)-1].Label; got != "500" {
		t.Errorf("top of scale %s, want 500", got)
	}
	if full := c.Attempts[0]; full.Y != "12" || full.H != "176" {
		t.Errorf("tallest bar at y %s, height %s; want the full panel, 12 and 176", full.Y, full.H)
	}
	if small := c.Attempts[1]; small.H != "1" {
		t.Errorf("bar of 1 in 500 is %s high, want the 1-unit minimum", small.H)
	}
	// Two slots: the attack at the start of the second is mid-plot.
	if len(c.Attacks) != 1 || c.Attacks[0].X != "504" {
		t.Errorf("attack marker %+v, want at x 504", c.Attacks)
	}
}

func TestTimeTicks(t *testing.T) {
	tests := []struct {
		name     string
		from, to time.Time
		want     []string
	}{
		{"20 minutes", at(0), at(20 * 60), []string{"09:00", "09:05", "09:10", "09:15", "09:20"}},
		{"an hour past midnight", time.Date(2024, 5, 14, 23, 30, 0, 0, time.UTC), time.Date(2024, 5, 15, 0, 30, 0, 0, time.UTC),
			[]string{"May 14 23:30", "May 14 23:40", "May 14 23:50", "May 15 00:00", "May 15 00:10", "May 15 00:20", "May 15 00:30"}},
		{"a week", at(0), at(7 * 86400), []string{"May 15", "May 16", "May 17", "May 18", "May 19", "May 20", "May 21"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, tk := range timeTicks(tt.from, tt.to, func(time.Time) float64 { return 0 }) {
				got = append(got, tk.Label)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("ticks %q, want %q", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("ticks %q, want %q", got, tt.want)
				}
			}
		})
	}
}

func TestFormats(t *testing.T) {
	for _, tt := range []struct {
		got, want string
	}{
		{formatCount(0), "0"},
		{formatCount(999), "999"},
		{formatCount(1000), "1,000"},
		{formatCount(1234567), "1,234,567"},
		{formatCount(18446744073709551615), "18,446,744,073,709,551,615"},
		{coord(12), "12"},
		{coord(12.5), "12.5"},
		{coord(12.345), "12.35"},
		{coord(0.001), "0"},
		{stepWords(60), "minute"},
		{stepWords(900), "15 minutes"},
		{stepWords(3 * 3600), "3 hours"},
		{stepWords(7 * 86400), "7 days"},
		{quantity(0, "ban"), "0 bans"},
		{quantity(1, "ban"), "1 ban"},
		{quantity(1500, "ban"), "1,500 bans"},
		{anchor("pexip rp/1"), "pexip_rp_1"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
	for _, tt := range []struct{ v, want uint64 }{
		{0, 1}, {1, 1}, {3, 5}, {7, 10}, {11, 20}, {500, 500}, {501, 1000},
	} {
		if got := niceCeil(tt.v); got != tt.want {
			t.Errorf("niceCeil(%d) = %d, want %d", tt.v, got, tt.want)
		}
	}
}
