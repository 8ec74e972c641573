// Package control serves pinjail's control API: HTTP over a unix socket that
// only root (or the daemon's own user) may use. The socket is created 0600
// in a 0700 directory, and every connection's peer credentials are checked
// as well, so a socket file made reachable by mistake still refuses other
// users. Browsers are kept out by refusing any request with an Origin or
// Referer header.
package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pinjail/pinjail/internal/api"
)

// Backend is what the control API acts on: the running daemon.
type Backend interface {
	Status() api.Status
	JailStatus(jail string) (api.JailStatus, error)
	Ban(ctx context.Context, jail, addr string) (int, error)
	Unban(ctx context.Context, jail, addr string) (int, error)
	UnbanAll(ctx context.Context) (int, error)
	Banned(addr string) []api.Banned
	Reload(ctx context.Context, jail string) api.ReloadResponse
	Stop()
}

// NotFoundError marks a request for a jail that does not exist.
type NotFoundError struct{ Jail string }

func (e *NotFoundError) Error() string { return fmt.Sprintf("no jail %q", e.Jail) }

// Server serves the control API on a unix socket.
type Server struct {
	path    string
	backend Backend
	log     *slog.Logger
	srv     *http.Server
	ln      net.Listener
	// allowUID is the user, besides root, that may connect: the daemon's
	// own, so tests can run unprivileged.
	allowUID uint32
}

// Listen creates the socket at path (its directory 0700, the socket 0600),
// refusing if a live daemon already answers there and removing a stale
// socket file otherwise.
func Listen(path string, backend Backend, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("control socket directory: %w", err)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("control socket %s: another pinjail is running", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("control socket %s: removing stale socket: %w", path, err)
	}
	// Create the socket with no permissions for group and others from the
	// start, so there is no window in which it is open to them.
	old := syscall.Umask(0o077)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	s := &Server{path: path, backend: backend, log: log, ln: ln, allowUID: uint32(os.Geteuid())}
	s.srv = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 5 * time.Second,
		ConnContext:       withPeer,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// Serve answers requests until Shutdown. It returns http.ErrServerClosed
// after a shutdown.
func (s *Server) Serve() error { return s.srv.Serve(s.ln) }

// Shutdown stops accepting requests, waits for those in flight, and removes
// the socket file.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	os.Remove(s.path)
	return err
}

type peerKey struct{}

type peer struct {
	uid uint32
	err error
}

// withPeer records the connecting process's credentials.
func withPeer(ctx context.Context, c net.Conn) context.Context {
	p := peer{err: errors.New("not a unix socket")}
	if uc, ok := c.(*net.UnixConn); ok {
		p = peerCred(uc)
	}
	return context.WithValue(ctx, peerKey{}, p)
}

func peerCred(c *net.UnixConn) peer {
	raw, err := c.SyscallConn()
	if err != nil {
		return peer{err: err}
	}
	var cred *unix.Ucred
	var credErr error
	err = raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	})
	if err == nil {
		err = credErr
	}
	if err != nil {
		return peer{err: err}
	}
	return peer{uid: cred.Uid}
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+api.PathStatus, func(w http.ResponseWriter, r *http.Request) {
		reply(w, s.backend.Status())
	})
	mux.HandleFunc("GET "+api.PathJail, func(w http.ResponseWriter, r *http.Request) {
		st, err := s.backend.JailStatus(r.PathValue("jail"))
		if err != nil {
			fail(w, err)
			return
		}
		reply(w, st)
	})
	mux.HandleFunc("POST "+api.PathBan, s.banHandler(s.backend.Ban))
	mux.HandleFunc("POST "+api.PathUnban, s.banHandler(s.backend.Unban))
	mux.HandleFunc("POST "+api.PathUnbanAll, func(w http.ResponseWriter, r *http.Request) {
		n, err := s.backend.UnbanAll(r.Context())
		if err != nil {
			fail(w, err)
			return
		}
		reply(w, api.BanResponse{Changed: n})
	})
	mux.HandleFunc("GET "+api.PathBanned, func(w http.ResponseWriter, r *http.Request) {
		reply(w, s.backend.Banned(r.URL.Query().Get("addr")))
	})
	mux.HandleFunc("POST "+api.PathReload, func(w http.ResponseWriter, r *http.Request) {
		var req api.ReloadRequest
		if err := decode(r, &req); err != nil {
			fail(w, err)
			return
		}
		reply(w, s.backend.Reload(r.Context(), req.Jail))
	})
	mux.HandleFunc("POST "+api.PathStop, func(w http.ResponseWriter, r *http.Request) {
		reply(w, struct{}{})
		// Stop after the reply is on its way, so the CLI hears back.
		go s.backend.Stop()
	})
	return s.guard(mux)
}

// guard refuses callers other than root and the daemon's user, and any
// request a browser could have sent.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := r.Context().Value(peerKey{}).(peer)
		if p.err != nil || (p.uid != 0 && p.uid != s.allowUID) {
			s.log.Warn("control request refused", "uid", p.uid, "err", p.err)
			w.WriteHeader(http.StatusForbidden)
			json.NewEncoder(w).Encode(api.Error{Message: "permission denied: pinjail's control socket is for root"})
			return
		}
		if r.Header.Get("Origin") != "" || r.Header.Get("Referer") != "" {
			w.WriteHeader(http.StatusForbidden)
			json.NewEncoder(w).Encode(api.Error{Message: "browser requests are not accepted"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) banHandler(op func(context.Context, string, string) (int, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req api.BanRequest
		if err := decode(r, &req); err != nil {
			fail(w, err)
			return
		}
		n, err := op(r.Context(), r.PathValue("jail"), req.Addr)
		if err != nil {
			fail(w, err)
			return
		}
		reply(w, api.BanResponse{Changed: n})
	}
}

// badRequest marks errors in the request itself.
type badRequest struct{ error }

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return badRequest{fmt.Errorf("request body: %w", err)}
	}
	return nil
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	var nf *NotFoundError
	var br badRequest
	switch {
	case errors.As(err, &nf):
		code = http.StatusNotFound
	case errors.As(err, &br), errors.As(err, new(*InputError)):
		code = http.StatusBadRequest
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(api.Error{Message: err.Error()})
}

// InputError marks a request the backend rejects for its content, such as
// an address that does not parse.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }
