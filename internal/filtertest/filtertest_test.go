package filtertest

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/pinjail/pinjail/internal/config"
	"github.com/pinjail/pinjail/internal/filter"
)

const log = `2024-05-14 09:00:01 login failed from 192.0.2.1
2024-05-14 09:00:02 login ok from 192.0.2.2
2024-05-14 09:00:03 login failed from 2001:db8::7
2024-05-14 09:00:04 login failed from 192.0.2.9 test
`

func TestRunReport(t *testing.T) {
	spec, desc, _, err := LoadFilter("", `^\s*login failed from <HOST>`, config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	spec.IgnoreRegex = LiteralIgnore(`test$`)
	f, err := filter.New(spec, filter.Options{UseDNS: "no", CheckAllRegex: true})
	if err != nil {
		t.Fatal(err)
	}
	var hits []Hit
	now := func() time.Time { return time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC) }
	rep, err := Run(strings.NewReader(log), f, Options{Now: now}, func(h Hit) error {
		hits = append(hits, h)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Lines != 4 || rep.Matched != 2 || rep.Missed != 1 || rep.Ignored != 1 {
		t.Fatalf("report %+v", rep)
	}
	if len(hits) != 2 || hits[0].Host != "192.0.2.1" || hits[1].Host != "2001:db8::7" || hits[0].Line != 1 {
		t.Fatalf("hits %+v", hits)
	}
	var out bytes.Buffer
	if err := rep.WriteText(&out, Header{Filter: desc, Log: "test.log"}, f, Options{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Use   failregex line : ^\\s*login failed from <HOST>",
		"Failregex: 2 total",
		"|   1) [2] ^\\s*login failed from <HOST>",
		"Ignoreregex: 1 total",
		"Lines: 4 lines, 1 ignored, 2 matched, 1 missed",
		"|- Missed line(s):\n|  2024-05-14 09:00:02 login ok from 192.0.2.2\n`-",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}
