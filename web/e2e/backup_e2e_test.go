package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"gatehouse/storage"
	"gatehouse/storage/bolt"
)

// runCmd runs the binary and returns its combined output and exit error.
func runCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(Binary(t), args...)
	cmd.Env = append(os.Environ(), "GATEHOUSE_CONFIG=")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// signInOK posts a token and reports whether it got its 302.
func signInOK(s *Server, token string) (bool, error) {
	resp, err := s.Browser.PostForm(s.Base+"/sso/jwt", url.Values{"token": {token}})
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusFound, nil
}

// TestBackupUnderLoad: sign-ins run while `gatehouse backup` copies the
// database through the socket; the copy opens, passes the consistency check
// and holds every user whose 302 came before the backup started. Then the
// documented restore (stop, copy back, start) brings exactly that state back.
func TestBackupUnderLoad(t *testing.T) {
	s := Start(t, "")
	w := s.Seed()

	// Pre-sign a pool of tokens (signing via the CLI is the slow part).
	const workers, perWorker = 4, 60
	tokens := make([][]string, workers)
	var wg sync.WaitGroup
	for i := range tokens {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < perWorker; j++ {
				tokens[i] = append(tokens[i], w.Sign(t, w.Tenant, fmt.Sprintf("load-%d-%d@example.com", i, j), "readOnly", "--ttl", "30m"))
			}
		}(i)
	}
	wg.Wait()

	var (
		mu        sync.Mutex
		confirmed = map[string]time.Time{} // email → when its 302 arrived
		stop      atomic.Bool
		failures  atomic.Int64
	)
	var load sync.WaitGroup
	for i := range tokens {
		load.Add(1)
		go func(i int) {
			defer load.Done()
			for j, tok := range tokens[i] {
				if stop.Load() {
					return
				}
				ok, err := signInOK(s, tok)
				if err != nil || !ok {
					failures.Add(1)
					continue
				}
				mu.Lock()
				confirmed[fmt.Sprintf("load-%d-%d@example.com", i, j)] = time.Now()
				mu.Unlock()
			}
		}(i)
	}
	// Let some sign-ins land, then back up while they keep coming.
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(confirmed)
		mu.Unlock()
		if n >= 20 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	before := map[string]bool{}
	for e := range confirmed {
		before[e] = true
	}
	mu.Unlock()
	out := filepath.Join(t.TempDir(), "copy.db")
	msg, err := runCmd(t, "backup", "--out", out, "--config", s.Config)
	if err != nil {
		t.Fatalf("backup: %v\n%s", err, msg)
	}
	if !strings.Contains(msg, "running server") || !strings.Contains(msg, "consistency check passed") {
		t.Fatalf("backup output: %s", msg)
	}
	stop.Store(true)
	load.Wait()
	if f := failures.Load(); f > 0 {
		t.Fatalf("%d sign-ins failed during the backup", f)
	}
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup mode %v, want 0600", fi.Mode().Perm())
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".copy.db.tmp-*"))
	if len(leftovers) > 0 {
		t.Fatalf("temporary files left: %v", leftovers)
	}

	// The copy opens, passes the check, and has every user confirmed before.
	copyStore, err := bolt.Open(out, bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := copyStore.Check(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for e := range before {
		if _, err := copyStore.GetUserByEmail(ctx, "acme", e); err != nil {
			t.Errorf("user %s signed in before the backup but is missing from it: %v", e, err)
		}
	}
	copyUsers, _ := copyStore.CountUsers(ctx, "acme", "")
	copyStore.Close()
	t.Logf("%d users confirmed before the backup; the copy holds %d", len(before), copyUsers)

	// Restore: stop, copy back, start. The server then holds the copy's state.
	s.Stop()
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.Dir, "gatehouse.db"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	s.StartProcess()
	var list struct {
		Users      []struct{ Email string } `json:"users"`
		NextCursor string                   `json:"next_cursor"`
	}
	s.MustAPI("GET", "/api/v1/orgs/acme/users?limit=500", nil, 200, &list)
	if len(list.Users) != copyUsers {
		t.Fatalf("restored server has %d users, the backup %d", len(list.Users), copyUsers)
	}
	// And it still signs users in.
	if ok, err := signInOK(s, w.Sign(t, w.Tenant, "after-restore@example.com", "admin")); err != nil || !ok {
		t.Fatalf("sign-in after restore: %v %v", ok, err)
	}
	// A backup with no server running goes straight to the file.
	s.Stop()
	msg, err = runCmd(t, "backup", "--out", out, "--config", s.Config)
	if err != nil || !strings.Contains(msg, "database file") {
		t.Fatalf("offline backup: %v\n%s", err, msg)
	}
}

// TestAuditVerifyAndExportCLI: verify and export through the socket and on
// the file; a stored event modified with bbolt is caught, exit non-zero.
func TestAuditVerifyAndExportCLI(t *testing.T) {
	s := Start(t, "")
	w := s.Seed()
	for i := 0; i < 3; i++ {
		if ok, err := signInOK(s, w.Sign(t, w.Tenant, fmt.Sprintf("audit-%d@example.com", i), "admin")); err != nil || !ok {
			t.Fatalf("sign-in: %v %v", ok, err)
		}
	}
	expired := w.Sign(t, w.Tenant, "late@example.com", "admin", "--ttl", "-5m")
	if ok, _ := signInOK(s, expired); ok {
		t.Fatal("expired token signed in")
	}
	msg, err := runCmd(t, "audit", "verify", "--config", s.Config)
	if err != nil || !strings.Contains(msg, "audit chain OK") {
		t.Fatalf("verify via socket: %v\n%s", err, msg)
	}
	online := Run(t, "audit", "export", "--config", s.Config)
	lines := strings.Split(online, "\n")
	if len(lines) < 9 { // org, 2 tenants, partner, key, 3 sign-ins, 1 failure
		t.Fatalf("export has %d lines", len(lines))
	}
	for _, l := range lines {
		var e storage.AuditEvent
		if err := json.Unmarshal([]byte(l), &e); err != nil || e.Hash == "" {
			t.Fatalf("bad export line %q", l)
		}
	}
	if strings.Contains(online, expired) || strings.Contains(online, w.ConsumerSecret) {
		t.Fatal("the audit export holds a token or secret")
	}

	s.Stop()
	offline := Run(t, "audit", "export", "--config", s.Config)
	if offline != online {
		t.Fatal("export from the file differs from export through the socket")
	}
	if msg, err := runCmd(t, "audit", "verify", "--config", s.Config); err != nil {
		t.Fatalf("verify on the file: %v\n%s", err, msg)
	}

	// Tamper: change the email of a sign-in event in the bolt file.
	var target uint64
	db, err := bbolt.Open(filepath.Join(s.Dir, "gatehouse.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte("audit"))
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var e map[string]any
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			if e["email"] == "audit-1@example.com" {
				e["email"] = "someone-else@example.com"
				nv, _ := json.Marshal(e)
				target = uint64(e["seq"].(float64))
				return b.Put(append([]byte(nil), k...), nv)
			}
		}
		return fmt.Errorf("no event to tamper with")
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	msg, err = runCmd(t, "audit", "verify", "--config", s.Config)
	if err == nil {
		t.Fatalf("verify passed a tampered log:\n%s", msg)
	}
	if !strings.Contains(msg, fmt.Sprintf("FAILED at event %d", target)) {
		t.Fatalf("verify did not name event %d:\n%s", target, msg)
	}
	// Through the socket too.
	s.StartProcess()
	msg, err = runCmd(t, "audit", "verify", "--config", s.Config)
	if err == nil || !strings.Contains(msg, fmt.Sprintf("FAILED at event %d", target)) {
		t.Fatalf("verify via socket on a tampered log: %v\n%s", err, msg)
	}
}
