package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"os"

	"github.com/spf13/cobra"

	"gatehouse/app"
	"gatehouse/web"
)

func init() { register(newDemoCmd) }

func newDemoCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "A throw-away server with a seeded partner and a /demo partner portal",
		Long: `Start a throw-away server in a temporary directory (deleted on exit) with a seeded
organization, tenant, partner and key, and a /demo page that plays the partner
portal, to see the whole sign-in flow. Stop it with Ctrl-C.`,
		Example: `  gatehouse demo
  gatehouse demo --listen 127.0.0.1:9090`,
		Args: noArgs,
	}
	listen := cmd.Flags().String("listen", "127.0.0.1:8080", "address to serve on (a free port is used if it is taken)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if _, _, err := net.SplitHostPort(*listen); err != nil {
			return usageErrorf("--listen %q: %v", *listen, err)
		}
		return runDemo(cmd, *listen)
	}
	return cmd
}

// runDemo starts a throw-away server in a temporary directory with a seeded
// organization, tenant, partner and key, and the /demo portal pages.
func runDemo(cmd *cobra.Command, listen string) error {
	dir, err := os.MkdirTemp("", "gatehouse-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return err
		}
	}
	cfg := app.Defaults()
	cfg.Server.Listen = ln.Addr().String()
	cfg.Server.PublicURL = "http://" + ln.Addr().String()
	cfg.Storage.Dir = dir
	cfg.Log.Level = "warn"
	// A throw-away key: the demo's data dies with it, so there is nothing to back up.
	demoKey := make([]byte, 32)
	if _, err := rand.Read(demoKey); err != nil {
		return err
	}
	cfg.Crypto.EncryptionKeys = map[int][]byte{1: demoKey}
	log := newLogger(cfg.Log, os.Stderr)
	inst, err := openInstance(cfg, log)
	if err != nil {
		return err
	}
	defer inst.store.Close()
	demo, err := seedDemo(inst.svc, cfg.PublicBaseURL())
	if err != nil {
		return fmt.Errorf("seed demo: %w", err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), `Gatehouse demo is running (data in a temporary directory, deleted on exit).

  Open the demo partner portal:  %[1]s/demo
  Organization: %[2]s   Tenant: %[3]s   Key id: %[4]s

  In another terminal:
    GATEHOUSE_ADMIN__SOCKET=%[5]s gatehouse console
    GATEHOUSE_ADMIN__SOCKET=%[5]s gatehouse api GET /api/v1/orgs/%[2]s/users
  Forward-auth check a proxy in front of the tenant's dashboard makes:
    %[1]s/auth/verify?org=%[2]s&tenant=%[3]s

Press Ctrl-C to stop.
`, cfg.PublicBaseURL(), demo.OrgID, demo.TenantID, demo.Kid, cfg.AdminSocketPath())
	return serve(inst, &serveListeners{public: ln}, demo)
}

func seedDemo(svc *app.Service, base string) (*web.Demo, error) {
	ctx := context.Background()
	org, err := svc.CreateOrg(ctx, app.Operator, app.OrgInput{ID: "demo-org", Name: "Demo MSSP"})
	if err != nil {
		return nil, err
	}
	tenant, err := svc.CreateTenant(ctx, app.Operator, org.ID, app.TenantInput{
		ID: "demo-tenant", Name: "Demo Customer", RedirectURL: base + "/demo/dashboard",
		AllowedReturnURLs: []string{base + "/"},
	})
	if err != nil {
		return nil, err
	}
	partner, err := svc.CreatePartner(ctx, app.Operator, org.ID, app.PartnerInput{Name: "Demo Portal"})
	if err != nil {
		return nil, err
	}
	priv, pubPEM, err := app.NewDemoKey()
	if err != nil {
		return nil, err
	}
	key, err := svc.AddKey(ctx, app.Operator, org.ID, partner.ID, app.KeyInput{PEM: pubPEM, Label: "demo"})
	if err != nil {
		return nil, err
	}
	return &web.Demo{OrgID: org.ID, TenantID: tenant.ID, Kid: key.Kid, PrivateKey: priv}, nil
}
