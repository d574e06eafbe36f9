package main

// The live scenario measures real time: order status events from commit to a
// WebSocket client, and the server's memory per idle subscription.
//
// Setup (not timed) is the order scenario's (bench buyers, credit, stock),
// then -live-orders orders of -live-lines lines placed by the bench buyers in
// turn (order k belongs to buyer k mod -buyers). Then, for each count N in
// -live-subs, one round:
//
//  1. Once the outbox dispatcher has gone quiet (channelhub_outbox_events_total
//     still for a second, so the setup's events neither reach the sockets nor
//     queue ahead of the changes), the server's RSS, Go heap in use, stacks and
//     goroutines are read from its /metrics (process_resident_memory_bytes,
//     go_memstats_heap_inuse_bytes, go_memstats_stack_inuse_bytes,
//     go_goroutines).
//  2. N subscriptions are opened over ceil(N / k) sockets, k = -live-per-socket
//     (+1 with -live-my-orders), -live-open sockets at a time, spread over
//     -live-open-over. Each socket is a simulated phone: phone j signs in
//     (connection_init) as bench buyer j mod -buyers and follows
//     -live-per-socket of that buyer's orders with orderUpdated (phones of one
//     buyer take its orders in turn, so every order gets about the same number
//     of followers), plus myOrdersUpdated with -live-my-orders. Phones of one
//     buyer share its access token. With -live-fanout F the round follows only
//     the first N/F orders, so each has about F followers whatever N is.
//  3. After -live-idle the server's metrics are read again: (after − before)
//     / N is the memory per idle subscription; process_cpu_seconds_total over
//     the second half of the idle wait is the server's idle CPU.
//  4. -live-changes note-only orderChangeRequest mutations, paced at
//     -live-rate per second, each by the buyer on a followed order (the orders
//     in a random order, so one order changes again only after all others).
//     Every subscription that should hear a change (orderUpdated on that
//     order, myOrdersUpdated of phones of its buyer) is a delivery; it arrives
//     when the socket receives a `next` for that order whose updatedAt is at
//     least the one the mutation answered with (each message is the order as
//     read after commit). Latency is measured three ways:
//     - sent → next: from just before the mutation's HTTP request is sent to
//     the socket's receipt of the message. An upper bound of commit → client
//     (it includes the mutation's own work). This is the headline figure.
//     - response → next: from the mutation's HTTP response (after commit) to
//     receipt: a lower bound of commit → client; negative when the message
//     beat the response.
//     - updatedAt → next: from the order's updatedAt (the server's clock when
//     the change's transaction began) to receipt on this machine's clock;
//     meaningful only when chbench and the server share a host.
//     A delivery not received within -live-wait of its mutation's send is
//     missed.
//  5. The sockets are closed before the next round.
//
// The cost of a change grows with its followers (each re-reads the order),
// so compare rounds at the same fan-out (-live-fanout). Phones that connect
// at random times spread the server's session checks; open over the check
// interval (-live-open-over 30s) and idle past it to measure that steady
// state, and idle past 2 minutes (the runtime's forced GC) for a heap figure
// without the garbage of the opening.
//
// The rounds run in one server process, so a later round's "before" includes
// what the runtime kept from earlier rounds (Go returns freed memory to the
// OS slowly); for a clean figure, run each count against a fresh server.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

type liveOptions struct {
	subs        string
	counts      []int
	perSocket   int
	myOrders    bool
	orders      int
	lines       int
	changes     int
	rate        float64
	open        int
	openOver    time.Duration
	fanout      int
	openTimeout time.Duration
	wait        time.Duration
	idle        time.Duration
	metricsURL  string
}

func (o *liveOptions) flags(fs *flag.FlagSet) {
	fs.StringVar(&o.subs, "live-subs", "1000,10000", "live scenario: comma-separated subscription counts, one round each")
	fs.IntVar(&o.perSocket, "live-per-socket", 1, "live scenario: orderUpdated subscriptions per socket (one socket per simulated phone)")
	fs.BoolVar(&o.myOrders, "live-my-orders", false, "live scenario: every socket also subscribes to myOrdersUpdated (counted in -live-subs)")
	fs.IntVar(&o.orders, "live-orders", 500, "live scenario setup: orders the bench buyers place for the sockets to follow")
	fs.IntVar(&o.lines, "live-lines", 2, "live scenario setup: lines per placed order")
	fs.IntVar(&o.changes, "live-changes", 200, "live scenario: order changes per round (orderChangeRequest of the note, by the buyer)")
	fs.Float64Var(&o.rate, "live-rate", 20, "live scenario: order changes per second")
	fs.IntVar(&o.open, "live-open", 100, "live scenario: sockets opened (and closed) at once")
	fs.DurationVar(&o.openOver, "live-open-over", 0, "live scenario: spread the opening of a round's sockets over this long (0: as fast as -live-open allows);\n"+
		"over the server's session check interval (CHANNELHUB_LIVE_SESSION_CHECK, 30s) the checks spread out as real phones' would")
	fs.IntVar(&o.fanout, "live-fanout", 0, "live scenario: orderUpdated subscriptions per followed order: a round follows only the first subscriptions/fanout\n"+
		"of the -live-orders orders (0: all of them)")
	fs.DurationVar(&o.openTimeout, "live-open-timeout", 15*time.Second, "live scenario: bound on opening one socket (dial, connection_init, ack, subscribe)")
	fs.DurationVar(&o.wait, "live-wait", 5*time.Second, "live scenario: a delivery not received this long after its mutation was sent is missed")
	fs.DurationVar(&o.idle, "live-idle", 10*time.Second, "live scenario: idle wait after opening, before the server's memory is read")
	fs.StringVar(&o.metricsURL, "metrics-url", "", "live scenario: the server's Prometheus endpoint (default: /metrics on -url's host)")
}

