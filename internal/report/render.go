package report

import (
	"bufio"
	"cmp"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pinjail/pinjail/internal/jail"
)

//go:embed report.html.tmpl
var pageText string

// The view types below are what the template sees: the aggregates sorted,
// cut to Options.Rows and formatted.

type page struct {
	Title     string
	Generated string
	Zone      string
	From, To  string
	Span      string
	Jails     []jailView
}

type jailView struct {
	Name, Anchor string
	HasStats     bool
	Stats        jail.Stats

	Attempts, Failures, Ignored, Bans, Banned uint64
	NumRooms, NumAttacked                     uint64

	Chart *chart
	// Hidden fields count the rows each table leaves out.
	Rooms          []roomView
	RoomsHidden    uint64
	OtherRooms     *roomView
	Attacked       []roomView
	AttackedHidden uint64
	Sources        []sourceView
	SourcesHidden  uint64
	// Evicted counts sources forgotten to bound memory, EvictedBanned the
	// banned ones among them, missing from the table.
	Evicted, EvictedBanned uint64
	AttacksDropped         uint64
}

type roomView struct {
	// Alias is empty for the rooms beyond Options.MaxRooms, counted
	// together.
	Alias                                      string
	Attempts, Failures, Ignored, Bans, Attacks uint64
	FirstAttack, LastAttack                    string
	firstAttack                                time.Time
}

type sourceView struct {
	ID, FirstBan, Room string
	// BeforeBan is a count, prefixed with "≥ " when eviction may have
	// lost some.
	BeforeBan                          string
	Failures, Bans, WhileBanned, Total uint64
}

// Write renders the report as one HTML page to w.
func (r *Recorder) Write(w io.Writer) error {
	t, err := template.New("report").Funcs(template.FuncMap{"count": formatCount}).Parse(pageText)
	if err != nil {
		return fmt.Errorf("report template: %w", err)
	}
	bw := bufio.NewWriter(w)
	if err := t.Execute(bw, r.page()); err != nil {
		return fmt.Errorf("render report: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

func (r *Recorder) page() page {
	loc := r.loc
	if loc == nil {
		loc = time.UTC
	}
	now := r.opts.Now().In(loc)
	p := page{Title: r.opts.Title, Generated: now.Format("2006-01-02 15:04:05 -07:00")}
	names := make([]string, 0, len(r.jails))
	for name := range r.jails {
		names = append(names, name)
	}
	slices.Sort(names)
	var first, last time.Time
	for _, name := range names {
		j := r.jails[name]
		p.Jails = append(p.Jails, r.jailView(j, loc))
		if !j.first.IsZero() && (first.IsZero() || j.first.Before(first)) {
			first = j.first
		}
		last = later(last, j.last)
	}
	p.Zone = zoneName(now)
	if !first.IsZero() {
		p.From, p.To = formatTime(first, loc), formatTime(last, loc)
		p.Span = last.Sub(first).Round(time.Second).String()
		p.Zone = zoneName(first.In(loc))
	}
	return p
}

func (r *Recorder) jailView(j *jailStats, loc *time.Location) jailView {
	rows := r.opts.Rows
	v := jailView{
		Name: j.name, Anchor: "jail-" + anchor(j.name),
		HasStats: j.hasStats, Stats: j.stats,
		Attempts: j.attempts, Failures: j.failures, Ignored: j.ignored, Bans: j.bans, Banned: j.banned,
		NumRooms:       uint64(len(j.rooms)),
		Chart:          newChart(&j.timeline, j.attacks, loc),
		Evicted:        j.sources.evicted,
		EvictedBanned:  j.sources.evictedBanned,
		AttacksDropped: uint64(j.attacksDropped),
	}
	rooms := make([]roomView, 0, len(j.rooms))
	var attacked []roomView
	for alias, rm := range j.rooms {
		rv := newRoomView(alias, rm, loc)
		rooms = append(rooms, rv)
		if rm.attacks > 0 {
			attacked = append(attacked, rv)
		}
	}
	if o := j.otherRooms; o != (room{}) {
		ov := newRoomView("", &o, loc)
		v.OtherRooms = &ov
		if o.attacks > 0 {
			attacked = append(attacked, ov)
		}
	}
	slices.SortFunc(rooms, func(a, b roomView) int {
		return cmp.Or(
			cmp.Compare(b.Failures, a.Failures),
			cmp.Compare(b.Attempts, a.Attempts),
			cmp.Compare(a.Alias, b.Alias),
		)
	})
	v.Rooms, v.RoomsHidden = cut(rooms, rows)
	// Attacked rooms in the order they came under attack.
	slices.SortFunc(attacked, func(a, b roomView) int {
		return cmp.Or(a.firstAttack.Compare(b.firstAttack), cmp.Compare(a.Alias, b.Alias))
	})
	v.NumAttacked = uint64(len(attacked))
	v.Attacked, v.AttackedHidden = cut(attacked, rows)

	banned := j.sources.banned()
	sv := make([]sourceView, 0, min(len(banned), rows))
	for _, b := range banned[:min(len(banned), rows)] {
		before := formatCount(b.beforeBan)
		if b.partial {
			before = "≥ " + before
		}
		sv = append(sv, sourceView{
			ID: b.id, FirstBan: formatTime(b.firstBan, loc), Room: b.alias,
			BeforeBan: before, Failures: uint64(b.failures), Bans: uint64(b.bans),
			WhileBanned: b.whileBanned, Total: b.total,
		})
	}
	v.Sources, v.SourcesHidden = sv, uint64(len(banned)-len(sv))
	return v
}

func newRoomView(alias string, rm *room, loc *time.Location) roomView {
	v := roomView{
		Alias: alias, Attempts: rm.attempts, Failures: rm.failures, Ignored: rm.ignored, Bans: rm.bans,
		Attacks: uint64(rm.attacks), firstAttack: rm.firstAttack,
	}
	if rm.attacks > 0 {
		v.FirstAttack, v.LastAttack = formatTime(rm.firstAttack, loc), formatTime(rm.lastAttack, loc)
	}
	return v
}

// cut returns the first n of s and how many it left out.
func cut[T any](s []T, n int) ([]T, uint64) {
	if len(s) <= n {
		return s, 0
	}
	return s[:n], uint64(len(s) - n)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func formatTime(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("2006-01-02 15:04:05")
}

// zoneName names t's zone by its abbreviation and offset at t, e.g.
// "CEST (UTC+02:00)", or its offset alone when it has no abbreviation.
func zoneName(t time.Time) string {
	name, _ := t.Zone()
	off := "UTC" + t.Format("-07:00")
	if name == "" || name == "UTC" || strings.HasPrefix(name, "+") || strings.HasPrefix(name, "-") {
		return off
	}
	return name + " (" + off + ")"
}

// formatCount writes n with thousands separators.
func formatCount(n uint64) string {
	s := strconv.FormatUint(n, 10)
	if len(s) <= 3 {
		return s
	}
	var b strings.Builder
	lead := len(s) % 3
	if lead > 0 {
		b.WriteString(s[:lead])
	}
	for i := lead; i < len(s); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s[i : i+3])
	}
	return b.String()
}

// anchor turns a jail name into an HTML id.
func anchor(name string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, name)
}
