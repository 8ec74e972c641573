package pexip

import (
	"fmt"
	"testing"
	"time"
)

var t0 = time.Date(2024, 5, 14, 9, 0, 0, 0, time.UTC)

// step is one request_token answer in a flow: 403 or 200, after a delay.
type step struct {
	after  time.Duration
	status int
}

func flow(delay time.Duration, statuses ...int) []step {
	s := make([]step, len(statuses))
	for i, st := range statuses {
		s[i] = step{delay, st}
	}
	return s
}

func TestJoinsClientFlows(t *testing.T) {
	const sec = time.Second
	tests := []struct {
		name    string
		steps   []step
		counted int // failures counted once everything expired
	}{
		{"PexRTC correct PIN", flow(5*sec, 403, 200), 0},
		{"PexRTC one typo", flow(5*sec, 403, 403, 403, 200), 0},
		{"PexRTC two typos", flow(5*sec, 403, 403, 403, 403, 403, 200), 0},
		{"SDK one typo", flow(5*sec, 403, 403, 200), 0},
		{"SDK two typos", flow(5*sec, 403, 403, 403, 200), 0},
		{"SSO", flow(5*sec, 403, 403, 200), 0},
		{"open room", flow(5*sec, 200), 0},
		{"gave up after prompt", flow(5*sec, 403), 1},
		{"brute force", flow(sec, 403, 403, 403, 403, 403, 403, 403, 403), 8},
		{"slow typist forgiven by final 200", []step{{0, 403}, {100 * sec, 403}, {sec, 403}, {20 * sec, 200}}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := NewJoins(DefaultJoinOptions())
			k := Key{"198.51.100.23", "meet.alice"}
			now := t0
			var counted []Failure
			for _, s := range tt.steps {
				now = now.Add(s.after)
				if s.status == 200 {
					counted = j.Joined(k, now, counted)
					continue
				}
				counted = j.Failed(Failure{Key: k, Time: now}, counted)
			}
			counted = j.Expire(now.Add(time.Hour), counted)
			if len(counted) != tt.counted {
				t.Fatalf("counted %d failures, want %d", len(counted), tt.counted)
			}
			if j.Held() != 0 {
				t.Fatalf("%d still held", j.Held())
			}
		})
	}
}

func TestJoinsReleaseAtOnce(t *testing.T) {
	j := NewJoins(DefaultJoinOptions())
	k := Key{"198.51.100.23", "meet.alice"}
	var out []Failure
	for i := range 5 {
		out = j.Failed(Failure{Key: k, Time: t0.Add(time.Duration(i) * time.Second)}, out)
	}
	if len(out) != 0 {
		t.Fatalf("%d counted within the hold", len(out))
	}
	out = j.Failed(Failure{Key: k, Time: t0.Add(5 * time.Second)}, out)
	if len(out) != 6 {
		t.Fatalf("the sixth 403 released %d, want all 6", len(out))
	}
	for i, f := range out {
		if !f.Time.Equal(t0.Add(time.Duration(i) * time.Second)) {
			t.Fatalf("failure %d at %v: times must be kept", i, f.Time)
		}
	}
}

func TestJoinsRoomIsolation(t *testing.T) {
	// A 200 on one room never forgives 403s on another.
	j := NewJoins(DefaultJoinOptions())
	a := Key{"198.51.100.23", "room-a"}
	b := Key{"198.51.100.23", "room-b"}
	var out []Failure
	out = j.Failed(Failure{Key: b, Time: t0}, out)
	out = j.Failed(Failure{Key: b, Time: t0.Add(time.Second)}, out)
	out = j.Joined(a, t0.Add(2*time.Second), out)
	out = j.Expire(t0.Add(time.Hour), out)
	if len(out) != 2 {
		t.Fatalf("room-b failures counted: %d, want 2", len(out))
	}
}

func TestJoinsHoldPerIDAcrossRooms(t *testing.T) {
	// A guesser moving from room to room counts at its sixth 403.
	j := NewJoins(JoinOptions{Window: time.Minute, Hold: 5, HoldPerID: 10})
	var out []Failure
	for i := range 6 {
		k := Key{"198.51.100.23", fmt.Sprintf("room-%d", i)}
		out = j.Failed(Failure{Key: k, Time: t0.Add(time.Duration(i) * time.Second)}, out)
	}
	if len(out) != 6 {
		t.Fatalf("spreading over rooms: %d counted at the 6th, want 6", len(out))
	}
	// An office joining two meetings at once, with typos in both, is held
	// up to HoldPerID.
	j = NewJoins(JoinOptions{Window: time.Minute, Hold: 5, HoldPerID: 10})
	out = out[:0]
	for i := range 10 {
		k := Key{"203.0.113.9", fmt.Sprintf("meeting-%d", i%2)}
		out = j.Failed(Failure{Key: k, Time: t0.Add(time.Duration(i) * time.Second)}, out)
	}
	if len(out) != 0 {
		t.Fatalf("two joins at once: %d counted, want 0", len(out))
	}
	out = j.Failed(Failure{Key: Key{"203.0.113.9", "meeting-0"}, Time: t0.Add(11 * time.Second)}, out)
	if len(out) != 11 {
		t.Fatalf("past HoldPerID: %d counted, want 11", len(out))
	}
}