func (o *liveOptions) validate() error {
	o.counts = nil
	for s := range strings.SplitSeq(o.subs, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 1_000_000 {
			return fmt.Errorf("-live-subs %q: want comma-separated counts 1..1000000", o.subs)
		}
		o.counts = append(o.counts, n)
	}
	perSocket := o.perSocket
	if o.myOrders {
		perSocket++
	}
	switch {
	case o.perSocket < 1 || perSocket > 100:
		return fmt.Errorf("-live-per-socket %d: want 1..%d (a socket holds at most 100 subscriptions)", o.perSocket, 100-(perSocket-o.perSocket))
	case o.orders < 1 || o.orders > 100_000:
		return fmt.Errorf("-live-orders %d: want 1..100000", o.orders)
	case o.lines < 1 || o.lines > 200:
		return fmt.Errorf("-live-lines %d: want 1..200", o.lines)
	case o.changes < 1:
		return fmt.Errorf("-live-changes %d: want at least 1", o.changes)
	case !(o.rate > 0):
		return fmt.Errorf("-live-rate %v: want more than 0", o.rate)
	case o.open < 1:
		return fmt.Errorf("-live-open %d: want at least 1", o.open)
	case o.openOver < 0:
		return fmt.Errorf("-live-open-over %v: want 0 or more", o.openOver)
	case o.fanout < 0:
		return fmt.Errorf("-live-fanout %d: want 0 or more", o.fanout)
	case o.openTimeout <= 0 || o.wait <= 0 || o.idle < 0:
		return errors.New("-live-open-timeout and -live-wait must be positive, -live-idle not negative")
	}
	return nil
}

// followed returns the orders a round of n subscriptions follows: with
// -live-fanout, the first n/fanout (as many orderUpdated subscriptions as
// there are, per fanout), else all.
func (o *liveOptions) followed(orders []liveOrder, n int) []liveOrder {
	if o.fanout == 0 {
		return orders
	}
	k := o.subsPerSocket()
	sockets := (n + k - 1) / k
	orderSubs := n
	if o.myOrders {
		orderSubs -= sockets
	}
	m := max((orderSubs+o.fanout-1)/o.fanout, 1)
	return orders[:min(m, len(orders))]
}

// subsPerSocket is how many subscriptions a full socket holds.
func (o *liveOptions) subsPerSocket() int {
	if o.myOrders {
		return o.perSocket + 1
	}
	return o.perSocket
}

// liveOrder is an order the phones follow.
type liveOrder struct {
	id    string
	buyer int // index into the bench buyers' tokens
}

// runLive runs the live scenario's setup and its rounds; it prints progress
// as it goes and returns one result per round.
func runLive(api *client, o *options, out io.Writer) ([]*liveResult, error) {
	lo := o.live
	metricsURL, err := lo.metricsEndpoint(api.url)
	if err != nil {
		return nil, err
	}
	wsURL, err := wsEndpoint(api.url)
	if err != nil {
		return nil, err
	}
	// Every socket is a file descriptor, and so is every HTTP connection.
	need := uint64(slices.Max(lo.counts)/lo.subsPerSocket() + 1 + 2*o.clients + 64)
	if got, err := ensureFDs(need); err != nil {
		return nil, fmt.Errorf("file descriptors: need %d, have %d (raise ulimit -n): %w", need, got, err)
	}
	ol, err := prepareOrders(api, o.password, o.clients, o.order, out)
	if err != nil {
		return nil, fmt.Errorf("order setup: %w", err)
	}
	tokens := &buyerTokens{tokens: ol.tokens, at: time.Now()}
	orders, err := placeLiveOrders(api, ol, lo, o.clients, out)
	if err != nil {
		return nil, err
	}
	var results []*liveResult
	for _, n := range lo.counts {
		if time.Since(tokens.at) > 5*time.Minute { // access tokens last 15 minutes by default
			if err := tokens.refresh(api, o.order); err != nil {
				return results, err
			}
		}
		r := &liveRound{api: api, o: lo, n: n, wsURL: wsURL, metricsURL: metricsURL, orders: lo.followed(orders, n),
			tokens: tokens.tokens, out: out, note: ol.run}
		res, err := r.run()
		if err != nil {
			return results, fmt.Errorf("live %d: %w", n, err)
		}
		results = append(results, res)
	}
	return results, nil
}

func (o *liveOptions) metricsEndpoint(graphqlURL string) (string, error) {
	if o.metricsURL != "" {
		return o.metricsURL, nil
	}
	u, err := url.Parse(graphqlURL)
	if err != nil {
		return "", fmt.Errorf("-url: %w", err)
	}
	u.Path, u.RawQuery, u.Fragment = "/metrics", "", ""
	return u.String(), nil
}

