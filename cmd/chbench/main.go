// Command chbench is Channelhub's load tool: it drives named GraphQL
// scenarios against a running server with a fixed number of concurrent
// clients, then reports throughput and latency percentiles (p50, p95, p99),
// and each scenario's throughput as a ratio of the first one (measured in the
// same run, because the machine's speed drifts).
//
//	chbench -url http://127.0.0.1:8080/graphql -c 32 -d 20s -scenarios typename,catalog
//
// The read scenarios (typename, viewer, catalog, cart) run as one demo user
// (-phone). The order scenario places orders of -lines lines (10 by default)
// from HQ through orderSubmit; see order.go for its setup, which runs before
// the timed part. With -pgbench-url the same run also drives
// `pgbench -b tpcb-like` with the same client count against that PostgreSQL
// server and reports the order scenario's throughput as a ratio of pgbench's;
// with -floor-db-url (the server's database) it then drives the floor, an
// order's writes alone through pgbench, which no server can beat (floor.go):
//
//	chbench -c 32 -d 20s -scenarios typename,order \
//	  -pgbench-url 'postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable' \
//	  -floor-db-url 'postgres://postgres@127.0.0.1:5432/channelhub?sslmode=disable'
//
// The live scenario opens WebSocket subscriptions (one socket per simulated
// phone), reads the server's memory per idle subscription from its /metrics,
// then changes orders and measures how long each subscriber waits for the
// change; see live.go:
//
//	chbench -scenarios live -live-subs 1000,10000
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// readScenarios are the read-only operations chbench can drive as the -phone
// user; each is one request.
var readScenarios = map[string]string{
	"typename": `{ __typename }`,
	"viewer":   `{ viewer { app roles user { name } party { name } } }`,
	"catalog": `{ catalog(first: 50) { edges { node { id code name packSize minOrderQty onShelf
		price { amount currency } availability product { name brand } category { name } } } } }`,
	"cart": `{ cart { lines { skuId qty problem } quote { total { amount } discount { amount } } } }`,
}

// scenarioNames lists every scenario for the usage text.
func scenarioNames() string {
	return strings.Join(slices.Sorted(maps.Keys(readScenarios)), ", ") + ", order, live, visit, serial, serial-dist"
}

// load is a prepared scenario: a request source per client and a judge of answers.
type load interface {
	// client returns client i's request source, called only by that client's
	// goroutine: the bearer token and body of its next request.
	client(i int) func() (token string, body []byte)
	// check judges an HTTP 200 answer: a non-empty code marks it failed;
	// outcome, when not empty, is tallied (e.g. the order's status).
	check(body []byte) (code, outcome string)
}

type result struct {
	name      string
	requests  int // successful requests
	errors    int
	latencies []time.Duration // of successful requests, sorted
	elapsed   time.Duration
	codes     map[string]int // error code → count
	codeOrder []string       // error codes in order of first sight
	outcomes  map[string]int
	note      string // printed under the table
}

func (r *result) addError(code string, n int) {
	if r.codes == nil {
		r.codes = map[string]int{}
	}
	if _, ok := r.codes[code]; !ok {
		r.codeOrder = append(r.codeOrder, code)
	}
	r.codes[code] += n
	r.errors += n
}

func (r *result) merge(o *result) {
	r.latencies = append(r.latencies, o.latencies...)
	for _, c := range o.codeOrder {
		r.addError(c, o.codes[c])
	}
	for k, v := range o.outcomes {
		if r.outcomes == nil {
			r.outcomes = map[string]int{}
		}
		r.outcomes[k] += v
	}
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "chbench:", err)
		os.Exit(1)
	}
}

// options are the parsed flags.
type options struct {
	url, phone, password, app string
	clients                   int
	duration, warmup          time.Duration
	names                     string
	order                     orderOptions
	live                      liveOptions
	pgbench                   pgbenchOptions
	serial                    serialOptions
	floor                     floorOptions
}

func parseFlags(args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("chbench", flag.ContinueOnError)
	fs.StringVar(&o.url, "url", "http://127.0.0.1:8080/graphql", "GraphQL endpoint")
	fs.StringVar(&o.phone, "phone", "13800000001", "demo user the read scenarios sign in as")
	fs.StringVar(&o.password, "password", "channelhub-demo", "password of -phone and of the console users the order scenario's setup signs in as")
	fs.StringVar(&o.app, "app", "DISTRIBUTOR", "app -phone signs in to")
	fs.IntVar(&o.clients, "c", 32, "concurrent clients")
	fs.DurationVar(&o.duration, "d", 10*time.Second, "duration of each scenario (and of pgbench, rounded up to whole seconds)")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "warm-up before each scenario")
	fs.StringVar(&o.names, "scenarios", "typename,catalog", "comma-separated scenarios: "+scenarioNames())
	o.order.flags(fs)
	o.live.flags(fs)
	o.pgbench.flags(fs)
	o.serial.flags(fs)
	o.floor.flags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if o.clients < 1 || o.clients > 1000 {
		return nil, fmt.Errorf("-c %d: want 1..1000", o.clients)
	}
	serials := false
	for name := range strings.SplitSeq(o.names, ",") {
		serials = serials || name == "serial" || name == "serial-dist"
		if _, ok := readScenarios[name]; !ok && name != "order" && name != "live" && name != "visit" && name != "serial" && name != "serial-dist" {
			return nil, fmt.Errorf("unknown scenario %q", name)
		}
	}
	return o, errors.Join(o.order.validate(), o.live.validate(), o.serial.validate(serials))
}

