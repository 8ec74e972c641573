package jail_test

import (
	"bytes"
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/pinjail/pinjail/internal/jail"
	"github.com/pinjail/pinjail/internal/rplog"
	"github.com/pinjail/pinjail/internal/source"
)

// TestLinesAsLine checks that Lines, matching batches in parallel, finds
// what Line finds line after line: the same events in the same order and
// the same totals, on the reverse proxy's traffic with its attackers.
func TestLinesAsLine(t *testing.T) {
	log, err := rplog.Sample(30_000, t0, 7)
	if err != nil {
		t.Fatal(err)
	}
	texts := bytes.SplitAfter(log, []byte{'\n'})
	texts = texts[:len(texts)-1]
	ctx := context.Background()
	for _, jailName := range []string{"pexiprp", "pexip-aliasscan"} {
		t.Run(jailName, func(t *testing.T) {
			one := newJail(t, jailName, "", jail.Options{})
			batched := newJail(t, jailName, "", jail.Options{Helpers: jail.NewHelpers(1)})
			var want, got []jail.Event
			// Batches of every size around the threshold, and larger.
			sizes := []int{1, 127, 128, 129, 500, 2000}
			now := t0
			for start, k := 0, 0; start < len(texts); k++ {
				n := min(sizes[k%len(sizes)], len(texts)-start)
				batch := make([]source.Line, n)
				for i := range batch {
					batch[i] = source.Line{Text: bytes.TrimSuffix(texts[start+i], []byte{'\n'})}
				}
				now = now.Add(time.Second)
				for _, l := range batch {
					one.Line(ctx, l.Text, now, func(ev jail.Event) { want = append(want, ev) })
				}
				batched.Lines(ctx, batch, now, func(ev jail.Event) { got = append(got, ev) })
				start += n
			}
			if !batched.Parallel() {
				t.Fatal("no batch was matched in parallel")
			}
			if len(want) == 0 {
				t.Fatal("no event: the test shows nothing")
			}
			if len(got) != len(want) {
				t.Fatalf("Lines gave %d events, Line %d", len(got), len(want))
			}
			for i := range want {
				if !reflect.DeepEqual(got[i], want[i]) {
					t.Fatalf("event %d: Lines gave %+v,\nLine %+v", i, got[i], want[i])
				}
			}
			if g, w := batched.Stats(), one.Stats(); g != w {
				t.Errorf("Lines' totals %+v, Line's %+v", g, w)
			}
		})
	}
}

// TestLinesJournalTimes checks that a line's own time, a journal entry's,
// is the clock a live jail decides by, not the batch's now.
func TestLinesJournalTimes(t *testing.T) {
	j := newJail(t, "pexiprp", "mode = strict\nmaxretry = 2\nroombudget = 0", jail.Options{Live: true})
	var bans []jail.Event
	at := t0.Add(time.Minute)
	lines := []source.Line{
		{Text: []byte(pin("192.0.2.1", "meet", 403, t0)), Time: at},
		{Text: []byte(pin("192.0.2.1", "meet", 403, t0)), Time: at.Add(time.Second)},
	}
	j.Lines(context.Background(), lines, t0.Add(time.Hour), func(ev jail.Event) {
		if ev.Kind == jail.Ban {
			bans = append(bans, ev)
		}
	})
	if len(bans) != 1 || !bans[0].Time.Equal(at.Add(time.Second)) {
		t.Fatalf("bans %+v, want one at the second line's time", bans)
	}
}