func wsEndpoint(graphqlURL string) (string, error) {
	u, err := url.Parse(graphqlURL)
	if err != nil {
		return "", fmt.Errorf("-url: %w", err)
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	}
	return u.String(), nil
}

// buyerTokens are the bench buyers' access tokens and when they were issued.
type buyerTokens struct {
	tokens []string
	at     time.Time
}

func (b *buyerTokens) refresh(api *client, o orderOptions) error {
	at := time.Now()
	fresh := make([]string, len(b.tokens))
	errs := make([]error, len(b.tokens))
	sem := make(chan struct{}, o.setupWorkers)
	var wg sync.WaitGroup
	for i := range fresh {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			fresh[i], errs[i] = api.login(benchPhone(i+1), o.benchPassword, "DISTRIBUTOR")
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	b.tokens, b.at = fresh, at
	return nil
}

const liveSubmitQ = `mutation ChbenchLiveSubmit($in: OrderSubmitInput!) { orderSubmit(input: $in) { order { id status } errors { code } } }`

// placeLiveOrders places lo.orders orders, order k as bench buyer k mod
// buyers, with workers at once.
func placeLiveOrders(api *client, ol *orderLoad, lo liveOptions, workers int, out io.Writer) ([]liveOrder, error) {
	if len(ol.skus) < lo.lines {
		return nil, fmt.Errorf("only %d orderable SKUs for %d lines", len(ol.skus), lo.lines)
	}
	start := time.Now()
	placed := make([]liveOrder, lo.orders)
	var mu sync.Mutex
	statuses := map[string]int{}
	var failed []error
	next := atomic.Int64{}
	var wg sync.WaitGroup
	for w := range min(workers, lo.orders) {
		rng := mrand.New(mrand.NewPCG(mrand.Uint64(), uint64(w)))
		wg.Go(func() {
			for {
				k := int(next.Add(1)) - 1
				if k >= lo.orders {
					return
				}
				buyer := k % len(ol.tokens)
				lines := make([]map[string]any, 0, lo.lines)
				for _, i := range rng.Perm(len(ol.skus))[:lo.lines] {
					lines = append(lines, map[string]any{"skuId": ol.skus[i].ID, "qty": ol.skus[i].qty(rng)})
				}
				var d struct {
					OrderSubmit struct {
						Order *struct{ ID, Status string }
						payload
					}
				}
				err := api.do(ol.tokens[buyer], liveSubmitQ, map[string]any{"in": map[string]any{"lines": lines,
					"idempotencyKey": fmt.Sprintf("chbench-live-%s-%d", ol.run, k)}}, &d)
				if err == nil {
					err = payloadErr("orderSubmit", d.OrderSubmit.Errors)
				}
				if err == nil && d.OrderSubmit.Order == nil {
					err = errors.New("orderSubmit: no order")
				}
				mu.Lock()
				if err != nil {
					failed = append(failed, err)
				} else {
					placed[k] = liveOrder{id: d.OrderSubmit.Order.ID, buyer: buyer}
					statuses[d.OrderSubmit.Order.Status]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	orders := slices.DeleteFunc(placed, func(o liveOrder) bool { return o.id == "" })
	var parts []string
	for _, s := range slices.Sorted(maps.Keys(statuses)) {
		parts = append(parts, fmt.Sprintf("%s %d", s, statuses[s]))
	}
	fmt.Fprintf(out, "live setup: %d orders of %d lines placed (%s), %d failed, %s\n", len(orders), lo.lines,
		strings.Join(parts, ", "), len(failed), time.Since(start).Round(time.Millisecond))
	if len(orders) == 0 {
		return nil, fmt.Errorf("no order placed: %w", errors.Join(failed[:min(len(failed), 3)]...))
	}
	return orders, nil
}

// liveRound is one round of the live scenario: N subscriptions.
type liveRound struct {
	api        *client
	o          liveOptions
	n          int
	wsURL      string
	metricsURL string
	orders     []liveOrder
	tokens     []string
	out        io.Writer
	note       string // the setup's run id, part of each change's note

	phones    []*phone
	followers [][]subRef       // by order index: the orderUpdated subscriptions on it
	myPhones  map[int][]*phone // by buyer: the phones with myOrdersUpdated
	trouble   tally
	nexts     atomic.Int64
	refetches atomic.Int64
	changing  atomic.Bool  // the changes have begun
	early     atomic.Int64 // next messages before that
}

// phone is one simulated phone: one socket.
type phone struct {
	buyer   int
	follow  []int // order indexes; subscription "o<i>" follows follow[i]
	my      bool  // subscription "m" is myOrdersUpdated
	conn    *websocket.Conn
	closing atomic.Bool
	done    chan struct{}

	mu     sync.Mutex
	events []liveEvent
}

type subRef struct {
	p   *phone
	sub string
}

// liveEvent is one order in a `next` message.
type liveEvent struct {
	sub       string
	order     string
	updatedAt time.Time
	recv      time.Time
}

// tally counts troubles by kind and keeps the first example of each.
type tally struct {
	mu      sync.Mutex
	kinds   []string
	count   map[string]int
	example map[string]string
}

func (t *tally) add(kind, example string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.count == nil {
		t.count, t.example = map[string]int{}, map[string]string{}
	}
	if _, ok := t.count[kind]; !ok {
		t.kinds = append(t.kinds, kind)
		t.example[kind] = example
	}
	t.count[kind]++
}

func (t *tally) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var parts []string
	for _, k := range t.kinds {
		parts = append(parts, fmt.Sprintf("%s ×%d (first: %.200s)", k, t.count[k], t.example[k]))
	}
	return strings.Join(parts, "; ")
}

func (t *tally) total() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, c := range t.count {
		n += c
	}
	return n
}

// serverStats is one read of the server's /metrics.
type serverStats struct {
	at                               time.Time
	rss, heapInuse, goroutines, cpuS float64
	stack, gcs                       float64 // go_memstats_stack_inuse_bytes, go_gc_duration_seconds_count: 0 when absent
	outbox                           float64 // channelhub_outbox_events_total over all outcomes
	hasOutbox                        bool
	err                              error
}

func scrape(u string) serverStats {
	s := serverStats{at: time.Now()}
	hc := &http.Client{Timeout: 10 * time.Second}
	resp, err := hc.Get(u)
	if err != nil {
		s.err = err
		return s
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		s.err = fmt.Errorf("GET %s: HTTP %d %v", u, resp.StatusCode, err)
		return s
	}
	want := map[string]*float64{"process_resident_memory_bytes": &s.rss, "go_memstats_heap_inuse_bytes": &s.heapInuse,
		"go_goroutines": &s.goroutines, "process_cpu_seconds_total": &s.cpuS}
	optional := map[string]*float64{"go_memstats_stack_inuse_bytes": &s.stack, "go_gc_duration_seconds_count": &s.gcs}
	found := 0
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		if strings.HasPrefix(f[0], "channelhub_outbox_events_total{") {
			if v, err := strconv.ParseFloat(f[1], 64); err == nil {
				s.outbox += v
				s.hasOutbox = true
			}
		}
		if p, ok := optional[f[0]]; ok {
			if v, err := strconv.ParseFloat(f[1], 64); err == nil {
				*p = v
			}
		}
		if p, ok := want[f[0]]; ok {
			if v, err := strconv.ParseFloat(f[1], 64); err == nil {
				*p = v
				found++
			}
		}
	}
	if found < len(want) {
		s.err = fmt.Errorf("%s: %d of %d metrics found", u, found, len(want))
	}
	return s
}

// liveChange is one order change.
type liveChange struct {
	order      int
	sent, resp time.Time
	updatedAt  time.Time
	err        error
}

// latencies of one kind of subscription.
type latencies struct {
	expected, missed int
	sent, resp, srv  []time.Duration // sent → next, response → next, updatedAt → next
}

// liveResult is one round's outcome.
type liveResult struct {
	subs, sockets, orderSubs, mySubs, followed int
	setup                                      time.Duration
	openFailed, openSubs                       int // sockets that failed, subscriptions on the others
	before, opened, mid, after, end            serverStats
	changes, changeFailed                      int
	mutation                                   []time.Duration
	byKind                                     map[string]*latencies
	nexts, refetches, early                    int64
	clientCPU                                  [2]time.Duration // chbench's own CPU time at after and at end
	trouble                                    string
	troubles                                   int
}

const (
	kindOrder = "orderUpdated"
	kindMy    = "myOrdersUpdated"
)

func (r *liveRound) logf(format string, args ...any) {
	fmt.Fprintf(r.out, "live %d: "+format+"\n", append([]any{r.n}, args...)...)
}

// plan lays out the phones and who follows what.
func (r *liveRound) plan() {
	// The buyers that have orders, and their orders.
	byBuyer := map[int][]int{}
	for i, o := range r.orders {
		byBuyer[o.buyer] = append(byBuyer[o.buyer], i)
	}
	buyers := slices.Sorted(maps.Keys(byBuyer))
	r.followers = make([][]subRef, len(r.orders))
	r.myPhones = map[int][]*phone{}
	left := r.n
	for j := 0; left > 0; j++ {
		b := buyers[j%len(buyers)]
		mine := byBuyer[b]
		round := j / len(buyers) // this phone is the buyer's round-th
		p := &phone{buyer: b, done: make(chan struct{})}
		for t := range r.o.perSocket {
			if left == 0 {
				break
			}
			oi := mine[(round*r.o.perSocket+t)%len(mine)]
			sub := "o" + strconv.Itoa(len(p.follow))
			p.follow = append(p.follow, oi)
			r.followers[oi] = append(r.followers[oi], subRef{p: p, sub: sub})
			left--
		}
		if r.o.myOrders && left > 0 {
			p.my = true
			r.myPhones[b] = append(r.myPhones[b], p)
			left--
		}
		r.phones = append(r.phones, p)
	}
}

func (r *liveRound) run() (*liveResult, error) {
	r.plan()
	res := &liveResult{subs: r.n, sockets: len(r.phones), byKind: map[string]*latencies{}}
	for _, p := range r.phones {
		res.orderSubs += len(p.follow)
		if p.my {
			res.mySubs++
		}
	}
	for _, f := range r.followers {
		if len(f) > 0 {
			res.followed++
		}
	}
	defer r.closeAll()

	r.quiet()
	res.before = scrape(r.metricsURL)
	if res.before.err != nil {
		r.logf("server metrics unavailable: %v", res.before.err)
	}
	r.logf("opening %d sockets (%d orderUpdated over %d orders, %.1f per order; %d myOrdersUpdated), %d at a time",
		len(r.phones), res.orderSubs, res.followed, float64(res.orderSubs)/float64(max(res.followed, 1)), res.mySubs, r.o.open)
	start := time.Now()
	res.openFailed = r.openAll()
	res.setup = time.Since(start)
	for _, p := range r.phones {
		if p.conn != nil {
			res.openSubs += len(p.follow)
			if p.my {
				res.openSubs++
			}
		}
	}
	res.opened = scrape(r.metricsURL)
	r.logf("%d sockets open in %s (%d failed); idle %s", len(r.phones)-res.openFailed, res.setup.Round(time.Millisecond), res.openFailed, r.o.idle)
	if res.openFailed == len(r.phones) {
		return nil, fmt.Errorf("no socket opened: %s", r.trouble.String())
	}
	time.Sleep(r.o.idle / 2)
	res.mid = scrape(r.metricsURL)
	time.Sleep(r.o.idle - r.o.idle/2)
	res.after = scrape(r.metricsURL)

	res.clientCPU[0] = selfCPU()
	r.changing.Store(true)
	changes := r.change(res)
	r.await(changes)
	res.end = scrape(r.metricsURL)
	res.clientCPU[1] = selfCPU()
	r.measure(changes, res)
	res.nexts, res.refetches, res.early = r.nexts.Load(), r.refetches.Load(), r.early.Load()
	res.trouble, res.troubles = r.trouble.String(), r.trouble.total()
	got, want := 0, 0
	for _, l := range res.byKind {
		got += l.expected - l.missed
		want += l.expected
	}
	r.logf("deliveries %d/%d (missed %d); changes %d (%d failed); next messages %d (%d before the changes), refetch %d; open failures %d",
		got, want, want-got, res.changes, res.changeFailed, res.nexts, res.early, res.refetches, res.openFailed)
	if res.troubles > 0 {
		r.logf("troubles: %s", res.trouble)
	}
	return res, nil
}

// quiet waits, at most 2 minutes, until the server's outbox dispatcher has
// dispatched nothing for a second, so that the events of the setup (or of an
// earlier round) neither reach the new sockets nor queue ahead of the changes.
func (r *liveRound) quiet() {
	start := time.Now()
	prev := scrape(r.metricsURL)
	if prev.err != nil || !prev.hasOutbox {
		return
	}
	first := prev.outbox
	for time.Since(start) < 2*time.Minute {
		time.Sleep(time.Second)
		cur := scrape(r.metricsURL)
		if cur.err != nil {
			return
		}
		if cur.outbox == prev.outbox {
			if cur.outbox > first {
				r.logf("outbox quiet after %s (%.0f events dispatched meanwhile)", time.Since(start).Round(time.Second), cur.outbox-first)
			}
			return
		}
		prev = cur
	}
	r.logf("outbox still dispatching after %s; going on", time.Since(start).Round(time.Second))
}

// openAll opens every phone's socket, r.o.open at a time; it returns how many failed.
func (r *liveRound) openAll() int {
	var failed atomic.Int64
	sem := make(chan struct{}, r.o.open)
	var wg sync.WaitGroup
	start := time.Now()
	for i, p := range r.phones {
		if r.o.openOver > 0 {
			time.Sleep(time.Until(start.Add(r.o.openOver * time.Duration(i) / time.Duration(len(r.phones)))))
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := r.dial(p); err != nil {
				failed.Add(1)
				r.trouble.add("open failed", err.Error())
			}
		})
	}
	wg.Wait()
	return int(failed.Load())
}

type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

func wsWrite(ctx context.Context, c *websocket.Conn, m any) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return c.Write(ctx, websocket.MessageText, b)
}

const (
	orderUpdatedQ    = `subscription ChbenchOrderUpdated($id: ID!) { orderUpdated(id: $id) { id status updatedAt } }`
	myOrdersUpdatedQ = `subscription ChbenchMyOrdersUpdated { myOrdersUpdated { refetch order { id status updatedAt } } }`
)

// dial opens p's socket: connection_init as its buyer, then its subscriptions.
func (r *liveRound) dial(p *phone) error {
	ctx, cancel := context.WithTimeout(context.Background(), r.o.openTimeout)
	defer cancel()
	c, _, err := websocket.Dial(ctx, r.wsURL, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	fail := func(what string, err error) error {
		_ = c.CloseNow()
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := wsWrite(ctx, c, map[string]any{"type": "connection_init",
		"payload": map[string]any{"Authorization": "Bearer " + r.tokens[p.buyer]}}); err != nil {
		return fail("connection_init", err)
	}
	for acked := false; !acked; {
		_, b, err := c.Read(ctx)
		if err != nil {
			return fail("connection_ack", err)
		}
		var m wsMessage
		if err := json.Unmarshal(b, &m); err != nil {
			return fail("connection_ack", fmt.Errorf("%w: %.200s", err, b))
		}
		switch m.Type {
		case "connection_ack":
			acked = true
		case "ping":
			if err := wsWrite(ctx, c, wsMessage{Type: "pong"}); err != nil {
				return fail("pong", err)
			}
		default:
			return fail("connection_ack", fmt.Errorf("unexpected %.200s", b))
		}
	}
	for i, oi := range p.follow {
		if err := wsWrite(ctx, c, map[string]any{"id": "o" + strconv.Itoa(i), "type": "subscribe",
			"payload": map[string]any{"query": orderUpdatedQ, "variables": map[string]any{"id": r.orders[oi].id}}}); err != nil {
			return fail("subscribe", err)
		}
	}
	if p.my {
		if err := wsWrite(ctx, c, map[string]any{"id": "m", "type": "subscribe",
			"payload": map[string]any{"query": myOrdersUpdatedQ}}); err != nil {
			return fail("subscribe", err)
		}
	}
	p.conn = c
	go r.read(p)
	return nil
}

type orderState struct {
	ID, Status, UpdatedAt string
}

// read is p's only reader: it answers pings and logs every order it hears of.
func (r *liveRound) read(p *phone) {
	defer close(p.done)
	for {
		_, b, err := p.conn.Read(context.Background())
		now := time.Now()
		if err != nil {
			if !p.closing.Load() {
				r.trouble.add("socket closed early", err.Error())
			}
			return
		}
		var m wsMessage
		if err := json.Unmarshal(b, &m); err != nil {
			r.trouble.add("bad message", fmt.Sprintf("%v: %.200s", err, b))
			continue
		}
		switch m.Type {
		case "ping":
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := wsWrite(ctx, p.conn, wsMessage{Type: "pong"}); err != nil && !p.closing.Load() {
				r.trouble.add("pong failed", err.Error())
			}
			cancel()
		case "pong":
		case "next":
			r.nexts.Add(1)
			if !r.changing.Load() {
				r.early.Add(1)
			}
			r.next(p, m, now)
		case "error":
			r.trouble.add("error message", fmt.Sprintf("%s: %.200s", m.ID, m.Payload))
		case "complete":
			r.trouble.add("subscription completed", m.ID)
		default:
			r.trouble.add("unexpected message", fmt.Sprintf("%.200s", b))
		}
	}
}

func (r *liveRound) next(p *phone, m wsMessage, recv time.Time) {
	var pl struct {
		Data *struct {
			OrderUpdated    *orderState
			MyOrdersUpdated *struct {
				Refetch bool
				Order   *orderState
			}
		}
		Errors []gqlError
	}
	if err := json.Unmarshal(m.Payload, &pl); err != nil {
		r.trouble.add("bad next", fmt.Sprintf("%v: %.200s", err, m.Payload))
		return
	}
	if len(pl.Errors) > 0 {
		r.trouble.add("next with errors", fmt.Sprintf("%s: %s (%s)", m.ID, pl.Errors[0].Message, pl.Errors[0].Extensions.Code))
	}
	var o *orderState
	switch {
	case pl.Data == nil:
		return
	case pl.Data.OrderUpdated != nil:
		o = pl.Data.OrderUpdated
	case pl.Data.MyOrdersUpdated != nil:
		if pl.Data.MyOrdersUpdated.Refetch {
			r.refetches.Add(1)
		}
		o = pl.Data.MyOrdersUpdated.Order
	}
	if o == nil {
		return
	}
	at, err := time.Parse(time.RFC3339Nano, o.UpdatedAt)
	if err != nil {
		r.trouble.add("bad updatedAt", o.UpdatedAt)
		return
	}
	p.mu.Lock()
	p.events = append(p.events, liveEvent{sub: m.ID, order: o.ID, updatedAt: at, recv: recv})
	p.mu.Unlock()
}

const liveChangeQ = `mutation ChbenchLiveChange($id: ID!, $note: String) { orderChangeRequest(id: $id, input: {note: $note}) {
	order { id status updatedAt } errors { code } } }`

// change sends the round's order changes, paced, and returns them once every
// mutation has answered.
func (r *liveRound) change(res *liveResult) []*liveChange {
	var followed []int
	for i, f := range r.followers {
		if len(f) > 0 || len(r.myPhones[r.orders[i].buyer]) > 0 {
			followed = append(followed, i)
		}
	}
	perm := mrand.Perm(len(followed))
	changes := make([]*liveChange, r.o.changes)
	interval := time.Duration(float64(time.Second) / r.o.rate)
	r.logf("%d changes at %g/s over %d followed orders, from %s", len(changes), r.o.rate, len(followed),
		time.Now().UTC().Format("15:04:05.000"))
	start := time.Now()
	var wg sync.WaitGroup
	for k := range changes {
		time.Sleep(time.Until(start.Add(time.Duration(k) * interval)))
		c := &liveChange{order: followed[perm[k%len(perm)]]}
		changes[k] = c
		wg.Go(func() {
			var d struct {
				OrderChangeRequest struct {
					Order *orderState
					payload
				}
			}
			c.sent = time.Now()
			err := r.api.do(r.tokens[r.orders[c.order].buyer], liveChangeQ,
				map[string]any{"id": r.orders[c.order].id, "note": fmt.Sprintf("chbench live %s #%d of %d subscriptions", r.note, k, r.n)}, &d)
			c.resp = time.Now()
			if err == nil {
				err = payloadErr("orderChangeRequest", d.OrderChangeRequest.Errors)
			}
			if err == nil && d.OrderChangeRequest.Order == nil {
				err = errors.New("orderChangeRequest: no order")
			}
			if err == nil {
				c.updatedAt, err = time.Parse(time.RFC3339Nano, d.OrderChangeRequest.Order.UpdatedAt)
			}
			c.err = err
		})
	}
	wg.Wait()
	res.changes = len(changes)
	for _, c := range changes {
		if c.err != nil {
			res.changeFailed++
			r.trouble.add("change failed", c.err.Error())
			continue
		}
		res.mutation = append(res.mutation, c.resp.Sub(c.sent))
	}
	slices.Sort(res.mutation)
	return changes
}

// expected calls fn for every subscription that should hear of change c (on
// the sockets that opened).
func (r *liveRound) expected(c *liveChange, fn func(kind string, s subRef)) {
	for _, s := range r.followers[c.order] {
		if s.p.conn != nil {
			fn(kindOrder, s)
		}
	}
	for _, p := range r.myPhones[r.orders[c.order].buyer] {
		if p.conn != nil {
			fn(kindMy, subRef{p: p, sub: "m"})
		}
	}
}

// arrival is when subscription s first heard of change c, if it did.
func (r *liveRound) arrival(c *liveChange, s subRef) (liveEvent, bool) {
	id := r.orders[c.order].id
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	for _, e := range s.p.events {
		if e.sub == s.sub && e.order == id && !e.updatedAt.Before(c.updatedAt) {
			return e, true
		}
	}
	return liveEvent{}, false
}

// await waits until every delivery has arrived or -live-wait has passed
// since the last change was sent.
func (r *liveRound) await(changes []*liveChange) {
	var last time.Time
	for _, c := range changes {
		if c.sent.After(last) {
			last = c.sent
		}
	}
	deadline := last.Add(r.o.wait)
	for {
		pending := 0
		for _, c := range changes {
			if c.err != nil {
				continue
			}
			r.expected(c, func(_ string, s subRef) {
				if _, ok := r.arrival(c, s); !ok {
					pending++
				}
			})
		}
		if pending == 0 || time.Now().After(deadline) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (r *liveRound) measure(changes []*liveChange, res *liveResult) {
	for _, c := range changes {
		if c.err != nil {
			continue
		}
		r.expected(c, func(kind string, s subRef) {
			l := res.byKind[kind]
			if l == nil {
				l = &latencies{}
				res.byKind[kind] = l
			}
			l.expected++
			e, ok := r.arrival(c, s)
			if !ok || e.recv.Sub(c.sent) > r.o.wait {
				l.missed++
				return
			}
			l.sent = append(l.sent, e.recv.Sub(c.sent))
			l.resp = append(l.resp, e.recv.Sub(c.resp))
			l.srv = append(l.srv, e.recv.Round(0).Sub(c.updatedAt))
		})
	}
	for _, l := range res.byKind {
		slices.Sort(l.sent)
		slices.Sort(l.resp)
		slices.Sort(l.srv)
	}
}

// closeAll closes every open socket, r.o.open at a time.
func (r *liveRound) closeAll() {
	sem := make(chan struct{}, r.o.open)
	var wg sync.WaitGroup
	for _, p := range r.phones {
		if p.conn == nil {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			p.closing.Store(true)
			if err := p.conn.Close(websocket.StatusNormalClosure, ""); err != nil {
				_ = p.conn.CloseNow()
			}
			<-p.done
		})
	}
	wg.Wait()
	r.phones = nil
}

// reportLive prints the rounds' tables.
func reportLive(out io.Writer, results []*liveResult) {
	if len(results) == 0 {
		return
	}
	mib := func(b float64) string { return fmt.Sprintf("%.1f MiB", b/(1<<20)) }
	fmt.Fprintln(out, "\nlive: server memory per idle subscription (the server's /metrics before opening and after the idle wait; per sub = (after − before) / subscriptions)")
	fmt.Fprintf(out, "%7s %7s %6s %8s %6s %10s %10s %9s %10s %10s %9s %9s %7s %7s\n", "subs", "sockets", "orders", "subs/ord", "failed",
		"RSS before", "RSS after", "RSS/sub", "heap bef.", "heap aft.", "heap/sub", "stack/sub", "gor/sub", "idleGCs")
	for _, r := range results {
		na := "n/a"
		rb, ra, hb, ha, rs, hs, ss, gs, gcs := na, na, na, na, na, na, na, na, na
		if r.before.err == nil && r.after.err == nil {
			n := float64(max(r.openSubs, 1))
			kib := func(a, b float64) string { return fmt.Sprintf("%.1f KiB", (a-b)/n/1024) }
			rb, ra, hb, ha = mib(r.before.rss), mib(r.after.rss), mib(r.before.heapInuse), mib(r.after.heapInuse)
			rs, hs, ss = kib(r.after.rss, r.before.rss), kib(r.after.heapInuse, r.before.heapInuse), kib(r.after.stack, r.before.stack)
			gs = fmt.Sprintf("%.2f", (r.after.goroutines-r.before.goroutines)/n)
		}
		if r.opened.err == nil && r.after.err == nil {
			gcs = fmt.Sprintf("%.0f", r.after.gcs-r.opened.gcs)
		}
		fmt.Fprintf(out, "%7d %7d %6d %8.1f %6d %10s %10s %9s %10s %10s %9s %9s %7s %7s\n", r.subs, r.sockets, r.followed,
			float64(r.orderSubs)/float64(max(r.followed, 1)), r.openFailed, rb, ra, rs, hb, ha, hs, ss, gs, gcs)
	}
	fmt.Fprintln(out, "(orders = orders followed, subs/ord = orderUpdated subscriptions per followed order; failed = sockets that did not open;")
	fmt.Fprintln(out, " heap = go_memstats_heap_inuse_bytes, which holds garbage until the next GC: idleGCs = GCs between the last socket opening and")
	fmt.Fprintln(out, " \"after\" (the runtime forces one every 2 minutes); gor/sub = server goroutines per subscription)")
	fmt.Fprintln(out, "\nlive: CPU (100% = one core), server from its process_cpu_seconds_total, chbench its own")
	fmt.Fprintf(out, "%7s %12s %15s %16s %12s\n", "subs", "server idle", "server changes", "chbench changes", "GCs changes")
	for _, r := range results {
		idle, busy, client, gcs := "n/a", "n/a", "n/a", "n/a"
		if r.mid.err == nil && r.after.err == nil && r.after.at.After(r.mid.at) {
			idle = fmt.Sprintf("%.0f%%", 100*(r.after.cpuS-r.mid.cpuS)/r.after.at.Sub(r.mid.at).Seconds())
		}
		if r.after.err == nil && r.end.err == nil && r.end.at.After(r.after.at) {
			d := r.end.at.Sub(r.after.at)
			busy = fmt.Sprintf("%.0f%%", 100*(r.end.cpuS-r.after.cpuS)/d.Seconds())
			gcs = fmt.Sprintf("%.0f", r.end.gcs-r.after.gcs)
			if r.clientCPU[1] > 0 {
				client = fmt.Sprintf("%.0f%%", 100*(r.clientCPU[1]-r.clientCPU[0]).Seconds()/d.Seconds())
			}
		}
		fmt.Fprintf(out, "%7d %12s %15s %16s %12s\n", r.subs, idle, busy, client, gcs)
	}
	fmt.Fprintln(out, "(idle = the second half of the idle wait; changes = from the first change until every delivery arrived or -live-wait ran out;")
	fmt.Fprintln(out, " GCs changes = the server's garbage collections in that time)")
	fmt.Fprintln(out, "\nlive: order change → `next` on each subscribed socket")
	fmt.Fprintf(out, "%7s %8s %-16s %7s %10s %9s %9s %9s %9s %7s\n", "subs", "setup", "subscription", "changes", "deliveries",
		"p50", "p95", "p99", "max", "missed")
	r10 := func(d time.Duration) time.Duration { return d.Round(100 * time.Microsecond) }
	for _, r := range results {
		for _, kind := range []string{kindOrder, kindMy} {
			l := r.byKind[kind]
			if l == nil {
				continue
			}
			fmt.Fprintf(out, "%7d %8s %-16s %7d %10d %9s %9s %9s %9s %7d\n", r.subs, r.setup.Round(10*time.Millisecond), kind,
				r.changes-r.changeFailed, l.expected, r10(pct(l.sent, .5)), r10(pct(l.sent, .95)), r10(pct(l.sent, .99)),
				r10(pct(l.sent, 1)), l.missed)
			for _, b := range []struct {
				name string
				l    []time.Duration
			}{{"  response→next", l.resp}, {"  updatedAt→next", l.srv}} {
				fmt.Fprintf(out, "%7s %8s %-16s %7s %10s %9s %9s %9s %9s %7s\n", "", "", b.name, "", "",
					r10(pct(b.l, .5)), r10(pct(b.l, .95)), r10(pct(b.l, .99)), r10(pct(b.l, 1)), "")
			}
		}
		fmt.Fprintf(out, "%7s %8s %-16s %7s %10s %9s %9s %9s %9s %7d\n", "", "", "  (mutation)", "", "",
			r10(pct(r.mutation, .5)), r10(pct(r.mutation, .95)), r10(pct(r.mutation, .99)), r10(pct(r.mutation, 1)), r.changeFailed)
	}
	fmt.Fprintln(out, "(latency per delivery, i.e. per subscription on the changed order, from the mutation being sent: an upper bound of commit → client;")
	fmt.Fprintln(out, " response→next starts at the mutation's HTTP response, after commit: a lower bound; updatedAt→next starts at the order's updatedAt,")
	fmt.Fprintln(out, " the server's clock at the change's transaction start, valid on one host; missed = not received within -live-wait;")
	fmt.Fprintln(out, " (mutation) = the orderChangeRequest round trip, its missed column = failed changes; setup = time to open the sockets)")
	for _, r := range results {
		if r.end.err == nil && r.after.err == nil {
			fmt.Fprintf(out, "live %d: server RSS %s, heap %s, %0.f goroutines after the changes\n", r.subs, mib(r.end.rss), mib(r.end.heapInuse), r.end.goroutines)
		}
		if r.troubles > 0 {
			fmt.Fprintf(out, "live %d troubles: %s\n", r.subs, r.trouble)
		}
	}
}