func run(args []string, out io.Writer) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	httpc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.clients * 2}, Timeout: 30 * time.Second}
	defer httpc.CloseIdleConnections()
	api := &client{http: httpc, url: o.url}
	token, err := api.login(o.phone, o.password, o.app)
	if err != nil {
		return err
	}
	var results []result
	var lives []*liveResult
	for name := range strings.SplitSeq(o.names, ",") {
		if name == "live" {
			// Its own setup and rounds; its tables come after the others.
			r, err := runLive(api, o, out)
			lives = append(lives, r...)
			if err != nil {
				reportLive(out, lives)
				return err
			}
			continue
		}
		if name == "visit" {
			// Its own driver: one cycle is several requests, of which presign + check-in are timed.
			tokens, stores, err := prepareVisits(api, o.password, o.clients, out)
			if err != nil {
				return fmt.Errorf("visit setup: %w", err)
			}
			runVisits(api, tokens, stores, o.warmup)
			r := runVisits(api, tokens, stores, o.duration)
			r.name = name
			results = append(results, r)
			continue
		}
		var l load
		if q, ok := readScenarios[name]; ok {
			body, _ := json.Marshal(map[string]any{"query": q})
			l = readLoad{token: token, body: body}
		} else if name == "serial" || name == "serial-dist" {
			// Setup (generating the bench units) is not timed.
			if l, err = prepareSerials(api, o, name, out); err != nil {
				return fmt.Errorf("%s setup: %w", name, err)
			}
		} else {
			// Setup (parties, users, credit, stock, catalogue) is not timed.
			if l, err = prepareOrders(api, o.password, o.clients, o.order, out); err != nil {
				return fmt.Errorf("order setup: %w", err)
			}
		}
		drive(api, l, o.clients, o.warmup)
		r := drive(api, l, o.clients, o.duration)
		r.name = name
		results = append(results, r)
	}
	var pg *result
	if o.pgbench.url != "" {
		if pg, err = runPgbench(o.pgbench, o.clients, o.duration, out); err != nil {
			return fmt.Errorf("pgbench: %w", err)
		}
	}
	var floor *result
	if o.floor.dbURL != "" && pg != nil && slices.ContainsFunc(results, func(r result) bool { return r.name == "order" }) {
		if floor, err = runFloor(*o, out); err != nil {
			return fmt.Errorf("floor: %w", err)
		}
	}
	if len(results) > 0 || pg != nil {
		report(out, results, pg, floor, o.clients)
	}
	reportLive(out, lives)
	return nil
}

// client talks GraphQL over HTTP.
type client struct {
	http *http.Client
	url  string
}

