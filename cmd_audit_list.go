package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"gatehouse/app"
)

// newAuditListCmd is `gatehouse audit list`: one organization's events,
// newest first, found by request id, email, partner, type or age.
func newAuditListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list --org ID",
		Short: "Search an organization's audit events (request id, email, partner, type, age)",
		Long: `Search an organization's audit events, newest first, through the running server's
admin socket, or on the database directly when no server runs. Filters combine;
--request-id finds the event of the answer a partner or user quotes.`,
		Example: `  gatehouse audit list --org acme --request-id req_7Hq2Lx9
  gatehouse audit list --org acme --email alice@example.com --since 24h
  gatehouse audit list --org acme --partner prt_5y2kq3 --type signin. --json`,
		Args: noArgs,
	}
	f := cmd.Flags()
	cfgPath := configFlag(cmd)
	org := f.String("org", "", "organization ID (required)")
	filters := addAuditFilterFlags(f)
	flt := &filters.AuditFilter
	f.IntVar(&flt.Limit, "limit", 50, "at most this many events (1 to 500)")
	asJSON := f.Bool("json", false, "print the answer as JSON")
	requireFlags(cmd, "org")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if flt.Limit < 1 || flt.Limit > 500 {
			return usageErrorf("--limit must be between 1 and 500, got %d", flt.Limit)
		}
		if _, err := filters.query(time.Now()); err != nil {
			return err
		}
		cfg, err := loadConfig(*cfgPath)
		if err != nil {
			return err
		}
		ctx := context.Background()
		var list app.AuditList
		if c, noServer := socketClient(cfg); c != nil {
			list, err = c.ListAudit(ctx, app.Operator, *org, *flt)
		} else {
			inst, err2 := openExistingInstance(cfg, newLogger(cfg.Log, os.Stderr))
			if err2 != nil {
				return directFailed(noServer, err2)
			}
			defer inst.store.Close()
			list, err = inst.svc.ListAudit(ctx, app.Operator, *org, *flt)
		}
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		if *asJSON {
			enc := json.NewEncoder(out)
			enc.SetIndent("", "  ")
			return enc.Encode(list)
		}
		tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "TIME\tTYPE\tOUTCOME\tCODE\tEMAIL\tPARTNER\tTENANT\tREQUEST ID")
		for _, e := range list.Events {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.UTC().Format(time.RFC3339), e.Type, e.Outcome,
				dash(e.Code), dash(e.Email), dash(e.PartnerID), dash(e.TenantID), dash(e.RequestID))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if len(list.Events) == 0 {
			fmt.Fprintln(cmd.ErrOrStderr(), "no matching events")
		}
		return nil
	}
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
