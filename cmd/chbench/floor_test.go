package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"channelhub/internal/apitest"
	"channelhub/internal/database"
	"channelhub/internal/database/dbtest"
)

// Every variable the script uses is one it sets; JSON in its literals reads
// as no variable; one line, reservation and stock update per order line.
func TestFloorScript(t *testing.T) {
	t.Parallel()
	f := &floorFacts{seller: "s-id", warehouse: "w-id", address: `{"city":"杭州市","street":"O'Brien 1:2"}`,
		expl: `[{"Kind":"PRICE_LIST","Amount":257500}]`, buyers: 64, skus: 25}
	script, err := floorScript(f, 10, 32)
	require.NoError(t, err)
	set := map[string]bool{"client_id": true} // pgbench sets it
	for _, m := range regexp.MustCompile(`(?m)^\\set (\w+)`).FindAllStringSubmatch(script, -1) {
		set[m[1]] = true
	}
	for _, m := range regexp.MustCompile(`\bAS (\w+)`).FindAllStringSubmatch(script, -1) {
		set[m[1]] = true // \gset columns
	}
	body := regexp.MustCompile(`'(?:[^']|'')*'`).ReplaceAllString(script, "''") // literals out
	body = strings.ReplaceAll(body, "::", "")
	for _, m := range regexp.MustCompile(`:(\w+)`).FindAllStringSubmatch(body, -1) {
		require.True(t, set[m[1]], "variable %s is not set", m[1])
	}
	for _, l := range regexp.MustCompile(`'(?:[^']|'')*'`).FindAllString(script, -1) {
		require.NotRegexp(t, `:\w`, l, "pgbench would substitute inside %s", l)
	}
	require.Contains(t, script, `'{"city":"杭州市","street":"O''Brien 1: 2"}'`) // a colon before a quote is no variable
	require.Equal(t, 10, strings.Count(script, "UPDATE stock_levels"))
	require.Equal(t, 10, strings.Count(script, "'LIST', NULL"))
	require.Equal(t, 10, strings.Count(script, "(:oid, 'w-id', :s"))
	require.Contains(t, script, "\\set k10 random(18, 19)") // ten slices of two SKUs
	require.Regexp(t, `(?s)\\startpipeline\nBEGIN;\n.*COMMIT;\n\\endpipeline\n$`, script)

	require.Contains(t, script, "\\set b :client_id + 32 * random(0, 1)\n") // buyers i and i+32 for client i
	few, err := floorScript(&floorFacts{buyers: 3, skus: 10}, 10, 4)
	require.NoError(t, err)
	require.Contains(t, few, "\\set b :client_id % 3\n")

	_, err = floorScript(&floorFacts{buyers: 1, skus: 9}, 10, 1)
	require.ErrorContains(t, err, "the floor needs 10 SKUs")
}

// On PostgreSQL the order scenario, pgbench and the floor run in one
// invocation, and the floor's orders balance like the server's own.
func TestChbenchFloor(t *testing.T) {
	t.Parallel()
	admin := os.Getenv(dbtest.PostgresEnv)
	if admin == "" {
		t.Skip("the floor runs on PostgreSQL only")
	}
	if _, err := findPgbench(""); err != nil {
		if os.Getenv(dbtest.RequireEnv) == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	var pg dbtest.Backend
	for _, b := range dbtest.Backends(t) {
		if b.Name == database.Postgres {
			pg = b
		}
	}
	e := apitest.Start(t, pg, apitest.Options{})
	buf := make([]byte, 4)
	_, _ = rand.Read(buf)
	pgbenchDB := "chtest_pgbench_" + hex.EncodeToString(buf)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, admin); err == nil {
			_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgbenchDB+" WITH (FORCE)")
			_ = c.Close(ctx)
		}
	})
	var out bytes.Buffer
	require.NoError(t, run([]string{"-url", e.URL + "/graphql", "-c", "2", "-d", "1s", "-warmup", "50ms", "-buyers", "2",
		"-stock", "5000", "-scenarios", "typename,order", "-pgbench-url", admin, "-pgbench-db", pgbenchDB,
		"-floor-db-url", e.DatabaseURL()}, &out))
	t.Log(out.String())
	m := row("floor").FindStringSubmatch(out.String())
	require.NotNil(t, m, out.String())
	n, _ := strconv.Atoi(m[1])
	require.Positive(t, n)
	require.Equal(t, "0", m[2], "no floor transaction failed")
	require.Regexp(t, `floor/pgbench: \d+\.\d\d .*order/floor: \d+\.\d\d`, out.String())

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, e.DatabaseURL())
	require.NoError(t, err)
	defer c.Close(ctx)
	var floorOrders, lines, unbalanced int
	require.NoError(t, c.QueryRow(ctx, `SELECT count(*), (SELECT count(*) FROM order_lines l JOIN orders o ON o.id = l.order_id WHERE o.number LIKE 'FL-%')
FROM orders WHERE number LIKE 'FL-%'`).Scan(&floorOrders, &lines))
	require.Equal(t, n, floorOrders, "every floor transaction placed one order")
	require.Equal(t, 10*n, lines)
	require.NoError(t, c.QueryRow(ctx, `SELECT count(*) FROM stock_levels sl WHERE reserved <>
(SELECT coalesce(sum(r.qty), 0) FROM order_reservations r WHERE r.warehouse_id = sl.warehouse_id AND r.sku_id = sl.sku_id)`).Scan(&unbalanced))
	require.Zero(t, unbalanced, "reserved stock is the sum of open reservations")
}