func (c *client) post(token string, body []byte) ([]byte, error) {
	req, err := http.NewRequest(http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return b, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return b, nil
}

// gqlError is one top-level GraphQL error.
type gqlError struct {
	Message    string `json:"message"`
	Extensions struct {
		Code string `json:"code"`
	} `json:"extensions"`
}

// do runs one operation and decodes its data into out; top-level errors fail it.
func (c *client) do(token, query string, vars map[string]any, out any) error {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return err
	}
	b, err := c.post(token, body)
	if err != nil {
		return fmt.Errorf("%w: %.300s", err, b)
	}
	var r struct {
		Data   json.RawMessage `json:"data"`
		Errors []gqlError      `json:"errors"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("decode %.300s: %w", b, err)
	}
	if len(r.Errors) > 0 {
		return fmt.Errorf("%s (%s)", r.Errors[0].Message, r.Errors[0].Extensions.Code)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(r.Data, out)
}

func (c *client) login(phone, password, app string) (string, error) {
	var d struct {
		AuthLogin struct {
			Session *struct{ AccessToken string }
			Errors  []struct{ Code string }
		}
	}
	err := c.do("", `mutation($in: AuthLoginInput!) { authLogin(input: $in) { session { accessToken } errors { code } } }`,
		map[string]any{"in": map[string]any{"phone": phone, "password": password, "app": app}}, &d)
	if err != nil {
		return "", fmt.Errorf("login %s: %w", phone, err)
	}
	if d.AuthLogin.Session == nil {
		return "", fmt.Errorf("login %s to %s refused: %v", phone, app, d.AuthLogin.Errors)
	}
	return d.AuthLogin.Session.AccessToken, nil
}

// readLoad sends one fixed query as one user.
type readLoad struct {
	token string
	body  []byte
}

func (l readLoad) client(int) func() (string, []byte) {
	return func() (string, []byte) { return l.token, l.body }
}

// check fails an answer with top-level errors and no data.
func (readLoad) check(b []byte) (string, string) {
	if !bytes.Contains(b, []byte(`"errors":[{`)) || bytes.Contains(b, []byte(`"data":{`)) {
		return "", ""
	}
	var r struct{ Errors []gqlError }
	_ = json.Unmarshal(b, &r)
	return topCode(r.Errors), ""
}

// topCode names a list of top-level errors by the first one's code.
func topCode(errs []gqlError) string {
	if len(errs) == 0 || errs[0].Extensions.Code == "" {
		return "GRAPHQL_ERROR"
	}
	return errs[0].Extensions.Code
}

// drive runs clients in closed loops for d and records every latency.
func drive(api *client, l load, clients int, d time.Duration) result {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var mu sync.Mutex
	var res result
	var wg sync.WaitGroup
	start := time.Now()
	for i := range clients {
		next := l.client(i)
		wg.Go(func() {
			var mine result
			for ctx.Err() == nil {
				token, body := next()
				t := time.Now()
				b, err := api.post(token, body)
				lat := time.Since(t)
				code, outcome := "", ""
				if err != nil {
					code = transportCode(err)
				} else {
					code, outcome = l.check(b)
				}
				if code != "" {
					mine.addError(code, 1)
					continue
				}
				mine.latencies = append(mine.latencies, lat)
				if outcome != "" {
					if mine.outcomes == nil {
						mine.outcomes = map[string]int{}
					}
					mine.outcomes[outcome]++
				}
			}
			mu.Lock()
			res.merge(&mine)
			mu.Unlock()
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.requests = len(res.latencies)
	slices.Sort(res.latencies)
	return res
}

// transportCode is a short name for a failed HTTP exchange.
func transportCode(err error) string {
	var ue interface{ Timeout() bool }
	switch {
	case strings.HasPrefix(err.Error(), "HTTP "):
		return err.Error()
	case errors.As(err, &ue) && ue.Timeout():
		return "TIMEOUT"
	}
	return "TRANSPORT"
}

func pct(l []time.Duration, p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	return l[min(len(l)-1, int(float64(len(l))*p))]
}

// maxCodes is how many distinct error codes a scenario's report lists.
const maxCodes = 5

func report(out io.Writer, results []result, pg, floor *result, clients int) {
	r10 := func(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
	fmt.Fprintf(out, "%-10s %8s %9s %8s %8s %8s %8s %7s %6s\n", "scenario", "requests", "req/s", "p50", "p95", "p99", "max", "errors", "ratio")
	row := func(r result, ratio string) {
		fmt.Fprintf(out, "%-10s %8d %9.0f %8s %8s %8s %8s %7d %6s\n", r.name, r.requests, r.rate(),
			r10(pct(r.latencies, .50)), r10(pct(r.latencies, .95)), r10(pct(r.latencies, .99)),
			r10(pct(r.latencies, 1)), r.errors, ratio)
	}
	for _, r := range results {
		row(r, fmt.Sprintf("%.2f", r.rate()/results[0].rate()))
	}
	for _, r := range append(deref(pg), deref(floor)...) {
		row(r, "-")
	}
	fmt.Fprintf(out, "(%d clients; ratio = req/s over the first scenario's, same run; errors are not in requests or latencies)\n", clients)
	for _, r := range append(append(slices.Clone(results), deref(pg)...), deref(floor)...) {
		if len(r.codeOrder) > 0 {
			var parts []string
			for _, c := range r.codeOrder[:min(len(r.codeOrder), maxCodes)] {
				parts = append(parts, fmt.Sprintf("%s ×%d", c, r.codes[c]))
			}
			more := ""
			if len(r.codeOrder) > maxCodes {
				more = fmt.Sprintf(" (+%d more codes)", len(r.codeOrder)-maxCodes)
			}
			fmt.Fprintf(out, "%s errors: %s%s\n", r.name, strings.Join(parts, ", "), more)
		}
		if r.note != "" {
			fmt.Fprintln(out, r.note)
		}
		if len(r.outcomes) > 0 {
			var parts []string
			for _, k := range slices.Sorted(maps.Keys(r.outcomes)) {
				parts = append(parts, fmt.Sprintf("%s %d", k, r.outcomes[k]))
			}
			fmt.Fprintf(out, "%s outcomes: %s\n", r.name, strings.Join(parts, ", "))
		}
	}
	if pg == nil {
		return
	}
	for _, r := range results {
		if r.name != "order" {
			continue
		}
		fmt.Fprintf(out, "order/pgbench: %.2f (order %.1f/s, pgbench tpcb-like %.1f tps, %d clients each; target ≥ 0.60); order p99 %s (target < 50ms)\n",
			r.rate()/pg.rate(), r.rate(), pg.rate(), clients, r10(pct(r.latencies, .99)))
		if floor != nil {
			fmt.Fprintf(out, "floor/pgbench: %.2f (an order's writes alone, one round trip, no server: %.1f tps, p99 %s); order/floor: %.2f\n",
				floor.rate()/pg.rate(), floor.rate(), r10(pct(floor.latencies, .99)), r.rate()/floor.rate())
		}
	}
}

func (r result) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.requests) / r.elapsed.Seconds()
}

func deref(r *result) []result {
	if r == nil {
		return nil
	}
	return []result{*r}
}
