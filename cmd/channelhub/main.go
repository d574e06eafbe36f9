// Command channelhub serves the Channelhub API.
//
//	channelhub [serve]   migrate, seed the demo channel when empty (development), and serve
//	channelhub migrate   apply pending migrations and exit
//	channelhub seed      seed the demo channel into an empty database and exit
//	channelhub version   print the version
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"channelhub/internal/auth"
	"channelhub/internal/config"
	"channelhub/internal/database"
	"channelhub/internal/seed"
	"channelhub/internal/server"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "channelhub:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	if cmd == "version" {
		fmt.Fprintln(stdout, "channelhub", versionString())
		return nil
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	switch cmd {
	case "serve":
		return serve(ctx, cfg, log, stdout)
	case "migrate":
		db, err := database.Open(ctx, cfg.DatabaseDSN())
		if err != nil {
			return err
		}
		defer db.Close()
		applied, err := db.Migrate(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "applied %d migration(s) on %s\n", len(applied), db.DialectName)
		return nil
	case "seed":
		db, err := database.Open(ctx, cfg.DatabaseDSN())
		if err != nil {
			return err
		}
		defer db.Close()
		if _, err := db.Migrate(ctx); err != nil {
			return err
		}
		seeded, err := seed.Demo(ctx, db, auth.NewPasswordHasher(nil))
		if err != nil {
			return err
		}
		if !seeded {
			fmt.Fprintln(stdout, "database already holds parties; nothing seeded")
			return nil
		}
		fmt.Fprintln(stdout, "seeded the demo channel")
		return nil
	}
	return fmt.Errorf("unknown command %q (want serve, migrate, seed or version)", cmd)
}

func serve(ctx context.Context, cfg config.Config, log *slog.Logger, stdout io.Writer) error {
	start := time.Now()
	log.Info("starting", "version", versionString(), "config", cfg)
	srv, err := server.New(ctx, cfg, server.Deps{Log: log})
	if err != nil {
		return err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on CHANNELHUB_HTTP_ADDR: %w", err)
	}
	base := "http://" + ln.Addr().String()
	log.Info("ready", "addr", ln.Addr().String(), "startup", time.Since(start).String(), "seeded", srv.Seeded)
	fmt.Fprintf(stdout, "Channelhub %s on %s (%s)\n", versionString(), srv.DB.DialectName, cfg.Env)
	fmt.Fprintf(stdout, "  GraphQL:  %s/graphql\n", base)
	if cfg.Development() {
		fmt.Fprintf(stdout, "  GraphiQL: %s/\n", base)
	}
	if cfg.SeedDemo {
		fmt.Fprintf(stdout, "  Demo logins (password %q):\n", seed.DemoPassword)
		for _, l := range seed.Logins {
			fmt.Fprintf(stdout, "    %s  %-17s %s\n", l.Phone, l.Role, l.What)
		}
	}
	if err := srv.Serve(ctx, ln); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	log.Info("stopped")
	return nil
}

func versionString() string {
	if version != "dev" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return version
}
