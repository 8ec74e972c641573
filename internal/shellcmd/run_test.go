package shellcmd

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	tests := []struct {
		name      string
		script    string
		args      []string
		exit      int
		output    string
		truncated bool
		err       bool
	}{
		{name: "success", script: "echo hello", output: "hello\n"},
		{name: "exit status is not an error", script: "echo out; echo err >&2; exit 3", exit: 3, output: "out\nerr\n"},
		{name: "ignorecommand's no", script: "exit 1", exit: 1},
		{name: "positional arguments", script: `printf '%s|' "$0" "$1" "$2"`, args: []string{"a b", "$(c)"}, output: "sh|a b|$(c)|"},
		{name: "stdin is empty", script: "cat; echo done", output: "done\n"},
		{name: "syntax error", script: "if then", exit: 2},
		{name: "killed by a signal", script: "kill -KILL $$", exit: -1, err: true},
		{
			name:      "output is bounded",
			script:    "head -c " + strconv.Itoa(3*MaxOutput) + " /dev/zero; echo tail",
			output:    string(make([]byte, MaxOutput)),
			truncated: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Run(context.Background(), tt.script, tt.args, 10*time.Second)
			if (err != nil) != tt.err {
				t.Fatalf("error %v, want error %v", err, tt.err)
			}
			if res.ExitCode != tt.exit {
				t.Errorf("exit %d, want %d", res.ExitCode, tt.exit)
			}
			if tt.name != "syntax error" && string(res.Output) != tt.output {
				t.Errorf("output %q, want %q", res.Output, tt.output)
			}
			if res.Truncated != tt.truncated {
				t.Errorf("truncated %v, want %v", res.Truncated, tt.truncated)
			}
		})
	}
}

// groupAlive reports whether any process is left in group pgid.
func groupAlive(pgid int) bool {
	return syscall.Kill(-pgid, 0) == nil
}

// TestRunTimeoutKillsGroup starts children that would outlive the shell and
// checks that the timeout ends them all, including one that ignores SIGTERM.
func TestRunTimeoutKillsGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	script := `
echo started
sleep 100 &
(trap '' TERM; sleep 100; sleep 100) &
echo $$ > "$1"
sleep 100
echo unreachable`
	start := time.Now()
	res, err := Run(context.Background(), script, []string{pidFile}, 300*time.Millisecond)
	elapsed := time.Since(start)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("error %v, want ErrTimeout", err)
	}
	if elapsed > 5*time.Second {
		t.Fatalf("Run took %v", elapsed)
	}
	if string(res.Output) != "started\n" {
		t.Fatalf("output %q", res.Output)
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pgid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	// SIGKILL is asynchronous: give the kernel a moment to reap.
	deadline := time.Now().Add(2 * time.Second)
	for groupAlive(pgid) {
		if time.Now().After(deadline) {
			t.Fatalf("process group %d still has members after the timeout", pgid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRunContextCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err := Run(ctx, "sleep 100", nil, time.Minute)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
}

// TestRunLingeringChild: a background child that keeps the output pipe open
// must not hold Run up once the shell has exited.
func TestRunLingeringChild(t *testing.T) {
	start := time.Now()
	res, err := Run(context.Background(), "sleep 3 & echo done", nil, time.Minute)
	if err != nil || res.ExitCode != 0 || !bytes.Equal(res.Output, []byte("done\n")) {
		t.Fatalf("got %+v %v", res, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Run waited %v for the background child", d)
	}
}

func TestRunNoTimeout(t *testing.T) {
	res, err := Run(context.Background(), "sleep 0.1; echo ok", nil, 0)
	if err != nil || string(res.Output) != "ok\n" {
		t.Fatalf("got %+v %v", res, err)
	}
}

func BenchmarkBuild(b *testing.B) {
	const command = `printf %b "Subject: [Fail2Ban] <name>: banned <ip> from <fq-hostname>
Lines containing failures of <ip> (max 1000)
<matches>
Regards, Fail2Ban" | sendmail -t`
	tags := map[string]string{"ip": "192.0.2.1", "matches": strings.Repeat("a log line; with $(stuff)\n", 5)}
	b.ReportAllocs()
	for b.Loop() {
		Build(command, tags)
	}
}
