package report

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pinjail/pinjail/internal/jail"
)

func TestSourcesEviction(t *testing.T) {
	tests := []struct {
		name string
		max  int
		// feed adds sources; ids of banned ones start with "b".
		feed          func(s *sources)
		kept          []string
		evicted       uint64
		evictedBanned uint64
	}{
		{
			name: "the least recently seen go first",
			max:  4,
			feed: func(s *sources) {
				for i, id := range []string{"u1", "u2", "u3", "u4"} {
					s.attempt(id, at(10-i)) // u1 is the latest
				}
				s.attempt("u5", at(20))
			},
			// Four sources at the limit: two go, the oldest.
			kept:    []string{"u1", "u2", "u5"},
			evicted: 2,
		},
		{
			name: "banned sources stay while others can go",
			max:  4,
			feed: func(s *sources) {
				s.attempt("b1", at(0))
				s.ban(jail.Event{ID: "b1", Time: at(0), BanTime: time.Minute}, "")
				s.attempt("b2", at(1))
				s.ban(jail.Event{ID: "b2", Time: at(1), BanTime: time.Minute}, "")
				s.attempt("u1", at(5))
				s.attempt("u2", at(6))
				s.attempt("u3", at(7))
			},
			kept:    []string{"b1", "b2", "u3"},
			evicted: 2,
		},
		{
			name: "among banned sources, those with fewest attempts before the ban go",
			max:  4,
			feed: func(s *sources) {
				for i := range 4 {
					id := fmt.Sprintf("b%d", i)
					for range 4 - i {
						s.attempt(id, at(i))
					}
					s.ban(jail.Event{ID: id, Time: at(i), BanTime: time.Minute}, "")
				}
				s.attempt("u1", at(9))
			},
			kept:          []string{"b0", "b1", "u1"},
			evicted:       2,
			evictedBanned: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSources(tt.max)
			tt.feed(&s)
			var kept []string
			for id := range s.m {
				kept = append(kept, id)
			}
			slices.Sort(kept)
			if !slices.Equal(kept, tt.kept) {
				t.Errorf("kept %q, want %q", kept, tt.kept)
			}
			if s.evicted != tt.evicted || s.evictedBanned != tt.evictedBanned {
				t.Errorf("evicted %d (%d banned), want %d (%d)", s.evicted, s.evictedBanned, tt.evicted, tt.evictedBanned)
			}
		})
	}
}

// TestSourcesBounded feeds far more sources than the limit and checks the
// table never outgrows it.
func TestSourcesBounded(t *testing.T) {
	const limit = 1000
	s := newSources(limit)
	for i := range 100 * limit {
		id := fmt.Sprintf("id%d", i)
		s.attempt(id, at(i))
		if i%7 == 0 {
			s.ban(jail.Event{ID: id, Time: at(i), BanTime: time.Minute}, "")
		}
		if len(s.m) > limit {
			t.Fatalf("%d sources held after %d, limit %d", len(s.m), i+1, limit)
		}
	}
	if s.evicted == 0 {
		t.Error("nothing evicted")
	}
}
