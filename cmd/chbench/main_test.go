package main

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"channelhub/internal/apitest"
	"channelhub/internal/database/dbtest"
)

// row matches a scenario's line of the report and captures its requests and errors:
// scenario requests req/s p50 p95 p99 max errors ratio.
func row(name string) *regexp.Regexp {
	return regexp.MustCompile(`(?m)^` + name + `\s+(\d+)\s+\d+\s+\S+\s+\S+\s+\S+\s+\S+\s+(\d+)\s+\S+$`)
}

// chbench drives a real in-process server and reports every scenario without errors.
func TestChbenchAgainstARealServer(t *testing.T) {
	t.Parallel()
	e := apitest.Start(t, dbtest.Backends(t)[0], apitest.Options{})
	var out bytes.Buffer
	require.NoError(t, run([]string{"-url", e.URL + "/graphql", "-c", "2", "-d", "300ms", "-warmup", "50ms",
		"-scenarios", "typename,catalog,cart"}, &out))
	for _, s := range []string{"typename", "catalog", "cart"} {
		m := row(s).FindStringSubmatch(out.String())
		require.NotNil(t, m, "%s in\n%s", s, out.String())
		require.NotEqual(t, "0", m[1], out.String())
		require.Equal(t, "0", m[2], out.String())
	}
	require.Contains(t, out.String(), "p95")
	require.Error(t, run([]string{"-url", e.URL + "/graphql", "-scenarios", "nope", "-d", "10ms"}, &out))
	require.Error(t, run([]string{"-url", e.URL + "/graphql", "-password", "wrong-password", "-d", "10ms"}, &out))
}

// The order scenario sets up bench buyers, credit and stock, then places
// 10-line orders; a second run reuses what the first set up.
func TestChbenchOrders(t *testing.T) {
	t.Parallel()
	e := apitest.Start(t, dbtest.Backends(t)[0], apitest.Options{})
	args := []string{"-url", e.URL + "/graphql", "-c", "3", "-d", "400ms", "-warmup", "50ms", "-buyers", "2",
		"-stock", "5000", "-scenarios", "typename,order"}
	var out bytes.Buffer
	require.NoError(t, run(args, &out))
	t.Log(out.String())
	m := row("order").FindStringSubmatch(out.String())
	require.NotNil(t, m, out.String())
	placed, _ := strconv.Atoi(m[1])
	require.Positive(t, placed, "some orders succeeded:\n%s", out.String())
	require.Regexp(t, `order setup: 2 buyers \(2 created, 2 credit limits raised\), \d+ orderable SKUs \(\d+ topped up\)`, out.String())
	require.Regexp(t, `order outcomes: SUBMITTED [1-9]`, out.String())
	require.NotContains(t, out.String(), "IDEMPOTENCY_KEY_REUSED", "every order has a fresh key, warm-up included")

	out.Reset()
	require.NoError(t, run(append(args, "-d", "100ms"), &out))
	require.Contains(t, out.String(), "order setup: 2 buyers (0 created, 0 credit limits raised)")
	require.NotNil(t, row("order").FindStringSubmatch(out.String()), out.String())
}

func TestOrderQuantities(t *testing.T) {
	t.Parallel()
	l := &orderLoad{tokens: []string{"a", "b", "c", "d", "e"}, lines: 3, clients: 2, run: "x", skus: []sku{
		{ID: "1", PackSize: 1, MinOrderQty: 1}, {ID: "2", PackSize: 10, MinOrderQty: 20}, {ID: "3", PackSize: 5, MinOrderQty: 5},
		{ID: "4", PackSize: 20, MinOrderQty: 20}, {ID: "5", PackSize: 3, MinOrderQty: 4}}}
	deadline := time.Now().Add(5 * time.Second)
	next := l.client(1)
	seen := map[string]int{}
	for i := range 200 {
		require.True(t, time.Now().Before(deadline))
		token, body := next()
		seen[token]++
		require.Contains(t, []string{"b", "d"}, token, "client 1 of 2 orders for buyers 1 and 3")
		require.Contains(t, string(body), fmt.Sprintf(`"idempotencyKey":"chbench-x-%d"`, i+1))
		for _, q := range regexp.MustCompile(`"qty":(\d+),"skuId":"(\d)"`).FindAllStringSubmatch(string(body), -1) {
			n, _ := strconv.Atoi(q[1])
			s := l.skus[q[2][0]-'1']
			require.Zero(t, n%s.PackSize, "%v %d", s, n)
			require.GreaterOrEqual(t, n, s.MinOrderQty)
		}
	}
	require.Equal(t, 100, seen["b"])
}

