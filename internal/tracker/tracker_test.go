package tracker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pinjail/pinjail/internal/testenv"
)

// at returns the time s seconds after the epoch, the way fail2ban keeps
// times (float seconds).
func at(s float64) time.Time { return time.Unix(0, int64(math.Round(s*1e9))) }

func secs(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func TestAddCounting(t *testing.T) {
	type step struct {
		t        float64
		attempts int
		retry    int // expected after the failure
		full     bool
	}
	tests := []struct {
		name     string
		findTime time.Duration
		maxRetry int
		steps    []step
	}{
		{
			name: "counts within findtime", findTime: 600 * time.Second, maxRetry: 5,
			steps: []step{{t: 1000, retry: 1}, {t: 1100, retry: 2}, {t: 1200, retry: 3}},
		},
		{
			// round(3 / 900 * 600) = 2, then +1.
			name: "rescales past findtime", findTime: 600 * time.Second, maxRetry: 10,
			steps: []step{{t: 1000, retry: 1}, {t: 1100, retry: 2}, {t: 1200, retry: 3}, {t: 1900, retry: 3}},
		},
		{
			// round(5 / 1200 * 600) = round(2.5) = 2: half to even.
			name: "rounds half to even down", findTime: 600 * time.Second, maxRetry: 10,
			steps: []step{{t: 0, attempts: 5, retry: 5}, {t: 1200, retry: 3}},
		},
		{
			// round(7 / 1200 * 600) = round(3.5) = 4.
			name: "rounds half to even up", findTime: 600 * time.Second, maxRetry: 10,
			steps: []step{{t: 0, attempts: 7, retry: 7}, {t: 1200, retry: 5}},
		},
		{
			// The window moved to 1300..1900; 2000 is within findtime of
			// 1300 only by the new first time.
			name: "window moves with the rescale", findTime: 600 * time.Second, maxRetry: 10,
			steps: []step{{t: 1000, retry: 1}, {t: 1100, retry: 2}, {t: 1200, retry: 3}, {t: 1900, retry: 3}, {t: 2000, retry: 4}},
		},
		{
			name: "long quiet decays to one", findTime: 600 * time.Second, maxRetry: 10,
			steps: []step{{t: 0, retry: 1}, {t: 10, retry: 2}, {t: 100000, retry: 1}},
		},
		{
			name: "out of order failure counts without rescaling", findTime: 600 * time.Second, maxRetry: 10,
			steps: []step{{t: 1000, retry: 1}, {t: 2000, retry: 2}, {t: 100, retry: 3}},
		},
		{
			name: "full at maxretry", findTime: 600 * time.Second, maxRetry: 3,
			steps: []step{{t: 1, retry: 1}, {t: 2, retry: 2}, {t: 3, retry: 3, full: true}, {t: 4, retry: 1}},
		},
		{
			name: "attempts add up", findTime: 600 * time.Second, maxRetry: 5,
			steps: []step{{t: 1, attempts: 2, retry: 2}, {t: 2, attempts: 3, retry: 5, full: true}},
		},
		{
			name: "maxretry 0 bans at once", findTime: 600 * time.Second, maxRetry: 0,
			steps: []step{{t: 1, retry: 1, full: true}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := New(Options{FindTime: tt.findTime, MaxRetry: tt.maxRetry})
			for i, s := range tt.steps {
				tk, full := tr.Add(Failure{ID: "192.0.2.1", Time: at(s.t), Attempts: max(s.attempts, 1)})
				if tk.Retry != s.retry || full != s.full {
					t.Fatalf("step %d (t=%v): retry %d full %v, want %d %v", i, s.t, tk.Retry, full, s.retry, s.full)
				}
			}
		})
	}
}

func TestAttemptsBelowOneCountAsOne(t *testing.T) {
	tr := New(Options{FindTime: time.Minute, MaxRetry: 5})
	tr.Add(Failure{ID: "a", Time: at(1), Attempts: -3})
	if tk, _ := tr.Add(Failure{ID: "a", Time: at(2)}); tk.Retry != 2 {
		t.Fatalf("retry %d, want 2", tk.Retry)
	}
}

func TestTicketState(t *testing.T) {
	tr := New(Options{FindTime: 600 * time.Second, MaxRetry: 4, MaxMatches: 2})
	tr.Add(Failure{ID: "a", Time: at(1000), Match: "one"})
	tr.Add(Failure{ID: "a", Time: at(1100), Match: "two"})
	tr.Add(Failure{ID: "a", Time: at(1050), Match: ""})
	got, ok := tr.Get("a")
	if !ok {
		t.Fatal("Get(a): no ticket")
	}
	want := Ticket{ID: "a", First: at(1000), Last: at(1100), Retry: 3, Failures: 3, Matches: []string{"one", "two"}}
	if !equalTicket(got, want) {
		t.Fatalf("Get(a) = %+v, want %+v", got, want)
	}
	tk, full := tr.Add(Failure{ID: "a", Time: at(1200), Match: "three"})
	want = Ticket{ID: "a", First: at(1000), Last: at(1200), Retry: 4, Failures: 4, Matches: []string{"two", "three"}}
	if !full || !equalTicket(tk, want) {
		t.Fatalf("Add full = %+v %v, want %+v true", tk, full, want)
	}
	if _, ok := tr.Get("a"); ok || tr.Len() != 0 {
		t.Fatalf("a full ticket must leave the tracker; Len = %d", tr.Len())
	}
	if tr.Total() != 4 {
		t.Fatalf("Total = %d, want 4", tr.Total())
	}
	// A new ticket for the same ID starts from scratch, with no stale matches.
	tk, _ = tr.Add(Failure{ID: "a", Time: at(1300), Match: "four"})
	if tk.Retry != 1 || tk.Failures != 1 {
		t.Fatalf("after a ban: %+v", tk)
	}
	if got, _ := tr.Get("a"); !slices.Equal(got.Matches, []string{"four"}) {
		t.Fatalf("matches after a ban: %q", got.Matches)
	}
}

func TestMaxMatchesZeroKeepsNone(t *testing.T) {
	tr := New(Options{FindTime: time.Minute, MaxRetry: 2})
	tr.Add(Failure{ID: "a", Time: at(1), Match: "x"})
	tk, full := tr.Add(Failure{ID: "a", Time: at(2), Match: "y"})
	if !full || tk.Matches != nil {
		t.Fatalf("got %+v %v", tk, full)
	}
}

func TestCleanup(t *testing.T) {
	tr := New(Options{FindTime: 600 * time.Second, MaxRetry: 10})
	for i, last := range []float64{100, 400, 401, 1000} {
		tr.Add(Failure{ID: strconv.Itoa(i), Time: at(last)})
	}
	// now - findtime = 401: last ≤ 401 goes, as in FailManager.cleanup.
	if n := tr.Cleanup(at(1001)); n != 3 {
		t.Fatalf("Cleanup dropped %d, want 3", n)
	}
	if _, ok := tr.Get("3"); !ok || tr.Len() != 1 {
		t.Fatalf("Len = %d, want only ID 3", tr.Len())
	}
	// Freed slots are reused.
	for i := range 3 {
		tr.Add(Failure{ID: "new" + strconv.Itoa(i), Time: at(1002)})
	}
	if tr.Len() != 4 {
		t.Fatalf("Len = %d, want 4", tr.Len())
	}
}

func TestEvictsLeastRecentlyFailing(t *testing.T) {
	tr := New(Options{FindTime: time.Hour, MaxRetry: 100, MaxIDs: 3})
	for i, id := range []string{"a", "b", "c"} {
		tr.Add(Failure{ID: id, Time: at(float64(i))})
	}
	tr.Add(Failure{ID: "a", Time: at(10)}) // a is now the most recent
	tr.Add(Failure{ID: "d", Time: at(11)}) // evicts b
	if _, ok := tr.Get("b"); ok {
		t.Fatal("b should have been evicted")
	}
	for _, id := range []string{"a", "c", "d"} {
		if _, ok := tr.Get(id); !ok {
			t.Fatalf("%s was evicted", id)
		}
	}
	tr.Add(Failure{ID: "e", Time: at(12)}) // evicts c
	if _, ok := tr.Get("c"); ok {
		t.Fatal("c should have been evicted")
	}
	if tr.Len() != 3 || tr.Evicted() != 2 {
		t.Fatalf("Len %d Evicted %d, want 3 2", tr.Len(), tr.Evicted())
	}
	if got, _ := tr.Get("a"); got.Retry != 2 {
		t.Fatalf("a lost its count: %+v", got)
	}
}

func TestCapHoldsWithManyStripes(t *testing.T) {
	const maxIDs = 10_000
	tr := New(Options{FindTime: time.Hour, MaxRetry: 100, MaxIDs: maxIDs})
	if len(tr.stripes) < 2 {
		t.Fatalf("want several stripes for %d IDs, got %d", maxIDs, len(tr.stripes))
	}
	const n = 50_000
	for i := range n {
		tr.Add(Failure{ID: "id" + strconv.Itoa(i), Time: at(float64(i))})
	}
	if tr.Len() > maxIDs {
		t.Fatalf("Len = %d over the cap %d", tr.Len(), maxIDs)
	}
	if got := tr.Len() + int(tr.Evicted()); got != n {
		t.Fatalf("Len + Evicted = %d, want %d", got, n)
	}
	// Eviction is per stripe, so the survivors are the most recent IDs of
	// each stripe: nearly all of the last maxIDs.
	recent := 0
	for i := n - maxIDs; i < n; i++ {
		if _, ok := tr.Get("id" + strconv.Itoa(i)); ok {
			recent++
		}
	}
	if recent < maxIDs*9/10 {
		t.Fatalf("only %d of the %d most recent IDs kept", recent, maxIDs)
	}
}

func TestSnapshotRestore(t *testing.T) {
	src := New(Options{FindTime: 600 * time.Second, MaxRetry: 10, MaxMatches: 3})
	for i := range 20 {
		id := "10.0.0." + strconv.Itoa(i%7)
		src.Add(Failure{ID: id, Time: at(float64(1000 + 10*i)), Match: "line " + strconv.Itoa(i)})
	}
	snap := src.Snapshot()
	if len(snap) != 7 {
		t.Fatalf("Snapshot has %d tickets, want 7", len(snap))
	}
	if !slices.IsSortedFunc(snap, func(a, b Ticket) int { return a.Last.Compare(b.Last) }) {
		t.Fatal("Snapshot not ordered by last failure")
	}
	dst := New(Options{FindTime: 600 * time.Second, MaxRetry: 10, MaxMatches: 3})
	dst.Restore(snap)
	if got := dst.Snapshot(); !slices.EqualFunc(got, snap, equalTicket) {
		t.Fatalf("restored\n%+v\nwant\n%+v", got, snap)
	}
	// Restored tickets keep counting where they were.
	a, _ := src.Add(Failure{ID: "10.0.0.1", Time: at(1300)})
	b, _ := dst.Add(Failure{ID: "10.0.0.1", Time: at(1300)})
	if a.Retry != b.Retry {
		t.Fatalf("retry after restore %d, want %d", b.Retry, a.Retry)
	}

	// A smaller cap keeps the most recent; fewer matches keep the last ones.
	small := New(Options{FindTime: 600 * time.Second, MaxRetry: 10, MaxMatches: 1, MaxIDs: 2})
	small.Restore(snap)
	got := small.Snapshot()
	if len(got) != 2 || got[1].ID != snap[len(snap)-1].ID || got[0].ID != snap[len(snap)-2].ID {
		t.Fatalf("capped restore kept %+v", got)
	}
	if want := snap[len(snap)-1].Matches; !slices.Equal(got[1].Matches, want[len(want)-1:]) {
		t.Fatalf("matches %q, want the last of %q", got[1].Matches, want)
	}
}

func TestForget(t *testing.T) {
	tr := New(Options{FindTime: time.Minute, MaxRetry: 5})
	tr.Add(Failure{ID: "a", Time: at(1)})
	tr.Forget("a")
	tr.Forget("never")
	if tr.Len() != 0 {
		t.Fatalf("Len = %d after Forget", tr.Len())
	}
}

func TestConcurrentUse(t *testing.T) {
	tr := New(Options{FindTime: time.Hour, MaxRetry: 1 << 30, MaxIDs: 5000})
	var wg sync.WaitGroup
	const workers, per = 4, 5000
	for w := range workers {
		wg.Go(func() {
			for i := range per {
				id := strconv.Itoa(i % 700)
				tr.Add(Failure{ID: id, Time: at(float64(i)), Match: "m"})
				switch i % 500 {
				case 0:
					tr.Snapshot()
				case 1:
					tr.Cleanup(at(float64(i - 100)))
				case 2:
					tr.Forget(strconv.Itoa(w))
				}
				tr.Get(id)
			}
		})
	}
	wg.Wait()
	if tr.Total() != workers*per {
		t.Fatalf("Total = %d, want %d", tr.Total(), workers*per)
	}
}

func equalTicket(a, b Ticket) bool {
	return a.ID == b.ID && a.First.Equal(b.First) && a.Last.Equal(b.Last) &&
		a.Retry == b.Retry && a.Failures == b.Failures && slices.Equal(a.Matches, b.Matches)
}

// TestAgainstFailManager runs random failure sequences through fail2ban's own
// FailManager (Python) and through the tracker, and compares every step.
func TestAgainstFailManager(t *testing.T) {
	python := "/usr/bin/python3"
	testenv.RequireFile(t, python)
	testenv.RequireFile(t, "/usr/lib/python3/dist-packages/fail2ban/server/failmanager.py")

	scenarios := []struct {
		findTime             float64
		maxRetry, maxMatches int
		boost                bool // replay the bantime.increment observer
	}{
		{600, 5, 5, false},
		{600, 3, 2, false},
		{60, 3, 0, false},
		{3600, 4, 3, false},
		{600, 6, 5, true},
		{120, 8, 3, true},
	}
	for si, sc := range scenarios {
		t.Run(fmt.Sprintf("findtime=%v,maxretry=%d,maxmatches=%d,boost=%v", sc.findTime, sc.maxRetry, sc.maxMatches, sc.boost), func(t *testing.T) {
			ops := randomOps(rand.New(rand.NewPCG(uint64(si), 42)), sc.findTime, sc.boost)
			type op struct {
				Op    string  `json:"op"`
				ID    string  `json:"id,omitempty"`
				T     float64 `json:"t"`
				Match string  `json:"match"`
				Extra int     `json:"extra"`
			}
			req := struct {
				FindTime   float64 `json:"findtime"`
				MaxRetry   int     `json:"maxretry"`
				MaxMatches int     `json:"maxmatches"`
				Ops        []op    `json:"ops"`
			}{sc.findTime, sc.maxRetry, sc.maxMatches, nil}
			for _, o := range ops {
				req.Ops = append(req.Ops, op(o))
			}
			in, err := json.Marshal(req)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, python, "testdata/failmanager.py")
			cmd.Stdin = bytes.NewReader(in)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("failmanager.py: %v\n%s", err, stderr.String())
			}
			var want []struct {
				Dropped *int `json:"dropped"`
				Retry   int  `json:"retry"`
				Banned  bool `json:"banned"`
				Ticket  *struct {
					ID       string   `json:"id"`
					First    float64  `json:"first"`
					Last     float64  `json:"last"`
					Retry    int      `json:"retry"`
					Failures int      `json:"failures"`
					Matches  []string `json:"matches"`
				} `json:"ticket"`
			}
			if err := json.Unmarshal(out, &want); err != nil {
				t.Fatalf("decoding failmanager.py output: %v", err)
			}
			if len(want) != len(ops) {
				t.Fatalf("python returned %d steps for %d ops", len(want), len(ops))
			}

			tr := New(Options{
				FindTime:   time.Duration(sc.findTime * float64(time.Second)),
				MaxRetry:   sc.maxRetry,
				MaxMatches: sc.maxMatches,
			})
			bans := 0
			for i, o := range ops {
				w := want[i]
				if o.Op == "cleanup" {
					if n := tr.Cleanup(at(o.T)); w.Dropped == nil || n != *w.Dropped {
						t.Fatalf("op %d cleanup(%v): dropped %d, fail2ban %v", i, o.T, n, *w.Dropped)
					}
					continue
				}
				tk, full := tr.Add(Failure{ID: o.ID, Time: at(o.T), Attempts: 1 + o.Extra, Match: o.Match})
				if full != w.Banned || tk.Retry != w.Retry {
					t.Fatalf("op %d %+v: retry %d banned %v, fail2ban %d %v", i, o, tk.Retry, full, w.Retry, w.Banned)
				}
				if !full {
					continue
				}
				bans++
				wt := w.Ticket
				if tk.ID != wt.ID || math.Abs(secs(tk.First)-wt.First) > 1e-6 || math.Abs(secs(tk.Last)-wt.Last) > 1e-6 || tk.Retry != wt.Retry {
					t.Fatalf("op %d: banned ticket %+v, fail2ban %+v", i, tk, *wt)
				}
				// The observer re-adds the failure, so fail2ban counts a
				// boosted failure twice in <failures> and keeps its line
				// twice; the tracker counts and keeps it once.
				if o.Extra == 0 && !sc.boost {
					if tk.Failures != wt.Failures || !slices.Equal(tk.Matches, wt.Matches) {
						t.Fatalf("op %d: banned ticket failures %d matches %q, fail2ban %d %q", i, tk.Failures, tk.Matches, wt.Failures, wt.Matches)
					}
				}
			}
			if bans == 0 {
				t.Fatal("scenario produced no ban; it tests too little")
			}
			t.Logf("%d ops, %d bans agree with fail2ban", len(ops), bans)
		})
	}
}

