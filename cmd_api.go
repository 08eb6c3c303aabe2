package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"gatehouse/web/client"
)

func init() { register(newAPICmd) }

var apiMethods = []string{"GET", "POST", "PATCH", "PUT", "DELETE"}

func newAPICmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "api METHOD PATH",
		Short: "Call the admin API and print its JSON answer",
		Long: `Call the admin API and print the JSON answer on stdout: over the admin socket
(operator rights; the socket is admin.socket from --config), or with --url and
--token over the TCP admin listener (admin.listen; the token's organization only).
PATH is the API path; without a leading /api/ it is taken under /api/v1.

Exit 0 on a 2xx answer; otherwise exit 1 with the status, code, message and
request id on stderr, like curl --unix-socket without the boilerplate.`,
		Example: `  gatehouse api GET /api/v1/orgs
  gatehouse api POST /api/v1/orgs --data '{"id":"acme","name":"Acme MSSP"}'
  gatehouse api POST orgs/acme/tenants --data @tenant.json
  gatehouse api GET /api/v1/orgs/acme/audit?request_id=req_123
  gatehouse api GET /api/v1/orgs/acme/users --url https://gatehouse.internal:9443 --token "$GATEHOUSE_ADMIN_TOKEN"`,
		Args: exactArgs("METHOD", "PATH"),
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
			if len(args) == 0 {
				return apiMethods, cobra.ShellCompDirectiveNoFileComp
			}
			return nil, cobra.ShellCompDirectiveNoFileComp
		},
	}
	f := cmd.Flags()
	data := f.String("data", "", "request body: JSON, @FILE to read it from a file, or @- for stdin")
	conn := adminConnFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		method := strings.ToUpper(args[0])
		if !slices.Contains(apiMethods, method) {
			return usageErrorf("METHOD %q: must be one of %s", args[0], strings.Join(apiMethods, ", "))
		}
		path, err := apiPath(args[1])
		if err != nil {
			return err
		}
		body, err := readData(*data, cmd.InOrStdin())
		if err != nil {
			return err
		}
		c, err := conn.client()
		if err != nil {
			return err
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		ans, err := c.Raw(ctx, method, path, body)
		if err != nil {
			return err
		}
		if ans.Status < 200 || ans.Status > 299 {
			return apiFailure(ans)
		}
		return printAnswer(cmd.OutOrStdout(), ans)
	}
	return cmd
}

// apiPath accepts /api/v1/... as it is and puts anything else under /api/v1.
func apiPath(p string) (string, error) {
	if p == "" || strings.ContainsAny(p, " \t\r\n") || strings.Contains(p, "://") {
		return "", usageErrorf("PATH %q: want an API path such as /api/v1/orgs", p)
	}
	if strings.HasPrefix(p, "/api/") {
		return p, nil
	}
	return "/api/v1/" + strings.TrimLeft(p, "/"), nil
}

// readData resolves --data: inline JSON, @FILE or @- (stdin). It must be
// JSON, so a typo fails here rather than as a server-side validation error.
func readData(data string, stdin io.Reader) ([]byte, error) {
	if data == "" {
		return nil, nil
	}
	var b []byte
	switch {
	case data == "@-":
		var err error
		if b, err = io.ReadAll(stdin); err != nil {
			return nil, fmt.Errorf("--data @-: %w", err)
		}
	case strings.HasPrefix(data, "@"):
		var err error
		if b, err = os.ReadFile(data[1:]); err != nil {
			return nil, fmt.Errorf("--data: %w", err)
		}
	default:
		b = []byte(data)
	}
	if !json.Valid(b) {
		var v any
		err := json.Unmarshal(b, &v)
		return nil, usageErrorf("--data is not JSON: %v", err)
	}
	return b, nil
}

// apiFailure turns an error answer into one line: status, code, message, request id.
func apiFailure(ans client.Answer) error {
	var e struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		RequestID string `json:"request_id"`
	}
	if json.Unmarshal(ans.Body, &e) != nil || e.Code == "" {
		return fmt.Errorf("HTTP %d: %s", ans.Status, oneLine(string(bytes.TrimSpace(ans.Body))))
	}
	msg := fmt.Sprintf("HTTP %d %s: %s", ans.Status, e.Code, e.Message)
	if e.RequestID != "" {
		msg += " (request_id " + e.RequestID + ")"
	}
	return fmt.Errorf("%s", msg)
}

// printAnswer writes a JSON answer indented, and anything else as it came
// (e.g. the backup's octet stream); a 204 prints nothing.
func printAnswer(w io.Writer, ans client.Answer) error {
	if len(ans.Body) == 0 {
		return nil
	}
	if strings.HasPrefix(ans.ContentType, "application/json") {
		var buf bytes.Buffer
		if err := json.Indent(&buf, ans.Body, "", "  "); err == nil {
			buf.WriteByte('\n')
			_, err := w.Write(buf.Bytes())
			return err
		}
	}
	_, err := w.Write(ans.Body)
	return err
}
