package main

// The order scenario places SELL_IN orders of -lines lines (10 by default)
// with orderSubmit, each line a random orderable SKU in a valid quantity, each
// order with a fresh idempotency key.
//
// Like the real deployment (2,500 distributors, each ordering for itself), the
// clients are spread over -buyers bench distributors, BENCH-001, BENCH-002, …
// under the first branch, each with one DISTRIBUTOR_ADMIN user (phone
// 19900000001, 19900000002, …; password -bench-password). With at least as
// many buyers as clients, client i orders in turn for buyers i, i+c, i+2c, …,
// so no two clients share a buyer's credit row; with fewer buyers, clients
// share them.
//
// The setup runs before the warm-up and is not timed. It is idempotent: it
// reuses bench parties and users that exist (by code and phone), activates
// them, raises a buyer's credit limit (finance requests, the HQ admin
// approves) when less than half of -credit is available, and tops up every
// SKU that HQ's warehouse (-warehouse) stocks to -stock available units when
// it has less than half of that. SKUs the warehouse holds no row of (every
// tenth demo SKU) stay out of stock and are not ordered.
//
// The orders are not cancelled afterwards: they stay SUBMITTED, holding credit
// and stock like the open orders of a real channel, and the next run's setup
// tops credit and stock up again. Bench runs belong on a database of their own.

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type orderOptions struct {
	buyers                  int
	lines                   int
	benchPassword           string
	hqAdmin, finance, goods string
	branch, warehouse       string
	credit                  int64 // yuan
	stock                   int64
	setupWorkers            int
}

func (o *orderOptions) flags(fs *flag.FlagSet) {
	fs.IntVar(&o.buyers, "buyers", 64, "order scenario: bench distributors (BENCH-001…) the clients order for")
	fs.IntVar(&o.lines, "lines", 10, "order scenario: lines per order, each a distinct random orderable SKU")
	fs.StringVar(&o.benchPassword, "bench-password", "channelhub-bench", "order scenario: password of the bench distributors' users")
	fs.StringVar(&o.hqAdmin, "hq-admin", "13800000000", "order scenario setup: HQ admin (creates parties and users, approves limits)")
	fs.StringVar(&o.finance, "finance", "13800000031", "order scenario setup: finance user (requests credit limits)")
	fs.StringVar(&o.goods, "goods-control", "13800000051", "order scenario setup: goods control user (receives stock)")
	fs.StringVar(&o.branch, "branch", "", "order scenario setup: code of the branch the bench distributors sit under (default: the first branch)")
	fs.StringVar(&o.warehouse, "warehouse", "HQ-WH1", "order scenario setup: HQ warehouse to stock")
	fs.Int64Var(&o.credit, "credit", 1_000_000_000, "order scenario setup: credit (yuan) each bench buyer should have available")
	fs.Int64Var(&o.stock, "stock", 200_000, "order scenario setup: units of each stocked SKU the warehouse should have available")
	fs.IntVar(&o.setupWorkers, "setup-workers", 4, "order scenario setup: buyers set up at once")
}

// maxCredit is the largest credit limit the API takes, in yuan.
const maxCredit = 10_000_000_000

func (o *orderOptions) validate() error {
	switch {
	case o.buyers < 1 || o.buyers > 999:
		return fmt.Errorf("-buyers %d: want 1..999", o.buyers)
	case o.lines < 1 || o.lines > 200:
		return fmt.Errorf("-lines %d: want 1..200", o.lines)
	case o.credit < 1 || o.credit > maxCredit:
		return fmt.Errorf("-credit %d: want 1..%d", o.credit, maxCredit)
	case o.stock < 1 || o.stock > 1_000_000_000:
		return fmt.Errorf("-stock %d: want 1..1000000000", o.stock)
	case o.setupWorkers < 1:
		return fmt.Errorf("-setup-workers %d: want at least 1", o.setupWorkers)
	}
	return nil
}

// benchCode and benchPhone name bench buyer i (1-based).
func benchCode(i int) string  { return fmt.Sprintf("BENCH-%03d", i) }
func benchPhone(i int) string { return fmt.Sprintf("1990000%04d", i) }

type pageInfo struct {
	HasNextPage bool
	EndCursor   *string
}

type benchParty struct {
	ID, Code, Status string
}

type sku struct {
	ID, Code              string
	PackSize, MinOrderQty int
}

