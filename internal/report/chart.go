package report

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// The chart's geometry, in SVG user units: a panel of attempts and
// failures over a panel of bans, sharing the time axis below them.
const (
	chartWidth   = 960
	chartHeight  = 300
	plotLeft     = 64
	plotRight    = chartWidth - 16
	topPanelY    = 12
	topPanelH    = 176
	banPanelY    = topPanelY + topPanelH + 16
	banPanelH    = 56
	axisLabelY   = banPanelY + banPanelH + 22
	maxChartBars = 240
)

// chart is the SVG timeline of one jail, laid out for the template.
type chart struct {
	// Bars is the number of time slots, Step their width in words.
	Bars int
	Step string
	// Attempts, Failures and Bans are the bars of the slots that have
	// any.
	Attempts, Failures, Bans []bar
	Attacks                  []marker
	// YTicks label the top panel's scale, BanTicks the bans panel's,
	// XTicks the time axis.
	YTicks, BanTicks, XTicks []tick

	// The geometry the template draws the axes with.
	Width, Height, PlotLeft, PlotRight int
	TopY, TopBottom, BanBottom         int
	LabelX, TickBottom, AxisLabelY     int
}

// bar is one rectangle; coordinates are preformatted so the markup stays
// short.
type bar struct {
	X, Y, W, H string
	Title      string
}

type marker struct {
	X     string
	Title string
}

type tick struct {
	Pos   string
	Label string
}

