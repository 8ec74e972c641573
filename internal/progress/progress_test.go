package progress

import (
	"bytes"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestBarDrawsFinalState(t *testing.T) {
	var buf bytes.Buffer
	var done atomic.Int64
	b := Start(&buf, 4<<20, &done, time.Hour)
	done.Store(4 << 20)
	b.Stop()
	out := buf.String()
	if !strings.Contains(out, "100%") || !strings.Contains(out, "4.0 MiB / 4.0 MiB") || !strings.HasSuffix(out, "\n") {
		t.Fatalf("final line = %q", out)
	}
}
