package ban

import (
	"sync"
	"time"

	"github.com/pinjail/pinjail/internal/config"
)

// History answers how often an ID was banned before, for bantime.increment.
// It is fail2ban's bips table (s/database.py getBan).
type History interface {
	// BanCount returns the number of bans recorded for id in jail, and the
	// start of the latest. With overall, it sums the counts over every jail
	// and returns the latest start of any (bantime.overalljails). An ID
	// never banned has count 0.
	BanCount(jail, id string, overall bool) (count int, last time.Time, err error)
}

// Recorder is implemented by a History that learns from the bans made, as
// fail2ban's observer writes every ban to the database. See Policy.Record.
type Recorder interface {
	RecordBan(jail string, e Entry) error
}

// MemHistory is an in-memory History and Recorder, for replays and for a
// daemon without a database. The zero value is not usable; call
// NewMemHistory. It is safe for concurrent use.
type MemHistory struct {
	mu   sync.Mutex
	rows map[string]map[string]historyRow // id, then jail
}

type historyRow struct {
	count    int
	start    time.Time
	duration time.Duration
}

// NewMemHistory returns an empty history.
func NewMemHistory() *MemHistory {
	return &MemHistory{rows: make(map[string]map[string]historyRow)}
}

// RecordBan stores e as the ID's latest ban in jail, replacing the previous
// one; e.Count is the ID's ban count, this ban included (fail2ban's INSERT OR
// REPLACE into bips).
func (h *MemHistory) RecordBan(jail string, e Entry) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	jails := h.rows[e.ID]
	if jails == nil {
		jails = make(map[string]historyRow)
		h.rows[e.ID] = jails
	}
	jails[jail] = historyRow{count: e.Count, start: e.Start, duration: e.Duration}
	return nil
}

// BanCount implements History.
func (h *MemHistory) BanCount(jail, id string, overall bool) (int, time.Time, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !overall {
		r := h.rows[id][jail]
		return r.count, r.start, nil
	}
	var count int
	var last time.Time
	for _, r := range h.rows[id] {
		count += r.count
		if r.start.After(last) {
			last = r.start
		}
	}
	return count, last, nil
}

// purgeOutdatedFactor is fail2ban's _outDatedFactor: a row survives the
// purge while three times its ban time has not passed.
const purgeOutdatedFactor = 3

// Purge forgets the bans that started before cutoff and whose ban time,
// three times over, ended before cutoff too; permanent bans stay. With
// cutoff = now - dbpurgeage it is fail2ban's purge of bips. It returns the
// number of rows dropped.
func (h *MemHistory) Purge(cutoff time.Time) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	dropped := 0
	for id, jails := range h.rows {
		for jail, r := range jails {
			if r.duration != config.Permanent && r.start.Before(cutoff) &&
				r.start.Add(purgeOutdatedFactor*r.duration).Before(cutoff) {
				delete(jails, jail)
				dropped++
			}
		}
		if len(jails) == 0 {
			delete(h.rows, id)
		}
	}
	return dropped
}
