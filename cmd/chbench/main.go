// Command chbench is Channelhub's load tool: it signs in as a demo user and
// drives named GraphQL scenarios against a running server with a fixed number
// of concurrent clients, then reports throughput and latency percentiles, and
// each scenario's throughput as a ratio of the first one (measured in the same
// run, because the machine's speed drifts).
//
//	chbench -url http://127.0.0.1:8080/graphql -c 32 -d 20s -scenarios typename,catalog
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

// scenarios are the operations chbench can drive; each is one request.
var scenarios = map[string]string{
	"typename": `{ __typename }`,
	"viewer":   `{ viewer { app roles user { name } party { name } } }`,
	"catalog": `{ catalog(first: 50) { edges { node { id code name packSize minOrderQty onShelf
		price { amount currency } availability product { name brand } category { name } } } } }`,
	"cart": `{ cart { lines { skuId qty problem } quote { total { amount } discount { amount } } } }`,
}

type result struct {
	name      string
	requests  int
	errors    int
	latencies []time.Duration
	elapsed   time.Duration
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "chbench:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("chbench", flag.ContinueOnError)
	url := fs.String("url", "http://127.0.0.1:8080/graphql", "GraphQL endpoint")
	phone := fs.String("phone", "13800000001", "demo user to sign in as")
	password := fs.String("password", "channelhub-demo", "password")
	app := fs.String("app", "DISTRIBUTOR", "app to sign in to")
	clients := fs.Int("c", 32, "concurrent clients")
	duration := fs.Duration("d", 10*time.Second, "duration of each scenario")
	warmup := fs.Duration("warmup", 2*time.Second, "warm-up before each scenario")
	names := fs.String("scenarios", "typename,catalog", "comma-separated scenarios: "+strings.Join(slices.Sorted(maps.Keys(scenarios)), ", "))
	if err := fs.Parse(args); err != nil {
		return err
	}
	httpc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *clients * 2}, Timeout: 30 * time.Second}
	token, err := login(httpc, *url, *phone, *password, *app)
	if err != nil {
		return err
	}
	var results []result
	for _, name := range strings.Split(*names, ",") {
		q, ok := scenarios[name]
		if !ok {
			return fmt.Errorf("unknown scenario %q", name)
		}
		drive(httpc, *url, token, q, *clients, *warmup)
		r := drive(httpc, *url, token, q, *clients, *duration)
		r.name = name
		results = append(results, r)
	}
	report(out, results, *clients)
	return nil
}

func post(httpc *http.Client, url, token string, body []byte) ([]byte, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := httpc.Do(req)
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

func login(httpc *http.Client, url, phone, password, app string) (string, error) {
	body, _ := json.Marshal(map[string]any{
		"query":     `mutation($in: AuthLoginInput!) { authLogin(input: $in) { session { accessToken } errors { code } } }`,
		"variables": map[string]any{"in": map[string]any{"phone": phone, "password": password, "app": app}},
	})
	b, err := post(httpc, url, "", body)
	if err != nil {
		return "", fmt.Errorf("login: %w", err)
	}
	var r struct {
		Data struct {
			AuthLogin struct {
				Session *struct{ AccessToken string }
				Errors  []struct{ Code string }
			}
		}
	}
	if err := json.Unmarshal(b, &r); err != nil || r.Data.AuthLogin.Session == nil {
		return "", fmt.Errorf("login refused: %s", b)
	}
	return r.Data.AuthLogin.Session.AccessToken, nil
}

// drive runs clients in closed loops for d and records every latency.
func drive(httpc *http.Client, url, token, query string, clients int, d time.Duration) result {
	body, _ := json.Marshal(map[string]any{"query": query})
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var mu sync.Mutex
	var res result
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Go(func() {
			var lat []time.Duration
			errs := 0
			for ctx.Err() == nil {
				t := time.Now()
				b, err := post(httpc, url, token, body)
				if err == nil && bytes.Contains(b, []byte(`"errors":[{`)) && !bytes.Contains(b, []byte(`"data":{`)) {
					err = errors.New("graphql error")
				}
				if err != nil {
					errs++
					continue
				}
				lat = append(lat, time.Since(t))
			}
			mu.Lock()
			res.latencies = append(res.latencies, lat...)
			res.errors += errs
			mu.Unlock()
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.requests = len(res.latencies)
	slices.Sort(res.latencies)
	return res
}

func pct(l []time.Duration, p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	return l[min(len(l)-1, int(float64(len(l))*p))]
}

func report(out io.Writer, results []result, clients int) {
	fmt.Fprintf(out, "%-10s %8s %9s %8s %8s %8s %7s %6s\n", "scenario", "requests", "req/s", "p50", "p99", "max", "errors", "ratio")
	var base float64
	for i, r := range results {
		rps := float64(r.requests) / r.elapsed.Seconds()
		if i == 0 {
			base = rps
		}
		fmt.Fprintf(out, "%-10s %8d %9.0f %8s %8s %8s %7d %6.2f\n", r.name, r.requests, rps,
			pct(r.latencies, .50).Round(10*time.Microsecond), pct(r.latencies, .99).Round(10*time.Microsecond),
			pct(r.latencies, 1).Round(10*time.Microsecond), r.errors, rps/base)
	}
	fmt.Fprintf(out, "(%d clients; ratio = req/s over the first scenario's, same run)\n", clients)
}
