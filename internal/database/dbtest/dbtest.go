// Package dbtest gives tests a fresh, migrated database on each dialect:
// SQLite always, PostgreSQL when CHANNELHUB_TEST_POSTGRES_URL is set.
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"channelhub/internal/database"
)

// Env variables that select the real services.
const (
	PostgresEnv = "CHANNELHUB_TEST_POSTGRES_URL"
	RedisEnv    = "CHANNELHUB_TEST_REDIS_URL"
	RequireEnv  = "CHANNELHUB_TEST_REQUIRE_SERVICES"
)

// Backend names one database a test runs against.
type Backend struct {
	Name string // "sqlite" or "postgres"
	DSN  func(t testing.TB) string
}

// Backends lists SQLite and, when configured, PostgreSQL. With
// CHANNELHUB_TEST_REQUIRE_SERVICES=1 a missing PostgreSQL fails the test.
func Backends(t testing.TB) []Backend {
	bs := []Backend{{Name: database.SQLite, DSN: func(t testing.TB) string {
		return filepath.Join(t.TempDir(), "test.db")
	}}}
	admin := os.Getenv(PostgresEnv)
	if admin == "" {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("%s is not set and %s=1", PostgresEnv, RequireEnv)
		}
		return bs
	}
	return append(bs, Backend{Name: database.Postgres, DSN: func(t testing.TB) string { return postgresDB(t, admin) }})
}

// Each runs fn once per backend with a fresh migrated database.
func Each(t *testing.T, fn func(t *testing.T, db *database.DB)) {
	for _, b := range Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			fn(t, Open(t, b))
		})
	}
}

// Open creates and migrates a fresh database on backend b, closed at cleanup.
func Open(t testing.TB, b Backend) *database.DB {
	t.Helper()
	ctx := context.Background()
	db, err := database.Open(ctx, b.DSN(t))
	if err != nil {
		t.Fatalf("open %s: %v", b.Name, err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatalf("migrate %s: %v", b.Name, err)
	}
	return db
}

// postgresDB creates a database of its own for one test and drops it afterwards.
func postgresDB(t testing.TB, admin string) string {
	t.Helper()
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("%s: invalid URL", PostgresEnv)
	}
	buf := make([]byte, 6)
	_, _ = rand.Read(buf)
	name := "chtest_" + hex.EncodeToString(buf)
	conn, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatalf("postgres admin: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := conn.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		_ = conn.Close()
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = conn.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		_ = conn.Close()
	})
	u.Path = "/" + name
	return u.String()
}
