package config

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"testing"

	"github.com/pinjail/pinjail/internal/testenv"
)

// python is the interpreter fail2ban's Debian package runs under; its
// modules are importable from it and from nothing else on PATH.
const python = "/usr/bin/python3"

// runFail2banPython runs script under fail2ban's Python with input as JSON
// on stdin, and decodes the JSON it prints into out.
func runFail2banPython(t *testing.T, script string, input, out any) {
	t.Helper()
	testenv.RequireFile(t, python)
	testenv.RequireFile(t, "/usr/lib/python3/dist-packages/fail2ban/helpers.py")
	in, err := json.Marshal(input)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, "-c", script)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	data, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", python, err, stderr.Bytes())
	}
	if err := json.Unmarshal(data, out); err != nil {
		t.Fatalf("decoding python output: %v\n%s", err, data)
	}
}
