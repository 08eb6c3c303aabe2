package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"gatehouse/storage"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func openTemp(t testing.TB, opts Options) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data", "gatehouse.db")
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, path
}

func TestOpenCreatesPrivateFiles(t *testing.T) {
	s, path := openTemp(t, Options{})
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700 | os.ModeDir} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s mode %v, want %v", p, fi.Mode(), want)
		}
	}
}

func TestOpenRefuses(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	foreign := filepath.Join(dir, "foreign.db")
	db, err := bbolt.Open(foreign, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucket([]byte("someone-else"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	newer := filepath.Join(dir, "newer.db")
	s, err := Open(newer, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bktMeta).Put(metaVersion, u64(formatVersion+1))
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	tests := []struct {
		name, path, want string
	}{
		{"empty file", write("empty.db", nil), "file is empty"},
		{"text file", write("text.db", []byte(strings.Repeat("not a database\n", 1000))), "not a bbolt database"},
		{"short text file", write("short.db", []byte("hello\n")), "not a bbolt database"},
		{"one page of garbage", write("page.db", bytes.Repeat([]byte{0xa5}, 4096)), "not a bbolt database"},
		{"foreign bbolt", foreign, "not a gatehouse database"},
		{"newer format", newer, "newer than this binary"},
		{"directory", dir, "is a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := os.ReadFile(tt.path)
			s, err := Open(tt.path, Options{})
			if err == nil {
				s.Close()
				t.Fatalf("Open succeeded, want error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.path) {
				t.Errorf("error %q, want it to name %s and contain %q", err, tt.path, tt.want)
			}
			if after, _ := os.ReadFile(tt.path); !bytes.Equal(before, after) {
				t.Errorf("refused file was modified")
			}
		})
	}
}

func TestOpenLockedFailsFast(t *testing.T) {
	_, path := openTemp(t, Options{})
	start := time.Now()
	// flock is per open file description, so a second Open in this process
	// contends exactly like another process would.
	s, err := Open(path, Options{Timeout: 100 * time.Millisecond})
	if err == nil {
		s.Close()
		t.Fatal("second Open succeeded")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("second Open took %v", d)
	}
	// The message names every holder an operator may find: a server, a
	// console operation, a backup or another one-shot command.
	for _, want := range []string{path, "in use", "gatehouse serve", "gatehouse console", "backup", "migrate"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestReopenKeepsRecords(t *testing.T) {
	ctx := t.Context()
	s, path := openTemp(t, Options{})
	tn := storage.Tenant{ID: "t1", OrgID: "o1", Name: "T", AllowedReturnURLs: []string{}, CreatedAt: t0}
	p := storage.Partner{ID: "p1", OrgID: "o1", Name: "P", ConsumerKey: "ck", Active: true, AllowedRoles: []string{}, MaxUsers: new(int)}
	mustNil(t, s.CreateOrg(ctx, storage.Org{ID: "o1", Name: "O", CreatedAt: t0}))
	mustNil(t, s.CreateTenant(ctx, tn))
	mustNil(t, s.CreatePartner(ctx, p))
	mustNil(t, s.Close())

	s, err := Open(path, Options{})
	mustNil(t, err)
	defer s.Close()
	gotT, err := s.GetTenant(ctx, "o1", "t1")
	mustNil(t, err)
	if gotT.AllowedReturnURLs == nil {
		t.Error("empty AllowedReturnURLs came back nil")
	}
	gotP, err := s.GetPartnerByConsumerKey(ctx, "ck")
	mustNil(t, err)
	if gotP.AllowedRoles == nil || gotP.AllowedTenants != nil || gotP.MaxUsers == nil {
		t.Errorf("nil/empty distinction lost: %+v", gotP)
	}
}

func mustNil(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// seed creates an organization, a tenant, a partner and a key.
func seed(t testing.TB, s *Store) {
	t.Helper()
	ctx := context.Background()
	mustNil(t, s.CreateOrg(ctx, storage.Org{ID: "o1", Name: "O", CreatedAt: t0}))
	mustNil(t, s.CreateTenant(ctx, storage.Tenant{ID: "t1", OrgID: "o1", Name: "T", CreatedAt: t0}))
	mustNil(t, s.CreatePartner(ctx, storage.Partner{ID: "p1", OrgID: "o1", Name: "P", ConsumerKey: "ck", Active: true}))
	mustNil(t, s.CreateKey(ctx, storage.Key{Kid: "k1", OrgID: "o1", PartnerID: "p1", CreatedAt: t0}))
}

var errBoom = errors.New("boom")

// signInWrite is a first-or-repeat sign-in by p1 with a replay marker, a key
// touch and an audit event, like the app's.
func signInWrite(email, sessionID, jti string, at time.Time) storage.SignInWrite {
	return storage.SignInWrite{
		Now:    at, // replay expiry is judged on the test's clock, never the wall clock
		OrgID:  "o1",
		Email:  email,
		Replay: &storage.Replay{Key: "jti:o1:" + jti, ExpiresAt: at.Add(time.Hour)},
		Provision: func(existing *storage.User, count func(string) int) (storage.User, error) {
			if existing != nil {
				u := *existing
				u.LastSignInAt = at
				return u, nil
			}
			return storage.User{ID: "u-" + email, Email: email, OrgID: "o1", TenantID: "t1", Role: "admin",
				PartnerSSO: true, PartnerID: "p1", CreatedAt: at, LastSignInAt: at}, nil
		},
		Session:  storage.Session{ID: sessionID, OrgID: "o1", PartnerID: "p1", CreatedAt: at, ExpiresAt: at.Add(8 * time.Hour)},
		TouchKey: &storage.KeyTouch{OrgID: "o1", Kid: "k1", At: at},
		Audit:    &storage.AuditEvent{ID: "ev-" + sessionID, Time: at, Type: "signin.jwt", OrgID: "o1", Email: email},
	}
}

// holdWriter occupies the group writer until the returned release is called,
// so requests queued meanwhile form one group.
func holdWriter(t *testing.T, s *Store) (release func()) {
	t.Helper()
	entered, gate := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.write(context.Background(), func(*bbolt.Tx) (writeSet, error) {
			close(entered)
			<-gate
			return nil, nil
		})
	}()
	<-entered
	return func() {
		close(gate)
		mustNil(t, <-done)
	}
}

// waitQueued waits until n requests sit in the writer's queue.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(s.reqs) < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d requests queued", len(s.reqs), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestGroupCommitIsolatesFailures(t *testing.T) {
	ctx := t.Context()
	s, _ := openTemp(t, Options{})
	seed(t, s)

	failing := signInWrite("b@example.com", "s-b", "jti-b", t0)
	failing.Provision = func(*storage.User, func(string) int) (storage.User, error) { return storage.User{}, errBoom }
	writes := []storage.SignInWrite{
		signInWrite("a@example.com", "s-a", "jti-a", t0),
		failing,
		signInWrite("c@example.com", "s-c", "jti-a", t0), // replays a's jti
		signInWrite("a@example.com", "s-a2", "jti-d", t0.Add(time.Second)),
		signInWrite("e@example.com", "s-e", "jti-e", t0),
	}
	wantErrs := []error{nil, errBoom, storage.ErrReplay, nil, nil}

	release := holdWriter(t, s)
	groupsBefore := s.groups.Load()
	users := make([]storage.User, len(writes))
	errs := make([]error, len(writes))
	var wg sync.WaitGroup
	for i, w := range writes {
		// Queue in order: each waits for the previous one to be queued.
		wg.Add(1)
		go func() {
			defer wg.Done()
			users[i], errs[i] = s.SignIn(ctx, w)
		}()
		waitQueued(t, s, i+1)
	}
	release()
	wg.Wait()

	if n := s.groups.Load() - groupsBefore; n != 1 {
		t.Errorf("%d group transactions, want 1", n)
	}
	for i := range writes {
		if !errors.Is(errs[i], wantErrs[i]) || (wantErrs[i] == nil) != (errs[i] == nil) {
			t.Errorf("sign-in %d: error %v, want %v", i, errs[i], wantErrs[i])
		}
	}
	if users[3].ID != users[0].ID {
		t.Errorf("second sign-in of a@ got user %q, want the first one's %q", users[3].ID, users[0].ID)
	}
	for _, id := range []string{"s-b", "s-c"} {
		if _, err := s.GetSession(ctx, id); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("session %s of a failed sign-in: %v", id, err)
		}
	}
	for _, id := range []string{"s-a", "s-a2", "s-e"} {
		if _, err := s.GetSession(ctx, id); err != nil {
			t.Errorf("session %s: %v", id, err)
		}
	}
	if n, _ := s.CountUsers(ctx, "o1", ""); n != 2 {
		t.Errorf("%d users, want 2", n)
	}
	if n, _ := s.CountSessions(ctx, users[0].ID, t0); n != 2 {
		t.Errorf("a@ has %d sessions, want 2", n)
	}
	if _, err := s.GetUserByEmail(ctx, "o1", "b@example.com"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("user of failed sign-in: %v", err)
	}
	checkChain(t, s, 3)
	k, err := s.GetKey(ctx, "o1", "k1")
	mustNil(t, err)
	if !k.LastUsedAt.Equal(t0.Add(time.Second)) {
		t.Errorf("key last used %v, want the latest touch", k.LastUsedAt)
	}
}

// checkChain verifies Seq numbering and hash links of the whole audit log.
func checkChain(t *testing.T, s *Store, want int) {
	t.Helper()
	var n int
	prev := ""
	mustNil(t, s.WalkAudit(t.Context(), func(e storage.AuditEvent) error {
		n++
		if e.Seq != uint64(n) {
			return fmt.Errorf("event %d has seq %d", n, e.Seq)
		}
		if e.PrevHash != prev {
			return fmt.Errorf("event %d: prev hash %q, want %q", n, e.PrevHash, prev)
		}
		h, err := storage.HashEvent(e)
		if err != nil || h != e.Hash {
			return fmt.Errorf("event %d: hash mismatch (%v)", n, err)
		}
		prev = e.Hash
		return nil
	}))
	if n != want {
		t.Errorf("%d audit events, want %d", n, want)
	}
}

func TestGroupRetriesAfterWriteFailure(t *testing.T) {
	ctx := t.Context()
	s, _ := openTemp(t, Options{})
	seed(t, s)
	// A session ID above bbolt's key limit passes every check and fails only
	// at Put, i.e. after earlier requests' writes are in the transaction.
	huge := signInWrite("huge@example.com", strings.Repeat("x", bbolt.MaxKeySize+1), "jti-h", t0)
	writes := []storage.SignInWrite{
		signInWrite("a@example.com", "s-a", "jti-a", t0),
		huge,
		signInWrite("c@example.com", "s-c", "jti-c", t0),
	}
	release := holdWriter(t, s)
	errs := make([]error, len(writes))
	var wg sync.WaitGroup
	for i, w := range writes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.SignIn(ctx, w)
		}()
		waitQueued(t, s, i+1)
	}
	release()
	wg.Wait()
	if errs[0] != nil || errs[2] != nil {
		t.Errorf("good sign-ins failed: %v, %v", errs[0], errs[2])
	}
	if !errors.Is(errs[1], bbolt.ErrKeyTooLarge) {
		t.Errorf("oversized sign-in: %v", errs[1])
	}
	if _, err := s.GetUserByEmail(ctx, "o1", "huge@example.com"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("user of failed sign-in: %v", err)
	}
	checkChain(t, s, 2)
	mustNil(t, s.Check())
}

func TestProvisionPanicIsAnError(t *testing.T) {
	s, _ := openTemp(t, Options{})
	seed(t, s)
	w := signInWrite("a@example.com", "s-a", "jti-a", t0)
	w.Provision = func(*storage.User, func(string) int) (storage.User, error) { panic("bad callback") }
	if _, err := s.SignIn(t.Context(), w); err == nil || !strings.Contains(err.Error(), "panicked") {
		t.Errorf("SignIn: %v", err)
	}
	if _, err := s.SignIn(t.Context(), signInWrite("b@example.com", "s-b", "jti-b", t0)); err != nil {
		t.Errorf("writer unusable after a panic: %v", err)
	}
}

func TestCloseAnswersQueuedRequests(t *testing.T) {
	s, path := openTemp(t, Options{})
	seed(t, s)
	release := holdWriter(t, s)
	const n = 20
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, err := s.SignIn(context.Background(), signInWrite(fmt.Sprintf("u%d@example.com", i), fmt.Sprintf("s%02d", i), fmt.Sprint(i), t0))
			errs <- err
		}()
	}
	waitQueued(t, s, n)
	closed := make(chan error)
	go func() { closed <- s.Close() }()
	release()
	mustNil(t, <-closed)
	for range n {
		mustNil(t, <-errs)
	}
	if _, err := s.SignIn(context.Background(), signInWrite("late@example.com", "s-late", "late", t0)); !errors.Is(err, errClosed) {
		t.Errorf("SignIn after Close: %v", err)
	}
	s2, err := Open(path, Options{})
	mustNil(t, err)
	defer s2.Close()
	if c, _ := s2.CountUsers(context.Background(), "o1", ""); c != n {
		t.Errorf("%d users after reopen, want %d", c, n)
	}
}

