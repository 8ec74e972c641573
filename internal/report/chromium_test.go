package report

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pinjail/pinjail/internal/testenv"
)

// TestChromiumDrawsChart renders the scenario's report in headless
// Chromium: the DOM Chromium built must hold every bar the recorder laid
// out, and its screenshot must show them in the chart's colours, spread
// across the width of the chart.
func TestChromiumDrawsChart(t *testing.T) {
	bin := testenv.RequireCommand(t, "chromium")
	dir := t.TempDir()
	path := filepath.Join(dir, "report.html")
	// One jail, so that its chart is at the top of the page, inside the
	// screenshot.
	var evs events
	for _, ev := range scenario() {
		if ev.Jail == "pexiprp" {
			evs = append(evs, ev)
		}
	}
	r := record(Options{Now: fixedNow}, evs)
	var buf bytes.Buffer
	if err := r.Write(&buf); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	c := r.page().Jails[0].Chart

	t.Run("dom", func(t *testing.T) {
		dom := chromium(t, bin, dir, "--dump-dom", "file://"+path)
		if !strings.Contains(dom, fmt.Sprintf(`data-bars="%d"`, c.Bars)) {
			t.Errorf("dumped DOM has no chart of %d slots", c.Bars)
		}
		for _, s := range []struct {
			class string
			want  int
		}{
			{"attempts", len(c.Attempts)},
			{"failures", len(c.Failures)},
			{"bans", len(c.Bans)},
		} {
			re := regexp.MustCompile(`<rect class="bar ` + s.class + `"[^>]* height="[0-9.]+"`)
			if got := len(re.FindAllString(dom, -1)); got != s.want || got == 0 {
				t.Errorf("dumped DOM has %d %s bars, want %d (and some)", got, s.class, s.want)
			}
		}
		if got, want := strings.Count(dom, `<line class="attack"`), 2; got != want {
			t.Errorf("dumped DOM has %d attack markers, want %d", got, want)
		}
	})

	t.Run("screenshot", func(t *testing.T) {
		shot := filepath.Join(dir, "report.png")
		chromium(t, bin, dir, "--screenshot="+shot, "--window-size=1280,1000", "--hide-scrollbars", "file://"+path)
		f, err := os.Open(shot)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		img, err := png.Decode(f)
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		// The fills of report.html.tmpl's stylesheet. The chart is drawn
		// at more than a pixel per unit (about 1080 pixels for 960), so
		// each colour must paint a run at least as tall as its tallest
		// bar, which in the scenario is taller than the legend's
		// 10-pixel squares, and a box at least as wide as its bars span.
		for _, s := range []struct {
			name    string
			r, g, b uint8
			bars    []bar
		}{
			{"attempts", 0xa8, 0xc7, 0xfa, c.Attempts},
			{"failures", 0x1f, 0x6f, 0xeb, c.Failures},
			{"bans", 0xcf, 0x22, 0x2e, c.Bans},
		} {
			tallest, box := paint(img, s.r, s.g, s.b)
			var want float64
			for _, b := range s.bars {
				want = max(want, unit(t, b.H))
			}
			if want < 20 {
				t.Fatalf("the scenario's tallest %s bar is %.1f units, too short to tell from the legend", s.name, want)
			}
			if float64(tallest) < want {
				t.Errorf("tallest run of the %s colour is %d pixels, want a bar of %.1f units", s.name, tallest, want)
			}
			first, last := s.bars[0], s.bars[len(s.bars)-1]
			span := unit(t, last.X) + unit(t, last.W) - unit(t, first.X)
			if float64(box.Dx()) < span {
				t.Errorf("%s colour spans %v, %d pixels wide; want the %.0f units from the first bar to the last", s.name, box, box.Dx(), span)
			}
		}
	})
}

// chromium runs headless Chromium with args and returns its output.
func chromium(t *testing.T, bin, dir string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{
		"--headless", "--disable-gpu", "--no-sandbox",
		"--force-color-profile=srgb", "--no-first-run", "--disable-extensions",
		"--user-data-dir=" + filepath.Join(dir, "profile"),
	}, args...)...)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return stdout.String()
}

func unit(t *testing.T, coord string) float64 {
	v, err := strconv.ParseFloat(coord, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// paint finds the pixels of img within a small distance of the colour and
// returns the longest vertical run of them and the box that bounds them.
func paint(img image.Image, r, g, b uint8) (tallest int, box image.Rectangle) {
	near := func(a uint32, b uint8) bool {
		d := int(a>>8) - int(b)
		return -6 <= d && d <= 6
	}
	bounds := img.Bounds()
	for x := bounds.Min.X; x < bounds.Max.X; x++ {
		run := 0
		for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
			pr, pg, pb, _ := img.At(x, y).RGBA()
			if !near(pr, r) || !near(pg, g) || !near(pb, b) {
				run = 0
				continue
			}
			run++
			tallest = max(tallest, run)
			box = box.Union(image.Rect(x, y, x+1, y+1))
		}
	}
	return tallest, box
}
