package shellcmd

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"syscall"
	"time"
)

// MaxOutput is how much of a command's output Run keeps.
const MaxOutput = 64 << 10

const (
	// killGrace is how long the process group gets between SIGTERM and
	// SIGKILL, fail2ban's DEFAULT_SLEEP_INTERVAL.
	killGrace = 200 * time.Millisecond
	// pipeGrace is how long Run waits for the output pipe to close once the
	// shell has exited: a background child may hold it open for ever,
	// which would hang fail2ban.
	pipeGrace = 500 * time.Millisecond
)

// ErrTimeout is returned (wrapped) by Run when the command ran out of time.
var ErrTimeout = errors.New("shellcmd: timed out")

// Result is what a command did.
type Result struct {
	// ExitCode is the shell's exit status; -1 if a signal ended it.
	ExitCode int
	// Output holds standard output and standard error, interleaved, cut at
	// MaxOutput bytes.
	Output []byte
	// Truncated reports that the output was longer than MaxOutput.
	Truncated bool
}

// Run runs script as /bin/sh -c script sh args..., so that the script sees
// args as $1, $2... (Build's variables) and $0 is "sh" rather than a value.
// The shell runs in its own process group with standard input from
// /dev/null and the daemon's environment. When timeout (if positive) passes
// or ctx is done, the whole group gets SIGTERM and, 0.2 s later, SIGKILL, as
// fail2ban does; Run then returns the partial Result and an error wrapping
// ErrTimeout or ctx's error.
//
// A non-zero exit status is not an error: Result.ExitCode carries it, since
// callers such as ignorecommand give it meaning. Run fails when the shell
// cannot start, is killed by a signal, or its time runs out. Commands are not
// serialized: unlike fail2ban, which runs one command at a time across all
// jails, Run may be called concurrently.
func Run(ctx context.Context, script string, args []string, timeout time.Duration) (Result, error) {
	cmd := &exec.Cmd{
		Path:        "/bin/sh",
		Args:        append([]string{"sh", "-c", script, "sh"}, args...),
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
		WaitDelay:   pipeGrace,
	}
	out := &limitedBuffer{limit: MaxOutput}
	// One writer for both, so that exec gives them a single pipe and the
	// output keeps its order.
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return Result{ExitCode: -1}, fmt.Errorf("starting /bin/sh: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	var cause error
	select {
	case err := <-done:
		return result(cmd, out, err)
	case <-expired:
		cause = fmt.Errorf("%w after %v", ErrTimeout, timeout)
	case <-ctx.Done():
		cause = ctx.Err()
	}

	// The group's id is the shell's pid (Setpgid with Pgid 0). Children
	// that outlive the shell keep the group, and so the id, alive.
	pgid := cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	grace := time.NewTimer(killGrace)
	defer grace.Stop()
	select {
	case err := <-done:
		done <- err
	case <-grace.C:
	}
	// Like fail2ban's tout_kill_tree: SIGKILL whatever is left of the group,
	// even if the shell itself obeyed SIGTERM.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	res, _ := result(cmd, out, <-done)
	return res, cause
}

// result reads a finished command's outcome.
func result(cmd *exec.Cmd, out *limitedBuffer, waitErr error) (Result, error) {
	res := Result{ExitCode: -1, Output: out.buf, Truncated: out.truncated}
	ps := cmd.ProcessState
	if ps == nil {
		return res, fmt.Errorf("waiting for /bin/sh: %w", waitErr)
	}
	res.ExitCode = ps.ExitCode()
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return res, fmt.Errorf("/bin/sh killed by signal %v", ws.Signal())
	}
	var exitErr *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &exitErr) && !errors.Is(waitErr, exec.ErrWaitDelay) {
		return res, fmt.Errorf("waiting for /bin/sh: %w", waitErr)
	}
	return res, nil
}

// limitedBuffer keeps the first limit bytes written to it and discards the
// rest, while still accepting them so that the command never blocks on a
// full pipe. exec calls Write from one goroutine at a time.
type limitedBuffer struct {
	buf       []byte
	limit     int
	truncated bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	room := b.limit - len(b.buf)
	if len(p) > room {
		b.truncated = true
		b.buf = append(b.buf, p[:max(room, 0)]...)
		return len(p), nil
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}
