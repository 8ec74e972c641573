package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"testing"
	"time"
)

// conferencingNode answers request_token as a Pexip Infinity conferencing
// node does for PIN-protected rooms (reference/pexip.md §1.1): the PIN
// travels in the "pin" header, and every answer but the token is a 403
// with "status":"success".
type conferencingNode struct {
	pins map[string]string // room alias → host PIN
}

func (n *conferencingNode) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/client/v2/conferences/{alias}/request_token", n.requestToken)
	return mux
}

func (n *conferencingNode) requestToken(w http.ResponseWriter, r *http.Request) {
	pin, ok := n.pins[r.PathValue("alias")]
	if !ok {
		reply(w, http.StatusNotFound, "Neither conference nor gateway found")
		return
	}
	switch r.Header.Get("pin") {
	case "":
		reply(w, http.StatusForbidden, map[string]string{"pin": "required", "guest_pin": "none"})
	case pin:
		reply(w, http.StatusOK, map[string]any{
			"token":                newToken(),
			"expires":              "120",
			"participant_uuid":     newToken(),
			"role":                 "HOST",
			"display_name":         "e2e",
			"version":              map[string]string{"version_id": "36"},
			"current_service_type": "conference",
		})
	default:
		reply(w, http.StatusForbidden, "Invalid PIN")
	}
}

func reply(w http.ResponseWriter, status int, result any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"status": "success", "result": result})
}

func newToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// startNode serves a conferencing node on loopback inside ns until t ends
// and returns its address.
func startNode(t testing.TB, ns *netNS, node *conferencingNode) string {
	t.Helper()
	var l net.Listener
	if err := ns.Do(func() (err error) {
		l, err = net.Listen("tcp", "127.0.0.1:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: node.routes(), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}
