package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"gatehouse/app"
	"gatehouse/storage"
	"gatehouse/web/client"
)

func init() { register(newAuditCmd) }

func newAuditCmd() *cobra.Command {
	cmd := newGroupCmd("audit", "Check or export the audit log",
		`Check or export the append-only, hash-chained audit log: through the admin socket
while a server runs, else straight from the database file.`,
		`  gatehouse audit verify
  gatehouse audit export > audit.jsonl`)
	cmd.AddCommand(newAuditVerifyCmd(), newAuditExportCmd(), newAuditListCmd())
	return cmd
}

func newAuditVerifyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check the audit hash chain",
		Long: `Recompute the audit hash chain. Exit 0 with "audit chain OK: N events"; exit 1
naming the first event that does not verify.`,
		Example: `  gatehouse audit verify --config /etc/gatehouse/config.toml`,
		Args:    noArgs,
	}
	cfgPath := configFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return withAuditSource(*cfgPath, func(ctx context.Context, c *client.Client, store storage.Store) error {
			var v app.AuditVerification
			var err error
			if c != nil {
				err = c.Do(ctx, http.MethodGet, "/api/v1/audit/verify", nil, &v)
			} else {
				v, err = app.VerifyAuditChain(ctx, store)
			}
			if err != nil {
				return fmt.Errorf("audit verify: %w", err)
			}
			if !v.OK {
				return fmt.Errorf("audit verify: FAILED at event %d: %s (%d events before it verified)", v.BadSeq, v.Problem, v.Events)
			}
			if v.Events == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "audit chain OK: no events")
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "audit chain OK: %d events (seq %d to %d)\n", v.Events, v.First, v.Last)
			return nil
		})
	}
	return cmd
}

func newAuditExportCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write audit events as JSON lines, oldest first",
		Long: `Write audit events to stdout as one JSON object per line, oldest first: every
event, or those of one organization that pass the filters (the same filters as
audit list; they combine). Events are filtered as they stream, never all held.`,
		Example: `  gatehouse audit export > audit.jsonl
  gatehouse audit export --org acme --type signin. --since 24h > signins.jsonl`,
		Args: noArgs,
	}
	cfgPath := configFlag(cmd)
	org := cmd.Flags().String("org", "", "only this organization's events")
	filters := addAuditFilterFlags(cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		q, err := filters.query(time.Now())
		if err != nil {
			return err
		}
		q.OrgID = *org
		return withAuditSource(*cfgPath, func(ctx context.Context, c *client.Client, store storage.Store) error {
			w := bufio.NewWriterSize(cmd.OutOrStdout(), 64<<10)
			var err error
			switch {
			case c != nil && (*org != "" || filters.any()):
				lw := &matchingLines{q: q, w: w}
				if err = c.Do(ctx, http.MethodGet, "/api/v1/audit/export", nil, lw); err == nil {
					err = lw.finish()
				}
			case c != nil:
				err = c.Do(ctx, http.MethodGet, "/api/v1/audit/export", nil, w)
			default:
				_, err = app.ExportAuditLinesMatching(ctx, store, w, q.Matches)
			}
			if ferr := w.Flush(); err == nil {
				err = ferr
			}
			if err != nil {
				return fmt.Errorf("audit export: %w", err)
			}
			return nil
		})
	}
	return cmd
}

// matchingLines passes on, byte for byte, the JSON lines of the server's
// export stream whose event passes q: the server exports every event, so
// the CLI filters while the stream arrives, holding at most one line.
type matchingLines struct {
	q       storage.AuditQuery
	w       io.Writer
	partial []byte
}

func (m *matchingLines) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			m.partial = append(m.partial, p...)
			break
		}
		line := p[:i+1]
		if len(m.partial) > 0 {
			line = append(m.partial, line...)
		}
		if err := m.emit(line); err != nil {
			return 0, err
		}
		m.partial, p = m.partial[:0], p[i+1:]
	}
	return n, nil
}

func (m *matchingLines) emit(line []byte) error {
	var e storage.AuditEvent
	if err := json.Unmarshal(line, &e); err != nil {
		return fmt.Errorf("the server sent a line that is not an audit event: %w", err)
	}
	if !m.q.Matches(e) {
		return nil
	}
	_, err := m.w.Write(line)
	return err
}

// finish reports a stream cut short: its last line has no newline.
func (m *matchingLines) finish() error {
	if len(m.partial) > 0 {
		return fmt.Errorf("the export stream ended in the middle of an event")
	}
	return nil
}

// withAuditSource runs f with the admin socket's client while a server runs,
// else with the database file opened directly (exactly one is non-nil).
func withAuditSource(cfgPath string, f func(context.Context, *client.Client, storage.Store) error) error {
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	c, noServer := socketClient(cfg)
	var store storage.Store
	if c == nil {
		if store, err = openStoreOnly(cfg); err != nil {
			return fmt.Errorf("audit: %w", directFailed(noServer, err))
		}
		defer store.Close()
	}
	return f(ctx, c, store)
}
