package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/pinjail/pinjail/internal/jail"
)

// AttackNotice is the JSON body posted to a jail's attackwebhook when a
// room comes under attack.
type AttackNotice struct {
	Event string    `json:"event"` // always "room_under_attack"
	Jail  string    `json:"jail"`
	Alias string    `json:"alias"`
	Time  time.Time `json:"time"`
	// Until is when the attack mode ends unless more failures extend it.
	Until time.Time `json:"until"`
	Host  string    `json:"host,omitempty"`
}

// attacked reports a room under attack to the jail's webhook, if any. The
// post runs on its own goroutine: a slow receiver must not hold up the
// jail, which is banning the room's attackers meanwhile.
func (d *Daemon) attacked(r *runner, ev jail.Event) {
	url := r.cfg.Pexip.AttackWebhook
	if url == "" {
		return
	}
	n := AttackNotice{
		Event: "room_under_attack", Jail: r.name, Alias: ev.Fields["alias"],
		Time: ev.Time, Until: ev.Time.Add(r.cfg.Pexip.RoomAttack), Host: d.hostname,
	}
	go func() {
		if err := postJSON(d.httpClient, url, n); err != nil {
			d.met.webhookErrors.Inc()
			d.log.Error("attack webhook", "jail", r.name, "alias", n.Alias, "err", err)
		}
	}()
}

func postJSON(c *http.Client, url string, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "pinjail")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s answered %s", url, resp.Status)
	}
	return nil
}