func TestJoinsCredit(t *testing.T) {
	// After the office got into a meeting, colleagues' prompts and typos
	// on it are held up to CreditHold, with no 200 between them.
	j := NewJoins(DefaultJoinOptions())
	k := Key{"203.0.113.9", "weekly"}
	out := j.Joined(k, t0, nil)
	for i := range 20 {
		out = j.Failed(Failure{Key: k, Time: t0.Add(time.Duration(i+1) * time.Second)}, out)
	}
	if len(out) != 0 {
		t.Fatalf("credited 403s counted: %d", len(out))
	}
	if out = j.Failed(Failure{Key: k, Time: t0.Add(30 * time.Second)}, out); len(out) != 21 {
		t.Fatalf("past CreditHold: %d counted, want 21", len(out))
	}
	// Credit does not carry to another room.
	other := Key{"203.0.113.9", "board"}
	out = out[:0]
	for i := range 6 {
		out = j.Failed(Failure{Key: other, Time: t0.Add(time.Minute + time.Duration(i)*time.Second)}, out)
	}
	if len(out) != 6 {
		t.Fatalf("another room: %d counted at the sixth, want 6", len(out))
	}
}

func TestJoinsStaleQueueEntry(t *testing.T) {
	// A resolved attempt's queue entries must not expire a later attempt on
	// the same key early.
	j := NewJoins(JoinOptions{Window: time.Minute, Hold: 5})
	k := Key{"198.51.100.23", "meet.alice"}
	var out []Failure
	out = j.Failed(Failure{Key: k, Time: t0}, out)
	out = j.Joined(k, t0.Add(time.Second), out)
	out = j.Failed(Failure{Key: k, Time: t0.Add(50 * time.Second)}, out)
	out = j.Expire(t0.Add(61*time.Second), out)
	if len(out) != 0 {
		t.Fatalf("later attempt expired early: %d", len(out))
	}
	out = j.Expire(t0.Add(111*time.Second), out)
	if len(out) != 1 {
		t.Fatalf("later attempt: %d counted, want 1", len(out))
	}
}

func TestRoomsDistributedAttack(t *testing.T) {
	r := NewRooms(DefaultRoomOptions())
	now := t0
	// A legitimate participant joins first.
	r.Joined(Key{"203.0.113.5", "vmr"}, now.Add(time.Second))

	var flaggedAt, afterFlag int
	flagged := false
	banned := map[string]bool{}
	for i := range 300 {
		id := fmt.Sprintf("198.51.%d.%d", i/250, i%250)
		for range 3 {
			now = now.Add(100 * time.Millisecond)
			if banned[id] {
				continue
			}
			k := Key{id, "vmr"}
			if r.Attacked(k, now) {
				afterFlag++
				banned[id] = true
				continue
			}
			v := r.Counted(k, now)
			if v.Flagged {
				flagged, flaggedAt = true, i
			}
			for _, b := range v.Ban {
				banned[b] = true
			}
		}
	}
	if !flagged {
		t.Fatal("room never flagged")
	}
	if flaggedAt > 6 {
		t.Errorf("flagged at the %dth address, want within the budget", flaggedAt)
	}
	// After the flag, each new address gets exactly one 403 before its ban.
	if want := 300 - flaggedAt - 1; afterFlag != want {
		t.Errorf("addresses banned at their first 403 after the flag: %d, want %d", afterFlag, want)
	}
	if banned["203.0.113.5"] || r.Attacked(Key{"203.0.113.5", "vmr"}, now) {
		t.Error("an address that joined the room was caught")
	}
	if !r.UnderAttack("vmr", now) || r.UnderAttack("vmr", now.Add(time.Hour)) {
		t.Error("attack period wrong")
	}
}

func TestRoomsJoinsDoNotFlag(t *testing.T) {
	// Addresses whose 403s a 200 explains take nothing from the budget.
	r := NewRooms(DefaultRoomOptions())
	now := t0
	for i := range 100 {
		k := Key{fmt.Sprintf("203.0.113.%d", i), "allhands"}
		r.Joined(k, now)
		now = now.Add(200 * time.Millisecond)
		if v := r.Counted(k, now); v.Flagged || len(v.Ban) > 0 {
			t.Fatalf("join %d flagged the room", i)
		}
	}
	r.Prune(now.Add(time.Hour))
}

func TestRoomsLoneGuesserDoesNotFlag(t *testing.T) {
	r := NewRooms(DefaultRoomOptions())
	now := t0
	// One address guessing hard is the per-address count's business.
	for range 100 {
		now = now.Add(time.Second)
		if v := r.Counted(Key{"198.51.100.1", "vmr"}, now); v.Flagged || len(v.Ban) > 0 {
			t.Fatalf("a lone guesser flagged the room: %+v", v)
		}
	}
	// Five more guessers, two counted 403s each, exceed the budget of 10.
	flagged := false
	for i := range 5 {
		for range 3 {
			now = now.Add(time.Second)
			flagged = flagged || r.Counted(Key{fmt.Sprintf("198.51.100.%d", i+2), "vmr"}, now).Flagged
		}
	}
	if !flagged {
		t.Error("six guessers did not flag the room")
	}
}

func BenchmarkJoinsFlow(b *testing.B) {
	j := NewJoins(DefaultJoinOptions())
	k := Key{"198.51.100.23", "meet.alice"}
	now := t0
	var out []Failure
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Second)
		out = j.Failed(Failure{Key: k, Time: now}, out[:0])
		out = j.Joined(k, now, out)
	}
}

func TestJoinsMaxAttempts(t *testing.T) {
	j := NewJoins(JoinOptions{MaxAttempts: 100})
	var counted int
	for i := range 1000 {
		out := j.Failed(Failure{Key: Key{fmt.Sprintf("198.18.%d.%d", i/250, i%250), "vmr"}, Time: t0.Add(time.Duration(i) * time.Millisecond)}, nil)
		counted += len(out)
	}
	if j.Held() != 100 || counted != 900 {
		t.Errorf("held %d, counted %d; want 100 and 900", j.Held(), counted)
	}
}
