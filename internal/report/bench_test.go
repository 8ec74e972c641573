package report

import (
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/pinjail/pinjail/internal/jail"
)

// BenchmarkRecord measures the recorder's cost per event.
func BenchmarkRecord(b *testing.B) {
	var replayed []jail.Event
	replayLog(b, 100_000, func(ev jail.Event) { replayed = append(replayed, ev) })

	b.Run("replay", func(b *testing.B) {
		r := NewRecorder(Options{})
		b.ReportAllocs()
		for b.Loop() {
			for _, ev := range replayed {
				r.Record(ev)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(replayed)), "ns/event")
	})

	// A distributed attack from more addresses than the recorder keeps,
	// each failing twice on one of fifty rooms: every new address may
	// cost an eviction.
	b.Run("flood", func(b *testing.B) {
		ids := make([]string, 2*DefaultMaxSources)
		for i := range ids {
			ids[i] = fmt.Sprintf("10.%d.%d.%d", i>>16, i>>8&0xff, i&0xff)
		}
		rooms := make([]map[string]string, 50)
		for i := range rooms {
			rooms[i] = map[string]string{"alias": fmt.Sprintf("meet.room%d", i)}
		}
		r := NewRecorder(Options{})
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			for i, id := range ids {
				ev := jail.Event{Kind: jail.Attempt, Jail: "pexiprp", ID: id, Fields: rooms[i%len(rooms)],
					Time: t0.Add(time.Duration(n) * 10 * time.Millisecond)}
				r.Record(ev)
				r.Record(ev)
				n++
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(2*n), "ns/event")
	})
}

// BenchmarkWrite measures rendering a report of a replayed log.
func BenchmarkWrite(b *testing.B) {
	r := NewRecorder(Options{})
	replayLog(b, 100_000, r.Record)
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Write(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