func TestCanceledRequestWritesNothing(t *testing.T) {
	s, _ := openTemp(t, Options{})
	seed(t, s)
	ctx, cancel := context.WithCancel(t.Context())
	release := holdWriter(t, s)
	done := make(chan error)
	go func() {
		_, err := s.SignIn(ctx, signInWrite("a@example.com", "s-a", "a", t0))
		done <- err
	}()
	waitQueued(t, s, 1)
	cancel()
	release()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("SignIn: %v", err)
	}
	if _, err := s.GetSession(t.Context(), "s-a"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("session written by a canceled sign-in: %v", err)
	}
}

func TestBackupRestoresAndChecks(t *testing.T) {
	ctx := t.Context()
	s, _ := openTemp(t, Options{})
	seed(t, s)

	// Sign-ins keep committing while the backup is taken.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := s.SignIn(ctx, signInWrite(fmt.Sprintf("bg%d@example.com", i), fmt.Sprintf("bg%06d", i), fmt.Sprint("bg", i), t0)); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	_, err := s.SignIn(ctx, signInWrite("a@example.com", "s-a", "a", t0))
	mustNil(t, err)
	copyPath := filepath.Join(t.TempDir(), "backup.db")
	f, err := os.Create(copyPath)
	mustNil(t, err)
	n, err := s.Backup(ctx, f)
	mustNil(t, err)
	mustNil(t, f.Close())
	close(stop)
	wg.Wait()
	if fi, _ := os.Stat(copyPath); fi.Size() != n {
		t.Errorf("Backup reported %d bytes, file has %d", n, fi.Size())
	}

	r, err := Open(copyPath, Options{})
	mustNil(t, err)
	defer r.Close()
	mustNil(t, r.Check())
	if _, err := r.GetUserByEmail(ctx, "o1", "a@example.com"); err != nil {
		t.Errorf("restored copy lacks a user: %v", err)
	}
	users, _ := r.CountUsers(ctx, "o1", "")
	checkChain(t, r, users)

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Backup(canceled, &bytes.Buffer{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Backup with canceled context: %v", err)
	}
}

func TestSweepAndPartnerRevocation(t *testing.T) {
	ctx := t.Context()
	s, _ := openTemp(t, Options{})
	seed(t, s)
	a, err := s.SignIn(ctx, signInWrite("a@example.com", "s1", "1", t0))
	mustNil(t, err)
	_, err = s.SignIn(ctx, signInWrite("a@example.com", "s2", "2", t0.Add(4*time.Hour)))
	mustNil(t, err)
	mustNil(t, s.CreateLoginToken(ctx, storage.LoginToken{ID: "lt", ExpiresAt: t0.Add(time.Minute)}))

	res, err := s.Sweep(ctx, t0.Add(9*time.Hour))
	mustNil(t, err)
	if res != (storage.SweepResult{Sessions: 1, Replays: 2, LoginTokens: 1}) {
		t.Errorf("Sweep = %+v", res)
	}
	if n, _ := s.CountSessions(ctx, a.ID, t0); n != 1 {
		t.Errorf("%d sessions left, want 1", n)
	}

	_, err = s.UpdatePartner(ctx, "o1", "p1", func(p storage.Partner) (storage.Partner, error) {
		p.Active = false
		return p, nil
	})
	mustNil(t, err)
	if n, _ := s.CountActiveSessions(ctx, t0); n != 0 {
		t.Errorf("%d sessions after deactivation, want 0", n)
	}
	mustNil(t, s.Check())
}

// BenchmarkSignInParallel measures first sign-ins (user, session, replay,
// key touch, audit) from ~64 goroutines with fsync on and group commit.
func BenchmarkSignInParallel(b *testing.B) { benchSignIn(b, Options{}) }

// BenchmarkSignInParallelNoGroupCommit is the same with one transaction (and
// one fsync) per sign-in, to show what group commit buys.
func BenchmarkSignInParallelNoGroupCommit(b *testing.B) {
	benchSignIn(b, Options{NoGroupCommit: true})
}

func benchSignIn(b *testing.B, opts Options) {
	s, _ := openTemp(b, opts)
	seed(b, s)
	var n atomic.Uint64
	start := time.Now()
	b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			at := start.Add(time.Duration(i))
			// Time-ordered session IDs, as the app makes them.
			w := signInWrite(fmt.Sprintf("user%d@example.com", i), fmt.Sprintf("%016x-%d", at.UnixNano(), i), fmt.Sprint(i), at)
			if _, err := s.SignIn(context.Background(), w); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "signins/s")
}

// TestAuditSpliceMatchesHashEvent: the writer hashes the bytes it stores;
// they must equal HashEvent's canonical form even for struct-valued details.
func TestAuditSpliceMatchesHashEvent(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "a.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	type change struct {
		Before any `json:"before"`
		After  any `json:"after"`
	}
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		_, err := s.AppendAudit(ctx, storage.AuditEvent{ID: fmt.Sprint("e", i), Type: "partner.update",
			Time:    time.Date(2026, 11, 22, 10, 0, i, 0, time.UTC),
			Details: map[string]any{"changes": map[string]any{"name": change{Before: "a", After: "b"}}, "n": i}})
		if err != nil {
			t.Fatal(err)
		}
	}
	prev := ""
	err = s.WalkAudit(ctx, func(e storage.AuditEvent) error {
		h, err := storage.HashEvent(e)
		if err != nil {
			return err
		}
		if h != e.Hash || e.PrevHash != prev {
			t.Errorf("seq %d: stored hash %s, recomputed %s; prev %s want %s", e.Seq, e.Hash, h, e.PrevHash, prev)
		}
		prev = e.Hash
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