func TestParsePgbench(t *testing.T) {
	t.Parallel()
	r, err := parsePgbench(`pgbench (15.20 (Debian 15.20-0+deb12u1))
transaction type: <builtin: TPC-B (sort of)>
scaling factor: 1
query mode: simple
number of clients: 32
number of threads: 2
maximum number of tries: 1
duration: 20 s
number of transactions actually processed: 24000
number of failed transactions: 0 (0.000%)
latency average = 26.700 ms
initial connection time = 40.000 ms
tps = 1200.000000 (without initial connection time)
`)
	require.NoError(t, err)
	require.Equal(t, 24000, r.requests)
	require.InDelta(t, 1200, r.rate(), 0.01)
	require.Zero(t, r.errors)
	_, err = parsePgbench("nothing")
	require.Error(t, err)
}

// The live scenario opens sockets that follow the bench buyers' orders (and
// their buyers' myOrdersUpdated), changes orders, and hears of every change.
func TestChbenchLive(t *testing.T) {
	t.Parallel()
	e := apitest.Start(t, dbtest.Backends(t)[0], apitest.Options{})
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run([]string{"-url", e.URL + "/graphql", "-c", "2", "-buyers", "2", "-stock", "5000",
			"-scenarios", "live", "-live-subs", "20", "-live-my-orders", "-live-orders", "4", "-live-changes", "10",
			"-live-rate", "20", "-live-idle", "200ms", "-live-open", "5", "-live-open-over", "100ms", "-live-wait", "10s"}, &out)
	}()
	select {
	case err := <-done:
		require.NoError(t, err, out.String())
	case <-time.After(2 * time.Minute):
		t.Fatal("the live scenario did not finish in 2 minutes")
	}
	t.Log(out.String())
	require.Contains(t, out.String(), "live setup: 4 orders of 2 lines placed")
	require.Contains(t, out.String(), "live 20: opening 10 sockets (10 orderUpdated over 4 orders, 2.5 per order; 10 myOrdersUpdated)")
	m := regexp.MustCompile(`live 20: deliveries (\d+)/(\d+) \(missed 0\); changes 10 \(0 failed\)`).FindStringSubmatch(out.String())
	require.NotNil(t, m, out.String())
	require.Equal(t, m[1], m[2])
	got, _ := strconv.Atoi(m[1])
	// Each change reaches the order's 2 or 3 followers and the 5 phones of its buyer.
	require.GreaterOrEqual(t, got, 10*(2+5), out.String())
	require.Regexp(t, `(?m)^\s+20\s+\S+\s+orderUpdated\s+10\s+2\d\s`, out.String())
	require.Regexp(t, `(?m)^\s+20\s+\S+\s+myOrdersUpdated\s+10\s+50\s`, out.String())
	require.NotContains(t, out.String(), "troubles")

	require.Error(t, run([]string{"-url", e.URL + "/graphql", "-scenarios", "live", "-live-subs", "0"}, &out))
	require.Error(t, run([]string{"-url", e.URL + "/graphql", "-scenarios", "live", "-live-per-socket", "100", "-live-my-orders"}, &out))
}

// -live-fanout keeps the followers per order whatever the round's size.
func TestLiveFollowed(t *testing.T) {
	t.Parallel()
	orders := make([]liveOrder, 5000)
	o := liveOptions{perSocket: 1, fanout: 2}
	require.Len(t, o.followed(orders, 1000), 500)
	require.Len(t, o.followed(orders, 10000), 5000)
	require.Len(t, o.followed(orders, 20000), 5000, "no more than were placed")
	o.myOrders = true // 2 subscriptions a socket, one of them myOrdersUpdated
	require.Len(t, o.followed(orders, 1000), 250)
	o.fanout = 0
	require.Len(t, o.followed(orders, 10), 5000)
}