// orderLoad is the prepared order scenario.
type orderLoad struct {
	tokens  []string // one per bench buyer
	skus    []sku
	lines   int
	clients int
	run     string        // random, makes idempotency keys unique across runs
	seq     atomic.Uint64 // numbers every order of the run, warm-up included
}

const orderSubmitQ = `mutation ChbenchOrderSubmit($in: OrderSubmitInput!) { orderSubmit(input: $in) { order { id number status } errors { code } } }`

func (l *orderLoad) client(i int) func() (string, []byte) {
	rng := mrand.New(mrand.NewPCG(mrand.Uint64(), uint64(i)))
	// The buyers this client orders for: its own when there are enough.
	var mine []string
	if len(l.tokens) >= l.clients {
		for j := i; j < len(l.tokens); j += l.clients {
			mine = append(mine, l.tokens[j])
		}
	} else {
		mine = []string{l.tokens[i%len(l.tokens)]}
	}
	n := 0
	return func() (string, []byte) {
		token := mine[n%len(mine)]
		n++
		lines := make([]map[string]any, 0, l.lines)
		for _, k := range rng.Perm(len(l.skus))[:l.lines] {
			s := l.skus[k]
			lines = append(lines, map[string]any{"skuId": s.ID, "qty": s.qty(rng)})
		}
		body, _ := json.Marshal(map[string]any{"query": orderSubmitQ, "variables": map[string]any{"in": map[string]any{
			"lines": lines, "idempotencyKey": fmt.Sprintf("chbench-%s-%d", l.run, l.seq.Add(1))}}})
		return token, body
	}
}

// qty is a valid quantity: the smallest multiple of the pack size at or
// above the minimum, plus 0..2 packs.
func (s sku) qty(rng *mrand.Rand) int {
	p := max(s.PackSize, 1)
	base := max((s.MinOrderQty+p-1)/p, 1) * p
	return base + p*rng.IntN(3)
}

// check fails an order with top-level or payload errors; the outcome is the order's status.
func (*orderLoad) check(b []byte) (string, string) {
	var r struct {
		Data *struct {
			OrderSubmit *struct {
				Order *struct {
					Status string
				}
				Errors []struct{ Code string }
			}
		}
		Errors []gqlError
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return "BAD_JSON", ""
	}
	if len(r.Errors) > 0 || r.Data == nil || r.Data.OrderSubmit == nil {
		return topCode(r.Errors), ""
	}
	if errs := r.Data.OrderSubmit.Errors; len(errs) > 0 {
		var codes []string
		for _, e := range errs {
			if !slices.Contains(codes, e.Code) {
				codes = append(codes, e.Code)
			}
		}
		return strings.Join(codes, "+"), ""
	}
	if r.Data.OrderSubmit.Order == nil {
		return "NO_ORDER", ""
	}
	return "", r.Data.OrderSubmit.Order.Status
}

// prepareOrders sets up the bench buyers, their credit and HQ's stock, and
// reads the catalogue; see the comment at the top of this file.
func prepareOrders(api *client, consolePassword string, clients int, o orderOptions, out io.Writer) (*orderLoad, error) {
	start := time.Now()
	hq, err := api.login(o.hqAdmin, consolePassword, "CONSOLE")
	if err != nil {
		return nil, err
	}
	fin, err := api.login(o.finance, consolePassword, "CONSOLE")
	if err != nil {
		return nil, err
	}
	gc, err := api.login(o.goods, consolePassword, "CONSOLE")
	if err != nil {
		return nil, err
	}
	parent, err := findBranch(api, hq, o.branch)
	if err != nil {
		return nil, err
	}
	parties, err := benchParties(api, hq)
	if err != nil {
		return nil, err
	}
	users, err := benchUsers(api, hq)
	if err != nil {
		return nil, err
	}
	tokens := make([]string, o.buyers)
	var mu sync.Mutex
	var errs []error
	var created, raised int
	sem := make(chan struct{}, o.setupWorkers)
	var wg sync.WaitGroup
	for i := 1; i <= o.buyers; i++ {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			b := buyerSetup{api: api, hq: hq, fin: fin, parent: parent, o: o, i: i}
			mu.Lock()
			p, hasParty := parties[benchCode(i)]
			_, hasUser := users[benchPhone(i)]
			mu.Unlock()
			token, c, r, err := b.run(p, hasParty, hasUser)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", benchCode(i), err))
				return
			}
			tokens[i-1] = token
			created += c
			raised += r
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	stocked, topped, err := topUpStock(api, gc, o)
	if err != nil {
		return nil, err
	}
	skus, err := orderableSKUs(api, tokens[0], stocked)
	if err != nil {
		return nil, err
	}
	if len(skus) < o.lines {
		return nil, fmt.Errorf("only %d orderable SKUs for %d lines", len(skus), o.lines)
	}
	var run [8]byte
	_, _ = rand.Read(run[:])
	fmt.Fprintf(out, "order setup: %d buyers (%d created, %d credit limits raised), %d orderable SKUs (%d topped up), %s\n",
		o.buyers, created, raised, len(skus), topped, time.Since(start).Round(time.Millisecond))
	return &orderLoad{tokens: tokens, skus: skus, lines: o.lines, clients: clients, run: hex.EncodeToString(run[:])}, nil
}

