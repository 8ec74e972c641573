package store

import (
	"context"
	"database/sql"
	"fmt"
	"hash/maphash"
	"sync"
)

// bannedIDs remembers which IDs may have a row in the bans table, in any
// jail, so that BanCount answers the others without a query: the
// bantime.increment lookup is made for every failure, and under a flood
// of new addresses almost none was ever banned. It keeps a hash of each
// ID, so a few dozen bytes per ban whatever the ID's length.
//
// It may hold more than the table (IDs whose rows were deleted since, a
// hash shared by two IDs), which costs a query, never less: an ID is added
// before its row is written, and Purge, the only place IDs are dropped,
// rebuilds the set from the table in its transaction. Rows written by
// another process are seen after the next Purge or Open.
type bannedIDs struct {
	seed maphash.Seed

	mu  sync.RWMutex
	ids map[uint64]struct{}
}

func newBannedIDs() *bannedIDs {
	return &bannedIDs{seed: maphash.MakeSeed(), ids: make(map[uint64]struct{})}
}

// mayHold reports whether id may have a row in bans.
func (b *bannedIDs) mayHold(id string) bool {
	h := maphash.String(b.seed, id)
	b.mu.RLock()
	_, ok := b.ids[h]
	b.mu.RUnlock()
	return ok
}

// add notes that id is about to get a row in bans.
func (b *bannedIDs) add(id string) {
	h := maphash.String(b.seed, id)
	b.mu.Lock()
	b.ids[h] = struct{}{}
	b.mu.Unlock()
}

// queryer is the writer connection or a transaction on it.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// read returns the set of the IDs in the bans table.
func (b *bannedIDs) read(ctx context.Context, q queryer) (map[uint64]struct{}, error) {
	rows, err := q.QueryContext(ctx, `SELECT DISTINCT id FROM bans`)
	if err != nil {
		return nil, fmt.Errorf("read banned IDs: %w", err)
	}
	defer rows.Close()
	ids := make(map[uint64]struct{})
	var id string
	for rows.Next() {
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("read banned IDs: %w", err)
		}
		ids[maphash.String(b.seed, id)] = struct{}{}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read banned IDs: %w", err)
	}
	return ids, nil
}

// load replaces the set with the IDs in the bans table.
func (b *bannedIDs) load(ctx context.Context, q queryer) error {
	ids, err := b.read(ctx, q)
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.ids = ids
	b.mu.Unlock()
	return nil
}

// commit commits tx, which may delete rows of bans, and replaces the set
// with ids, read in tx. Additions wait meanwhile: one made before the
// commit would be lost with the old set, and none can be made by a write
// after it before the new set is in place.
func (b *bannedIDs) commit(tx *sql.Tx, ids map[uint64]struct{}) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := tx.Commit(); err != nil {
		return err
	}
	b.ids = ids
	return nil
}