// newChart lays out tl's buckets, from the earliest to the latest, in bars
// of the narrowest kept width that needs at most maxChartBars of them (or
// of a week, the widest), showing times in loc. It returns nil when there
// is nothing to draw.
func newChart(tl *timeline, attacks []attack, loc *time.Location) *chart {
	if len(tl.buckets) == 0 {
		return nil
	}
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for k := range tl.buckets {
		lo, hi = min(lo, k), max(hi, k)
	}
	// The narrowest kept width that fits the span in maxChartBars.
	wi := tl.width
	for wi < len(bucketWidths)-1 && (floorTo(hi, bucketWidths[wi])-floorTo(lo, bucketWidths[wi]))/bucketWidths[wi]+1 > maxChartBars {
		wi++
	}
	w := bucketWidths[wi]
	start := floorTo(lo, w)
	n := int((floorTo(hi, w)-start)/w + 1)
	slots := make([]counts, n)
	for k, c := range tl.buckets {
		s := &slots[(floorTo(k, w)-start)/w]
		for i := range c {
			s[i] += c[i]
		}
	}

	c := &chart{
		Bars: n, Step: stepWords(w),
		Width: chartWidth, Height: chartHeight, PlotLeft: plotLeft, PlotRight: plotRight,
		TopY: topPanelY, TopBottom: topPanelY + topPanelH,
		BanBottom: banPanelY + banPanelH,
		LabelX:    plotLeft - 6, TickBottom: banPanelY + banPanelH + 5, AxisLabelY: axisLabelY,
	}
	var topMax, banMax uint64
	for _, s := range slots {
		topMax = max(topMax, s[attemptsSeries], s[failuresSeries])
		banMax = max(banMax, s[bansSeries])
	}
	topScale, banScale := niceCeil(topMax), niceCeil(banMax)
	c.YTicks = valueTicks(topScale, topPanelY, topPanelH)
	c.BanTicks = valueTicks(banScale, banPanelY, banPanelH)

	slotW := float64(plotRight-plotLeft) / float64(n)
	// A gap between bars when they are wide enough to show one.
	gap := 0.0
	if slotW >= 4 {
		gap = slotW * 0.15
	}
	layout := func(i int, v, scale uint64, y0, h int, title string) bar {
		bh := float64(v) / float64(scale) * float64(h)
		// The smallest count stays visible.
		bh = max(bh, 1)
		return bar{
			X: coord(plotLeft + float64(i)*slotW + gap/2), W: coord(slotW - gap),
			Y: coord(float64(y0+h) - bh), H: coord(bh),
			Title: title,
		}
	}
	for i, s := range slots {
		from := time.Unix(start+int64(i)*w, 0).In(loc)
		title := fmt.Sprintf("%s to %s: %s, %s, %s", from.Format("2006-01-02 15:04"),
			from.Add(time.Duration(w)*time.Second).Format("15:04"),
			quantity(s[attemptsSeries], "attempt"), quantity(s[failuresSeries], "failure"), quantity(s[bansSeries], "ban"))
		if v := s[attemptsSeries]; v > 0 {
			c.Attempts = append(c.Attempts, layout(i, v, topScale, topPanelY, topPanelH, title))
		}
		if v := s[failuresSeries]; v > 0 {
			c.Failures = append(c.Failures, layout(i, v, topScale, topPanelY, topPanelH, title))
		}
		if v := s[bansSeries]; v > 0 {
			c.Bans = append(c.Bans, layout(i, v, banScale, banPanelY, banPanelH, title))
		}
	}

	span := time.Duration(int64(n)*w) * time.Second
	t0 := time.Unix(start, 0).In(loc)
	xOf := func(t time.Time) float64 {
		return plotLeft + float64(t.Sub(t0))/float64(span)*float64(plotRight-plotLeft)
	}
	for _, a := range attacks {
		c.Attacks = append(c.Attacks, marker{
			X:     coord(xOf(a.t)),
			Title: fmt.Sprintf("%s under attack from %s", a.alias, a.t.In(loc).Format("2006-01-02 15:04:05")),
		})
	}
	c.XTicks = timeTicks(t0, t0.Add(span), xOf)
	return c
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten, and 0 to 1.
func niceCeil(v uint64) uint64 {
	for p := uint64(1); ; p *= 10 {
		for _, m := range [...]uint64{1, 2, 5} {
			if m*p >= v || p > 1e18 {
				return m * p
			}
		}
	}
}

// valueTicks labels 0, half of scale (when whole) and scale on a panel
// whose top is y0.
func valueTicks(scale uint64, y0, h int) []tick {
	ts := []tick{{Pos: strconv.Itoa(y0 + h), Label: "0"}}
	if scale >= 2 && scale%2 == 0 {
		ts = append(ts, tick{Pos: strconv.Itoa(y0 + h/2), Label: formatCount(scale / 2)})
	}
	return append(ts, tick{Pos: strconv.Itoa(y0), Label: formatCount(scale)})
}

// tickSteps are the spacings the time axis may label at, read-only.
var tickSteps = [...]time.Duration{
	time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour,
	24 * time.Hour, 48 * time.Hour, 7 * 24 * time.Hour, 14 * 24 * time.Hour, 28 * 24 * time.Hour,
}

// timeTicks labels from and to's span at a round spacing giving at most
// eight labels; daily and longer spacings fall on midnight in the times'
// zone.
func timeTicks(from, to time.Time, xOf func(time.Time) float64) []tick {
	span := to.Sub(from)
	step := tickSteps[len(tickSteps)-1]
	for _, s := range tickSteps {
		if span/s <= 8 {
			step = s
			break
		}
	}
	var t time.Time
	if step >= 24*time.Hour {
		y, m, d := from.Date()
		t = time.Date(y, m, d, 0, 0, 0, 0, from.Location())
	} else {
		t = from.Truncate(step)
	}
	if t.Before(from) {
		t = t.Add(step)
	}
	layout := "15:04"
	switch {
	case step >= 24*time.Hour:
		layout = "Jan 2"
	case from.YearDay() != to.Add(-time.Second).YearDay() || from.Year() != to.Year():
		layout = "Jan 2 15:04"
	}
	var ts []tick
	for ; !t.After(to); t = t.Add(step) {
		ts = append(ts, tick{Pos: coord(xOf(t)), Label: t.Format(layout)})
	}
	return ts
}

// stepWords names a bucket width of w seconds.
func stepWords(w int64) string {
	switch {
	case w%86400 == 0:
		return plural(w/86400, "day")
	case w%3600 == 0:
		return plural(w/3600, "hour")
	default:
		return plural(w/60, "minute")
	}
}

func plural(n int64, unit string) string {
	if n == 1 {
		return unit
	}
	return strconv.FormatInt(n, 10) + " " + unit + "s"
}

// quantity writes n units: "1 ban", "1,024 bans".
func quantity(n uint64, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return formatCount(n) + " " + unit + "s"
}

// coord formats an SVG coordinate to two decimals, without trailing zeros.
func coord(v float64) string {
	s := strconv.FormatFloat(v, 'f', 2, 64)
	for s[len(s)-1] == '0' {
		s = s[:len(s)-1]
	}
	if s[len(s)-1] == '.' {
		s = s[:len(s)-1]
	}
	return s
}