// findBranch returns the ID of the branch with code (the first by code when
// empty), or of HQ when there are no branches.
func findBranch(api *client, hq, code string) (string, error) {
	var d struct {
		Parties struct {
			Edges []struct{ Node benchParty }
		}
		Viewer struct{ Party struct{ ID string } }
	}
	if err := api.do(hq, `{ parties(first: 100, filter: {kind: BRANCH}) { edges { node { id code status } } } viewer { party { id } } }`, nil, &d); err != nil {
		return "", fmt.Errorf("branches: %w", err)
	}
	var branches []benchParty
	for _, e := range d.Parties.Edges {
		if code == "" || e.Node.Code == code {
			branches = append(branches, e.Node)
		}
	}
	if len(branches) == 0 {
		if code != "" {
			return "", fmt.Errorf("no branch %s", code)
		}
		return d.Viewer.Party.ID, nil
	}
	slices.SortFunc(branches, func(a, b benchParty) int { return strings.Compare(a.Code, b.Code) })
	return branches[0].ID, nil
}

// benchParties lists the existing bench distributors by code.
func benchParties(api *client, hq string) (map[string]benchParty, error) {
	out := map[string]benchParty{}
	var after *string
	for range 100 {
		var d struct {
			Parties struct {
				Edges    []struct{ Node benchParty }
				PageInfo pageInfo
			}
		}
		if err := api.do(hq, `query($a: String) { parties(first: 100, after: $a, filter: {kind: DISTRIBUTOR, search: "BENCH-"}) {
			edges { node { id code status } } pageInfo { hasNextPage endCursor } } }`, map[string]any{"a": after}, &d); err != nil {
			return nil, fmt.Errorf("bench parties: %w", err)
		}
		for _, e := range d.Parties.Edges {
			if strings.HasPrefix(e.Node.Code, "BENCH-") {
				out[e.Node.Code] = e.Node
			}
		}
		if !d.Parties.PageInfo.HasNextPage {
			return out, nil
		}
		after = d.Parties.PageInfo.EndCursor
	}
	return out, nil
}

// benchUsers lists the existing bench users by phone.
func benchUsers(api *client, hq string) (map[string]bool, error) {
	out := map[string]bool{}
	var after *string
	for range 100 {
		var d struct {
			Users struct {
				Edges    []struct{ Node struct{ Phone string } }
				PageInfo pageInfo
			}
		}
		if err := api.do(hq, `query($a: String) { users(first: 100, after: $a, filter: {search: "1990000"}) {
			edges { node { phone } } pageInfo { hasNextPage endCursor } } }`, map[string]any{"a": after}, &d); err != nil {
			return nil, fmt.Errorf("bench users: %w", err)
		}
		for _, e := range d.Users.Edges {
			out[e.Node.Phone] = true
		}
		if !d.Users.PageInfo.HasNextPage {
			return out, nil
		}
		after = d.Users.PageInfo.EndCursor
	}
	return out, nil
}

// buyerSetup readies bench buyer i.
type buyerSetup struct {
	api     *client
	hq, fin string
	parent  string
	o       orderOptions
	i       int
}

// payloadErr turns a mutation payload's errors into an error.
func payloadErr(what string, errs []struct{ Code string }) error {
	if len(errs) == 0 {
		return nil
	}
	codes := make([]string, len(errs))
	for i, e := range errs {
		codes[i] = e.Code
	}
	return fmt.Errorf("%s: %s", what, strings.Join(codes, ", "))
}

type payload struct {
	Errors []struct{ Code string }
}

