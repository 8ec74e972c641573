package ban

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pinjail/pinjail/internal/config"
)

func TestBanTimeFor(t *testing.T) {
	tests := []struct {
		name    string
		banTime time.Duration
		inc     config.Increment
		want    []time.Duration // for 0, 1, 2... earlier bans
	}{
		{
			// The values fail2ban's documentation gives.
			name: "default formula", banTime: 600 * time.Second,
			inc:  config.Increment{Enabled: true},
			want: secondsList(600, 1200, 2400, 4800, 9600),
		},
		{
			name: "multipliers", banTime: 600 * time.Second,
			inc:  config.Increment{Enabled: true, Multipliers: []float64{1, 5, 30, 60}},
			want: secondsList(600, 3000, 18000, 36000, 36000),
		},
		{
			name: "multipliers are not floored at bantime", banTime: 600 * time.Second,
			inc:  config.Increment{Enabled: true, Multipliers: []float64{1, 0.5}},
			want: secondsList(600, 300, 300),
		},
		{
			name: "factor", banTime: 600 * time.Second,
			inc:  config.Increment{Enabled: true, Factor: "3"},
			want: secondsList(600, 3600, 7200),
		},
		{
			name: "maxtime caps", banTime: 600 * time.Second,
			inc:  config.Increment{Enabled: true, MaxTime: 3000 * time.Second},
			want: secondsList(600, 1200, 2400, 3000, 3000),
		},
		{
			name: "formula below bantime is raised to it", banTime: 600 * time.Second,
			inc:  config.Increment{Enabled: true, Formula: "ban.Time / 2"},
			want: secondsList(600, 600, 600),
		},
		{
			name: "fractional result", banTime: 60 * time.Second,
			inc:  config.Increment{Enabled: true, Formula: "ban.Time * 1.5 ** ban.Count"},
			want: []time.Duration{60 * time.Second, 90 * time.Second, 135 * time.Second, 202500 * time.Millisecond},
		},
		{
			name: "exactly -1 is permanent", banTime: 600 * time.Second,
			inc:  config.Increment{Enabled: true, Multipliers: []float64{1, -1}, Factor: "1/600"},
			want: []time.Duration{600 * time.Second, config.Permanent},
		},
		{
			name: "bantime is whole seconds in the formula", banTime: 90500 * time.Millisecond,
			inc:  config.Increment{Enabled: true},
			want: []time.Duration{90500 * time.Millisecond, 180 * time.Second},
		},
		{
			name: "huge result saturates", banTime: 600 * time.Second,
			inc:  config.Increment{Enabled: true, Formula: "ban.Time * 10.0 ** 300"},
			want: []time.Duration{600 * time.Second, time.Duration(1<<63 - 1)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewPolicy("sshd", tt.banTime, tt.inc, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			for n, want := range tt.want {
				got, err := p.BanTimeFor(n)
				if err != nil || got != want {
					t.Errorf("BanTimeFor(%d) = %v %v, want %v", n, got, err, want)
				}
			}
		})
	}
}

func secondsList(s ...int) []time.Duration {
	out := make([]time.Duration, len(s))
	for i, v := range s {
		out[i] = time.Duration(v) * time.Second
	}
	return out
}

func TestRndTime(t *testing.T) {
	inc := config.Increment{Enabled: true, MaxTime: 1000 * time.Second, RndTime: 100 * time.Second}
	p, err := NewPolicy("sshd", 600*time.Second, inc, nil, func() float64 { return 0.25 })
	if err != nil {
		t.Fatal(err)
	}
	// min(1200, 1000) + 0.25 * 100: rndtime comes after maxtime.
	if got, _ := p.BanTimeFor(1); got != 1025*time.Second {
		t.Fatalf("BanTimeFor(1) = %v, want 1025s", got)
	}
	// rndtime only applies to increased bans.
	if got, _ := p.BanTimeFor(0); got != 600*time.Second {
		t.Fatalf("BanTimeFor(0) = %v, want 600s", got)
	}
}

func TestNewPolicyErrors(t *testing.T) {
	tests := []struct {
		name string
		inc  config.Increment
		want string
	}{
		{"formula syntax", config.Increment{Enabled: true, Formula: "ban.Time *"}, `bantime.formula "ban.Time *"`},
		{"factor with ban", config.Increment{Enabled: true, Factor: "ban.Count"}, "bantime.factor"},
		{"factor error", config.Increment{Factor: "1/0"}, "division by zero"},
		{"formula fails for a second ban", config.Increment{Enabled: true, Formula: "ban.Time << 1.5"}, "for a second ban"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewPolicy("sshd", 600*time.Second, tt.inc, nil, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestDecide(t *testing.T) {
	h := NewMemHistory()
	p, err := NewPolicy("sshd", 600*time.Second, config.Increment{Enabled: true}, h, nil)
	if err != nil {
		t.Fatal(err)
	}
	const id = "192.0.2.7"
	d, err := p.Decide(id, t0)
	if err != nil || d != (Decision{Duration: 600 * time.Second, Count: 1}) {
		t.Fatalf("first ban %+v %v", d, err)
	}
	for i, want := range secondsList(1200, 2400, 4800) {
		_ = p.Record(Entry{ID: id, Start: t0.Add(time.Duration(i) * time.Hour), Duration: d.Duration, Count: d.Count})
		at := t0.Add(time.Duration(i)*time.Hour + time.Minute)
		if d, err = p.Decide(id, at); err != nil {
			t.Fatal(err)
		}
		if d.Duration != want || d.Count != i+2 || !d.Increased || d.Restored {
			t.Fatalf("ban %d: %+v, want %v", i+2, d, want)
		}
	}
	// A line read again, older than the last ban, is a restored ban.
	if d, _ = p.Decide(id, t0); !d.Restored {
		t.Fatalf("old failure: %+v", d)
	}
	// Another jail's bans count only with overalljails.
	other, _ := NewPolicy("nginx", 600*time.Second, config.Increment{Enabled: true}, h, nil)
	if d, _ = other.Decide(id, t0.Add(24*time.Hour)); d.Count != 1 || d.Duration != 600*time.Second {
		t.Fatalf("other jail: %+v", d)
	}
	overall, _ := NewPolicy("nginx", 600*time.Second, config.Increment{Enabled: true, OverallJails: true}, h, nil)
	if d, _ = overall.Decide(id, t0.Add(24*time.Hour)); d.Count != 4 || d.Duration != 4800*time.Second {
		t.Fatalf("overalljails: %+v", d)
	}
}

func TestDecideWithoutIncrement(t *testing.T) {
	h := NewMemHistory()
	_ = h.RecordBan("sshd", Entry{ID: "a", Start: t0, Duration: time.Minute, Count: 3})
	for _, tt := range []struct {
		banTime time.Duration
		inc     config.Increment
	}{
		{600 * time.Second, config.Increment{}},
		{config.Permanent, config.Increment{Enabled: true}},
	} {
		p, err := NewPolicy("sshd", tt.banTime, tt.inc, h, nil)
		if err != nil {
			t.Fatal(err)
		}
		d, err := p.Decide("a", t0.Add(time.Hour))
		if err != nil || d != (Decision{Duration: tt.banTime, Count: 1}) {
			t.Fatalf("bantime %v %+v: %+v %v", tt.banTime, tt.inc, d, err)
		}
	}
}

type failingHistory struct{}

func (failingHistory) BanCount(string, string, bool) (int, time.Time, error) {
	return 0, time.Time{}, errors.New("database is locked")
}

func TestDecideHistoryError(t *testing.T) {
	p, err := NewPolicy("sshd", 600*time.Second, config.Increment{Enabled: true}, failingHistory{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := p.Decide("a", t0)
	if err == nil || !strings.Contains(err.Error(), "database is locked") {
		t.Fatalf("error %v", err)
	}
	if d.Duration != 600*time.Second {
		t.Fatalf("on error the ban is bantime's: %+v", d)
	}
	if _, err := p.ExtraAttempts("a", t0, 5); err == nil {
		t.Fatal("ExtraAttempts must report the error")
	}
	if err := p.Record(Entry{ID: "a"}); err != nil {
		t.Fatalf("a History that is not a Recorder: %v", err)
	}
}

func TestExtraAttempts(t *testing.T) {
	h := NewMemHistory()
	p, _ := NewPolicy("sshd", 600*time.Second, config.Increment{Enabled: true}, h, nil)
	off, _ := NewPolicy("sshd", 600*time.Second, config.Increment{}, h, nil)
	const id = "a"
	tests := []struct {
		bans     int
		maxRetry int
		want     int
	}{
		{0, 5, 0},
		{1, 5, 1},  // a failure counts 2
		{2, 5, 2},  // 3
		{3, 5, 4},  // min(5, 5)
		{4, 5, 4},  // min(9, 5)
		{3, 10, 4}, // 5
		{30, 1 << 30, 1 << 19},
		{2, 1, 0},
	}
	for _, tt := range tests {
		_ = h.RecordBan("sshd", Entry{ID: id, Start: t0, Count: tt.bans})
		got, err := p.ExtraAttempts(id, t0.Add(time.Second), tt.maxRetry)
		if err != nil || got != tt.want {
			t.Errorf("%d bans, maxretry %d: %d %v, want %d", tt.bans, tt.maxRetry, got, err, tt.want)
		}
		if got, _ := off.ExtraAttempts(id, t0.Add(time.Second), tt.maxRetry); got != 0 {
			t.Errorf("without increment: %d", got)
		}
	}
	// Failures not newer than the last ban get no boost.
	_ = h.RecordBan("sshd", Entry{ID: id, Start: t0, Count: 2})
	if got, _ := p.ExtraAttempts(id, t0, 5); got != 0 {
		t.Fatalf("failure at the ban's time: %d", got)
	}
	// Only this jail's bans count, even with overalljails.
	if got, _ := p.ExtraAttempts("b", t0.Add(time.Hour), 5); got != 0 {
		t.Fatalf("unknown ID: %d", got)
	}
	_ = h.RecordBan("nginx", Entry{ID: "b", Start: t0, Count: 3})
	overall, _ := NewPolicy("sshd", 600*time.Second, config.Increment{Enabled: true, OverallJails: true}, h, nil)
	if got, _ := overall.ExtraAttempts("b", t0.Add(time.Hour), 5); got != 0 {
		t.Fatalf("another jail's bans: %d", got)
	}
}

func TestMemHistoryPurge(t *testing.T) {
	h := NewMemHistory()
	_ = h.RecordBan("j", Entry{ID: "old", Start: t0, Duration: time.Hour, Count: 1})
	_ = h.RecordBan("j", Entry{ID: "long", Start: t0, Duration: 24 * time.Hour, Count: 1})
	_ = h.RecordBan("j", Entry{ID: "perm", Start: t0, Duration: config.Permanent, Count: 1})
	_ = h.RecordBan("j", Entry{ID: "new", Start: t0.Add(48 * time.Hour), Duration: time.Hour, Count: 1})
	// cutoff = t0 + 1 day: "old" ended 3×1h after t0, "long" not yet.
	if n := h.Purge(t0.Add(24 * time.Hour)); n != 1 {
		t.Fatalf("purged %d, want 1", n)
	}
	for id, want := range map[string]int{"old": 0, "long": 1, "perm": 1, "new": 1} {
		if n, _, _ := h.BanCount("j", id, false); n != want {
			t.Errorf("%s: count %d, want %d", id, n, want)
		}
	}
}

// TestPolicyAgainstFail2ban runs the same options through fail2ban's own
// Jail.setBanTimeExtra and compares the ban times.
func TestPolicyAgainstFail2ban(t *testing.T) {
	policies := []struct {
		banTime int
		opts    map[string]string
		inc     config.Increment
	}{
		{600, nil, config.Increment{Enabled: true}},
		{600, map[string]string{"factor": "2"}, config.Increment{Enabled: true, Factor: "2"}},
		{600, map[string]string{"factor": "2.0 / 2.885385", "formula": "ban.Time * math.exp(float(ban.Count+1)*banFactor)/math.exp(1*banFactor)"},
			config.Increment{Enabled: true, Factor: "2.0 / 2.885385", Formula: "ban.Time * math.exp(float(ban.Count+1)*banFactor)/math.exp(1*banFactor)"}},
		{60, map[string]string{"multipliers": "1 5 30 60 300 720 1440 2880"}, config.Increment{Enabled: true, Multipliers: []float64{1, 5, 30, 60, 300, 720, 1440, 2880}}},
		{600, map[string]string{"multipliers": "1 2 4", "factor": "1.5"}, config.Increment{Enabled: true, Multipliers: []float64{1, 2, 4}, Factor: "1.5"}},
		{600, map[string]string{"maxtime": "5000"}, config.Increment{Enabled: true, MaxTime: 5000 * time.Second}},
		{3600, map[string]string{"formula": "ban.Time * (ban.Count + 1) ** 2", "maxtime": "86400"}, config.Increment{Enabled: true, Formula: "ban.Time * (ban.Count + 1) ** 2", MaxTime: 86400 * time.Second}},
		{600, map[string]string{"formula": "ban.Time // 2 + ban.Count * 7 % 5"}, config.Increment{Enabled: true, Formula: "ban.Time // 2 + ban.Count * 7 % 5"}},
	}
	counts := []int{1, 2, 3, 4, 5, 10, 19, 20, 21, 40}
	var reqs []map[string]any
	for _, p := range policies {
		opts := p.opts
		if opts == nil {
			opts = map[string]string{}
		}
		reqs = append(reqs, map[string]any{"bantime": p.banTime, "options": opts, "counts": counts})
	}
	out := runBantimePy(t, map[string]any{"policies": reqs})
	var resp struct {
		Policies []struct {
			Error   string     `json:"error"`
			Results []pyResult `json:"results"`
		} `json:"policies"`
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatal(err)
	}
	for i, p := range policies {
		if resp.Policies[i].Error != "" {
			t.Fatalf("policy %d: fail2ban: %s", i, resp.Policies[i].Error)
		}
		pol, err := NewPolicy("j", time.Duration(p.banTime)*time.Second, p.inc, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, c := range counts {
			py := resp.Policies[i].Results[k]
			got, err := pol.BanTimeFor(c)
			if err != nil {
				t.Fatalf("policy %d count %d: %v (fail2ban %s)", i, c, err, py)
			}
			var want float64
			if err := json.Unmarshal(py.Value, &want); err != nil {
				t.Fatalf("policy %d count %d: fail2ban gave %s", i, c, py)
			}
			wantD := time.Duration(want * 1e9)
			if d := got - wantD; d < -time.Microsecond || d > time.Microsecond {
				t.Errorf("policy %d (%v) count %d: %v, fail2ban %v", i, p.opts, c, got, strconv.FormatFloat(want, 'g', -1, 64))
			}
		}
	}
}
