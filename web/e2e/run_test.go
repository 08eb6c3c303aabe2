package e2e

import (
	"os/exec"
	"testing"
	"time"
)

// runErr runs the binary and returns combined output and the error, with a
// deadline so a hang fails instead of blocking the suite.
func runErr(t testing.TB, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(Binary(t), args...)
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("gatehouse %v hung", args)
	}
	return string(out), err
}