// run creates, activates and funds the buyer as needed and signs its user in.
// It reports whether it created the party and whether it raised the limit.
func (b buyerSetup) run(p benchParty, hasParty, hasUser bool) (string, int, int, error) {
	created, raised := 0, 0
	if !hasParty {
		var d struct {
			PartyCreate struct {
				Party *benchParty
				payload
			}
		}
		if err := b.api.do(b.hq, `mutation($in: PartyCreateInput!) { partyCreate(input: $in) { party { id code status } errors { code } } }`,
			map[string]any{"in": map[string]any{"code": benchCode(b.i), "name": "压测经销商 " + benchCode(b.i), "kind": "DISTRIBUTOR",
				"parentId": b.parent, "channelType": "DISTRIBUTOR", "grade": "A", "region": "华东",
				"address": map[string]any{"province": "浙江省", "city": "杭州市", "district": "西湖区", "street": "文三路 1 号"}}}, &d); err != nil {
			return "", 0, 0, fmt.Errorf("partyCreate: %w", err)
		}
		if err := payloadErr("partyCreate", d.PartyCreate.Errors); err != nil {
			return "", 0, 0, err
		}
		p, created = *d.PartyCreate.Party, 1
	}
	if p.Status != "ACTIVE" {
		var d struct{ PartyStatusChange payload }
		if err := b.api.do(b.hq, `mutation($id: ID!) { partyStatusChange(id: $id, input: {status: ACTIVE, reason: "chbench buyer"}) { errors { code } } }`,
			map[string]any{"id": p.ID}, &d); err != nil {
			return "", 0, 0, fmt.Errorf("partyStatusChange: %w", err)
		}
		if err := payloadErr("partyStatusChange", d.PartyStatusChange.Errors); err != nil {
			return "", 0, 0, err
		}
	}
	if !hasUser {
		var d struct{ UserCreate payload }
		if err := b.api.do(b.hq, `mutation($in: UserCreateInput!) { userCreate(input: $in) { errors { code } } }`,
			map[string]any{"in": map[string]any{"partyId": p.ID, "phone": benchPhone(b.i), "name": "压测 " + benchCode(b.i),
				"roles": []string{"DISTRIBUTOR_ADMIN"}, "password": b.o.benchPassword}}, &d); err != nil {
			return "", 0, 0, fmt.Errorf("userCreate: %w", err)
		}
		if err := payloadErr("userCreate", d.UserCreate.Errors); err != nil {
			return "", 0, 0, err
		}
	}
	var c struct {
		CreditSummary struct {
			Limit, Available struct{ Amount string }
		}
	}
	if err := b.api.do(b.fin, `query($b: ID) { creditSummary(buyerId: $b) { limit { amount } available { amount } } }`,
		map[string]any{"b": p.ID}, &c); err != nil {
		return "", 0, 0, fmt.Errorf("creditSummary: %w", err)
	}
	limit, err1 := parseYuan(c.CreditSummary.Limit.Amount)
	avail, err2 := parseYuan(c.CreditSummary.Available.Amount)
	if err := errors.Join(err1, err2); err != nil {
		return "", 0, 0, err
	}
	if want := b.o.credit; avail < want/2 {
		newLimit := limit + want - avail
		if newLimit > maxCredit {
			return "", 0, 0, fmt.Errorf("credit: %d yuan available and the limit cannot rise to %d: use a fresh database", avail, newLimit)
		}
		var r struct {
			CreditLimitChangeRequest struct {
				Request *struct{ ID string }
				payload
			}
		}
		if err := b.api.do(b.fin, `mutation($in: CreditLimitChangeInput!) { creditLimitChangeRequest(input: $in) { request { id } errors { code } } }`,
			map[string]any{"in": map[string]any{"buyerId": p.ID, "newLimit": strconv.FormatInt(newLimit, 10), "reason": "chbench: room for bench orders"}}, &r); err != nil {
			return "", 0, 0, fmt.Errorf("creditLimitChangeRequest: %w", err)
		}
		if err := payloadErr("creditLimitChangeRequest", r.CreditLimitChangeRequest.Errors); err != nil {
			return "", 0, 0, err
		}
		var a struct{ CreditLimitChangeApprove payload }
		if err := b.api.do(b.hq, `mutation($id: ID!) { creditLimitChangeApprove(id: $id, input: {reason: "chbench"}) { errors { code } } }`,
			map[string]any{"id": r.CreditLimitChangeRequest.Request.ID}, &a); err != nil {
			return "", 0, 0, fmt.Errorf("creditLimitChangeApprove: %w", err)
		}
		if err := payloadErr("creditLimitChangeApprove", a.CreditLimitChangeApprove.Errors); err != nil {
			return "", 0, 0, err
		}
		raised = 1
	}
	token, err := b.api.login(benchPhone(b.i), b.o.benchPassword, "DISTRIBUTOR")
	return token, created, raised, err
}

