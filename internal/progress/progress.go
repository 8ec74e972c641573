// Package progress draws a one-line progress bar for long runs on a
// terminal. The work loop only bumps an atomic counter; a ticker redraws, so
// the cost per unit of work is one atomic add.
package progress

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Bar redraws a progress line on w until Stop is called.
type Bar struct {
	w     io.Writer
	total int64
	done  *atomic.Int64
	start time.Time
	stop  chan struct{}
	wg    sync.WaitGroup
}

// Start draws progress of done out of total on w every interval.
func Start(w io.Writer, total int64, done *atomic.Int64, interval time.Duration) *Bar {
	b := &Bar{w: w, total: total, done: done, start: time.Now(), stop: make(chan struct{})}
	b.wg.Add(1)
	go b.loop(interval)
	return b
}

func (b *Bar) loop(interval time.Duration) {
	defer b.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			b.draw()
		}
	}
}

const width = 30

func (b *Bar) draw() {
	done := min(b.done.Load(), b.total)
	frac := 1.0
	if b.total > 0 {
		frac = float64(done) / float64(b.total)
	}
	filled := int(frac * width)
	elapsed := time.Since(b.start).Seconds()
	rate := 0.0
	if elapsed > 0 {
		rate = float64(done) / elapsed / (1 << 20)
	}
	fmt.Fprintf(b.w, "\r[%s%s] %3.0f%%  %s / %s  %.0f MiB/s ",
		strings.Repeat("=", filled), strings.Repeat(" ", width-filled), frac*100,
		size(done), size(b.total), rate)
}

// Stop draws the final state, ends the line and stops the ticker.
func (b *Bar) Stop() {
	close(b.stop)
	b.wg.Wait()
	b.draw()
	fmt.Fprintln(b.w)
}

func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
	}
}
