package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// metricsClient reads one daemon's Prometheus text exposition.
type metricsClient struct {
	url    string
	client *http.Client
}

func newMetricsClient(url string) *metricsClient {
	// A daemon that takes seconds to answer a scrape is stuck; the
	// timeout turns that into an error instead of a hung benchmark.
	return &metricsClient{url: url, client: &http.Client{Timeout: 5 * time.Second}}
}

// byJail returns the value of metric name for each jail label.
func (m *metricsClient) byJail(name string) (map[string]float64, error) {
	resp, err := m.client.Get(m.url)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics %s: %s", m.url, resp.Status)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("metrics %s: %w", m.url, err)
	}
	return parseByJail(body, name)
}

// parseByJail picks the series of metric name out of a text exposition,
// keyed by their jail label: lines such as
//
//	pinjail_lines_total{jail="pexiprp"} 1.048576e+06
func parseByJail(body []byte, name string) (map[string]float64, error) {
	out := make(map[string]float64)
	prefix := []byte(name + `{jail="`)
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Bytes()
		rest, ok := bytes.CutPrefix(line, prefix)
		if !ok {
			continue
		}
		// pinjail's jail names hold no quote, and jail is the only label.
		jail, after, _ := bytes.Cut(rest, []byte{'"'})
		value, ok := bytes.CutPrefix(after, []byte("} "))
		if !ok {
			return nil, fmt.Errorf("metrics: unexpected line %q", line)
		}
		v, err := strconv.ParseFloat(string(value), 64)
		if err != nil {
			return nil, fmt.Errorf("metrics: line %q: %w", line, err)
		}
		out[string(jail)] = v
	}
	return out, sc.Err()
}

// linesRead returns the fewest lines any of jails (every jail the daemon
// reports when jails is empty) has read beyond base.
func (m *metricsClient) linesRead(jails []string, base map[string]float64) (float64, error) {
	lines, err := m.byJail("pinjail_lines_total")
	if err != nil {
		return 0, err
	}
	if len(jails) == 0 {
		for j := range lines {
			jails = append(jails, j)
		}
		if len(jails) == 0 {
			return 0, fmt.Errorf("metrics %s: no jail reports pinjail_lines_total", m.url)
		}
	}
	least := -1.0
	for _, j := range jails {
		v, ok := lines[j]
		if !ok {
			return 0, fmt.Errorf("metrics %s: no jail %q", m.url, j)
		}
		if d := v - base[j]; least < 0 || d < least {
			least = d
		}
	}
	return least, nil
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