// parseYuan reads a Decimal amount as whole yuan, rounded down.
func parseYuan(s string) (int64, error) {
	whole, _, _ := strings.Cut(s, ".")
	n, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("amount %q: %w", s, err)
	}
	return n, nil
}

// topUpStock tops up every SKU the warehouse holds to o.stock available
// units; it returns the stocked SKU IDs and how many it topped up.
func topUpStock(api *client, gc string, o orderOptions) (map[string]bool, int, error) {
	type level struct {
		Available int64
		Sku       struct{ ID string }
	}
	type warehouse struct {
		ID, Code string
		Stock    struct {
			Edges    []struct{ Node level }
			PageInfo pageInfo
		}
	}
	var whID string
	var levels []level
	var after *string
	for range 1000 {
		var d struct{ Warehouses []warehouse }
		if err := api.do(gc, `query($a: String) { warehouses { id code stock(first: 100, after: $a) {
			edges { node { available sku { id } } } pageInfo { hasNextPage endCursor } } } }`, map[string]any{"a": after}, &d); err != nil {
			return nil, 0, fmt.Errorf("stock: %w", err)
		}
		i := slices.IndexFunc(d.Warehouses, func(w warehouse) bool { return w.Code == o.warehouse })
		if i < 0 {
			return nil, 0, fmt.Errorf("no warehouse %s", o.warehouse)
		}
		w := d.Warehouses[i]
		whID = w.ID
		for _, e := range w.Stock.Edges {
			levels = append(levels, e.Node)
		}
		if !w.Stock.PageInfo.HasNextPage {
			break
		}
		after = w.Stock.PageInfo.EndCursor
	}
	stocked := map[string]bool{}
	var lines []map[string]any
	for _, l := range levels {
		stocked[l.Sku.ID] = true
		if l.Available < o.stock/2 {
			for left := o.stock - l.Available; left > 0; left -= 1_000_000 {
				lines = append(lines, map[string]any{"skuId": l.Sku.ID, "qty": min(left, 1_000_000)})
			}
		}
	}
	var run [8]byte
	_, _ = rand.Read(run[:])
	for i := 0; i < len(lines); i += 100 {
		var d struct{ StockReceive payload }
		if err := api.do(gc, `mutation($in: StockReceiveInput!) { stockReceive(input: $in) { errors { code } } }`,
			map[string]any{"in": map[string]any{"warehouseId": whID, "lines": lines[i:min(i+100, len(lines))], "reference": "CHBENCH",
				"idempotencyKey": fmt.Sprintf("chbench-stock-%x-%d", run, i)}}, &d); err != nil {
			return nil, 0, fmt.Errorf("stockReceive: %w", err)
		}
		if err := payloadErr("stockReceive", d.StockReceive.Errors); err != nil {
			return nil, 0, err
		}
	}
	return stocked, len(lines), nil
}

// orderableSKUs reads the buyer's catalogue and keeps the on-shelf SKUs the warehouse stocks.
func orderableSKUs(api *client, token string, stocked map[string]bool) ([]sku, error) {
	var out []sku
	var after *string
	for range 1000 {
		var d struct {
			Catalog struct {
				Edges []struct {
					Node struct {
						sku
						OnShelf bool
					}
				}
				PageInfo pageInfo
			}
		}
		if err := api.do(token, `query($a: String) { catalog(first: 100, after: $a) {
			edges { node { id code packSize minOrderQty onShelf } } pageInfo { hasNextPage endCursor } } }`, map[string]any{"a": after}, &d); err != nil {
			return nil, fmt.Errorf("catalog: %w", err)
		}
		for _, e := range d.Catalog.Edges {
			if e.Node.OnShelf && stocked[e.Node.ID] {
				out = append(out, e.Node.sku)
			}
		}
		if !d.Catalog.PageInfo.HasNextPage {
			break
		}
		after = d.Catalog.PageInfo.EndCursor
	}
	return out, nil
}
