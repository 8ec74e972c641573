package action

import (
	"context"
	"errors"

	"github.com/pinjail/pinjail/internal/config"
)

// Set holds the runners of a jail's shell actions, in the order of the
// jail's action option. Like fail2ban, it runs them one after the other for
// each call and goes on past a failing action; the error returned joins
// the failures. A Set is safe for concurrent use, with the blocking
// described at Runner.
type Set struct {
	runners []*Runner
}

// NewSet builds a runner for each action of jail that is not one of
// pinjail's built-in actions. It fails if any of them cannot be built.
func NewSet(jail *config.Jail, opts Options) (*Set, error) {
	s := &Set{}
	var errs []error
	for _, a := range jail.Actions {
		if a.Builtin {
			continue
		}
		r, err := New(jail, a, opts)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.runners = append(s.runners, r)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

// Runners returns the runners, in order.
func (s *Set) Runners() []*Runner { return s.runners }

// Start starts every action, in order.
func (s *Set) Start(ctx context.Context) error {
	return s.each(func(r *Runner) error { return r.Start(ctx) })
}

// Ban runs every action's ban of b, in order.
func (s *Set) Ban(ctx context.Context, b Ban) error {
	return s.each(func(r *Runner) error { return r.Ban(ctx, b) })
}

// Unban runs every action's unban of b, in order.
func (s *Set) Unban(ctx context.Context, b Ban) error {
	return s.each(func(r *Runner) error { return r.Unban(ctx, b) })
}

// Flush removes every ban from every action (see Runner.Flush); bans are
// the jail's current bans, unbanned one by one by actions without
// actionflush. At stop, fail2ban flushes and then stops.
func (s *Set) Flush(ctx context.Context, bans []Ban) error {
	return s.each(func(r *Runner) error { return r.Flush(ctx, bans) })
}

// Stop stops every action, in reverse order, as fail2ban does.
func (s *Set) Stop(ctx context.Context) error {
	var errs []error
	for i := len(s.runners) - 1; i >= 0; i-- {
		errs = append(errs, s.runners[i].Stop(ctx))
	}
	return errors.Join(errs...)
}

func (s *Set) each(fn func(*Runner) error) error {
	var errs []error
	for _, r := range s.runners {
		errs = append(errs, fn(r))
	}
	return errors.Join(errs...)
}
