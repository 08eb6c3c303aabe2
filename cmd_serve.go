package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"gatehouse/web"
)

func init() { register(newServeCmd) }

func newServeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the server: public listener, admin socket and optional admin TCP listener",
		Long: `Run the server: the public listener (server.listen) for partner sign-in and
sessions, the admin socket (admin.socket) for the operator, and, when admin.listen
is set, the token-authenticated admin API on TCP. Stops cleanly on SIGINT/SIGTERM.`,
		Example: `  gatehouse serve
  gatehouse serve --config /etc/gatehouse/config.toml
  GATEHOUSE_SERVER__LISTEN=127.0.0.1:9000 gatehouse serve`,
		Args: noArgs,
	}
	cfgPath := configFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := loadConfig(*cfgPath)
		if err != nil {
			return err
		}
		log := newLogger(cfg.Log, os.Stderr)
		tuneGC()
		inst, err := openInstance(cfg, log)
		if err != nil {
			return err
		}
		defer inst.store.Close()
		publicLn, err := net.Listen("tcp", cfg.Server.Listen)
		if err != nil {
			return fmt.Errorf("server.listen: %w", err)
		}
		return serve(inst, publicLn, nil)
	}
	return cmd
}

// serve runs the listeners until SIGINT/SIGTERM.
func serve(inst *instance, publicLn net.Listener, demo *web.Demo) error {
	cfg, log := inst.cfg, inst.log
	// The assertion signing key is made (or opened) now, so a key that does
	// not open stops start-up instead of failing the first /auth/verify.
	if err := inst.svc.InitSigningKey(context.Background()); err != nil {
		return err
	}
	srv, err := web.New(web.Options{Service: inst.svc, Logger: log, Metrics: inst.mets, Demo: demo})
	if err != nil {
		return err
	}
	public, err := srv.PublicHandler()
	if err != nil {
		return err
	}
	adminSock, err := srv.AdminHandler(web.OperatorAuth)
	if err != nil {
		return err
	}
	sockPath := cfg.AdminSocketPath()
	// We hold the database lock, so a socket file left here is stale.
	_ = os.Remove(sockPath)
	if err := os.MkdirAll(filepath.Dir(sockPath), 0o700); err != nil {
		return fmt.Errorf("admin.socket: %w", err)
	}
	sockLn, err := net.Listen("unix", sockPath)
	if err != nil {
		return fmt.Errorf("admin.socket: %w", err)
	}
	if err := secureSocket(sockPath, cfg.Admin.SocketGroup); err != nil {
		return err
	}
	defer os.Remove(sockPath)

	type listener struct {
		name string
		srv  *http.Server
		ln   net.Listener
		tls  bool
	}
	listeners := []listener{
		{"public", web.ServerTimeouts(public), publicLn, cfg.Server.TLSCert != ""},
		{"admin socket", web.ServerTimeouts(adminSock), sockLn, false},
	}
	if cfg.Server.MetricsListen != "" {
		ln, err := net.Listen("tcp", cfg.Server.MetricsListen)
		if err != nil {
			return fmt.Errorf("server.metrics_listen: %w", err)
		}
		listeners = append(listeners, listener{"metrics", web.ServerTimeouts(srv.MetricsHandler()), ln, false})
	}
	if cfg.Admin.Listen != "" {
		adminTCP, err := srv.AdminHandler(web.TokenAuth(inst.svc))
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", cfg.Admin.Listen)
		if err != nil {
			return fmt.Errorf("admin.listen: %w", err)
		}
		listeners = append(listeners, listener{"admin", web.ServerTimeouts(adminTCP), ln, cfg.Server.TLSCert != ""})
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	g, ctx := errgroup.WithContext(ctx)
	for _, l := range listeners {
		l := l
		if l.tls {
			l.srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		g.Go(func() error {
			var err error
			if l.tls {
				err = l.srv.ServeTLS(l.ln, cfg.Server.TLSCert, cfg.Server.TLSKey)
			} else {
				err = l.srv.Serve(l.ln)
			}
			if errors.Is(err, http.ErrServerClosed) {
				return nil
			}
			return fmt.Errorf("%s listener: %w", l.name, err)
		})
	}
	g.Go(func() error {
		inst.svc.RunSweeper(ctx, time.Minute)
		return nil
	})
	g.Go(func() error {
		inst.svc.RunChangeFeed(ctx)
		return nil
	})
	g.Go(func() error {
		inst.svc.RunJWKSRefresher(ctx)
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, l := range listeners {
			_ = l.srv.Shutdown(shutdownCtx)
		}
		return nil
	})
	log.Info("gatehouse serving", "version", version, "public", cfg.PublicBaseURL(), "listen", publicLn.Addr().String(),
		"admin_socket", sockPath, "admin_listen", cfg.Admin.Listen, "metrics_listen", cfg.Server.MetricsListen, "database", cfg.DatabasePath())
	err = g.Wait()
	log.Info("gatehouse stopped")
	return err
}

// secureSocket makes the admin socket 0600, or 0660 owned by group when
// admin.socket_group is set (members may then run `gatehouse console`).
func secureSocket(path, group string) error {
	mode := os.FileMode(0o600)
	if group != "" {
		g, err := user.LookupGroup(group)
		if err != nil {
			return fmt.Errorf("admin.socket_group: %w", err)
		}
		gid, err := strconv.Atoi(g.Gid)
		if err != nil {
			return fmt.Errorf("admin.socket_group: gid %q: %w", g.Gid, err)
		}
		if err := os.Chown(path, -1, gid); err != nil {
			return fmt.Errorf("admin.socket_group: %w", err)
		}
		mode = 0o660
	}
	if err := os.Chmod(path, mode); err != nil {
		return fmt.Errorf("admin.socket: %w", err)
	}
	return nil
}