type testOp struct {
	Op    string
	ID    string
	T     float64
	Match string
	Extra int
}

// randomOps makes a failure sequence over a few IDs with gaps around
// findtime, some out-of-order times, fractional seconds and cleanups.
func randomOps(r *rand.Rand, findTime float64, boost bool) []testOp {
	var ops []testOp
	now := 1_700_000_000.0
	for i := range 3000 {
		now += math.Floor(r.ExpFloat64()*findTime/6*4) / 4 // quarter seconds
		if r.IntN(40) == 0 {
			ops = append(ops, testOp{Op: "cleanup", T: now})
			continue
		}
		t := now
		if r.IntN(15) == 0 {
			t -= math.Floor(r.Float64() * findTime * 2)
		}
		extra := 0
		if boost && r.IntN(4) == 0 {
			extra = 1 + r.IntN(4)
		}
		match := ""
		if r.IntN(10) != 0 {
			match = "line " + strconv.Itoa(i)
		}
		ops = append(ops, testOp{Op: "add", ID: "192.0.2." + strconv.Itoa(r.IntN(12)), T: t, Match: match, Extra: extra})
	}
	return ops
}

// TestChanges checks that the tickets Changes reports, applied one call
// after another to a copy, keep the copy equal to the tracker's tickets,
// whatever happens in between: failures, tickets handed over full,
// forgotten, cleaned up, evicted and restored.
func TestChanges(t *testing.T) {
	for _, maxIDs := range []int{0, 5, 2000} {
		t.Run(fmt.Sprintf("maxids=%d", maxIDs), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(maxIDs)))
			tr := New(Options{FindTime: time.Minute, MaxRetry: 4, MaxMatches: 2, MaxIDs: maxIDs})
			saved := make(map[string]Ticket) // the copy
			base := time.Unix(1_700_000_000, 0)
			now := base
			save := func(all bool) {
				t.Helper()
				changed, dropped := tr.Changes(all)
				if all {
					if dropped != nil {
						t.Fatalf("Changes(true) dropped %v", dropped)
					}
					clear(saved)
				}
				for _, id := range dropped {
					delete(saved, id)
				}
				for _, tk := range changed {
					saved[tk.ID] = tk
				}
				want := tr.Snapshot()
				if len(saved) != len(want) {
					t.Fatalf("copy holds %d tickets, tracker %d", len(saved), len(want))
				}
				for _, tk := range want {
					if got, ok := saved[tk.ID]; !ok || !ticketsEqual(got, tk) {
						t.Fatalf("copy of %s = %+v, tracker %+v", tk.ID, got, tk)
					}
				}
			}
			for step := range 20000 {
				id := fmt.Sprintf("192.0.2.%d", rng.IntN(3000))
				now = now.Add(time.Duration(rng.IntN(100)) * time.Millisecond)
				switch r := rng.IntN(1000); {
				case r < 900:
					tr.Add(Failure{ID: id, Time: now, Match: "line " + strconv.Itoa(step)})
				case r < 940:
					tr.Forget(id)
				case r < 950:
					tr.Cleanup(now.Add(-time.Duration(rng.IntN(60)) * time.Second))
				case r < 960:
					tr.Restore([]Ticket{{ID: id, First: now, Last: now, Retry: 1, Failures: 1, Matches: []string{"restored"}}})
					if rng.IntN(2) == 0 {
						tr.Forget(id) // a ticket replaced, maybe reported
					}
				case r < 995:
					save(false)
				default:
					save(true)
				}
			}
			save(false)
		})
	}
}

func ticketsEqual(a, b Ticket) bool {
	return a.ID == b.ID && a.First.Equal(b.First) && a.Last.Equal(b.Last) &&
		a.Retry == b.Retry && a.Failures == b.Failures && slices.Equal(a.Matches, b.Matches)
}

// BenchmarkChanges is the periodic save of a jail under a flood: a
// million tickets tracked, a tenth of them changed since the last save.
func BenchmarkChanges(b *testing.B) {
	tr := New(Options{FindTime: time.Hour, MaxRetry: 100})
	at := time.Unix(1_700_000_000, 0)
	ids := make([]string, 1_000_000)
	for i := range ids {
		ids[i] = fmt.Sprintf("10.%d.%d.%d", i>>16, i>>8&0xff, i&0xff)
		tr.Add(Failure{ID: ids[i], Time: at})
	}
	tr.Changes(true)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for range len(ids) / 10 {
			tr.Add(Failure{ID: ids[n%len(ids)], Time: at})
			n++
		}
		if changed, _ := tr.Changes(false); len(changed) != len(ids)/10 {
			b.Fatalf("%d tickets changed, want %d", len(changed), len(ids)/10)
		}
	}
}
