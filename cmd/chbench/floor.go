package main

// The floor bounds the order scenario from above. With -floor-db-url (the
// server's own database) the run ends with pgbench driving, with the same
// client count, a script of only the writes one order makes: the idempotency
// key, the credit reserve and its ledger entry, the order, its lines, its
// timeline event, two outbox events, its reservations and one update per
// stock level, in one transaction sent as one pipelined round trip. Nothing
// is read, priced or checked and no server takes part, so no implementation
// of orderSubmit can place orders faster on the same machine than the floor.
//
// Buyers and SKUs are those of the order scenario's setup (the bench
// distributors, shared out among the clients as the scenario does; the SKUs
// -warehouse has stock of), each order's lines one
// SKU from each of -lines slices of them in id order, which is the order the
// server locks stock levels in. The floor's orders (numbered FL-…) stay in the
// database like the scenario's own, holding their stock and credit.

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

type floorOptions struct{ dbURL string }

func (o *floorOptions) flags(fs *flag.FlagSet) {
	fs.StringVar(&o.dbURL, "floor-db-url", "", "order scenario with -pgbench-url: the server's PostgreSQL database; the run then also drives pgbench with an order's writes alone (the floor, see floor.go)")
}

// floorFacts is what the script is written from.
type floorFacts struct {
	seller, warehouse string
	address, expl     string // of a recent order: realistic sizes
	buyers, skus      int    // rows of chbench_floor_buyers and chbench_floor_skus
}

// prepareFloor writes the floor's lookup tables into the server's database.
func prepareFloor(ctx context.Context, dbURL, warehouse string) (*floorFacts, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(ctx)
	f := &floorFacts{}
	if err := conn.QueryRow(ctx, `SELECT id::text, party_id::text FROM warehouses WHERE code = $1`, warehouse).Scan(&f.warehouse, &f.seller); err != nil {
		return nil, fmt.Errorf("warehouse %s: %w", warehouse, err)
	}
	if err := conn.QueryRow(ctx, `SELECT delivery_address, explanation FROM orders WHERE seller_party_id = $1 ORDER BY submitted_at DESC LIMIT 1`,
		f.seller).Scan(&f.address, &f.expl); err != nil {
		return nil, fmt.Errorf("a placed order to copy: %w", err)
	}
	if _, err := conn.Exec(ctx, `DROP TABLE IF EXISTS chbench_floor_buyers, chbench_floor_skus`); err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE chbench_floor_buyers AS
SELECT row_number() OVER (ORDER BY code) - 1 AS n, id, user_id FROM (
  SELECT DISTINCT ON (p.id) p.id, p.code, u.id AS user_id FROM parties p JOIN users u ON u.party_id = p.id
  WHERE p.code LIKE 'BENCH-%' ORDER BY p.id, u.id) b`); err != nil {
		return nil, fmt.Errorf("floor buyers: %w", err)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE chbench_floor_skus AS
SELECT row_number() OVER (ORDER BY sku_id) - 1 AS n, sku_id AS id FROM stock_levels
WHERE warehouse_id = $1 AND on_hand - reserved >= 1000`, f.warehouse); err != nil {
		return nil, fmt.Errorf("floor SKUs: %w", err)
	}
	for _, t := range []string{"chbench_floor_buyers", "chbench_floor_skus"} {
		if _, err := conn.Exec(ctx, "ALTER TABLE "+t+" ADD PRIMARY KEY (n)"); err != nil {
			return nil, err
		}
		if _, err := conn.Exec(ctx, "ANALYZE "+t); err != nil {
			return nil, err
		}
	}
	if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM chbench_floor_buyers), (SELECT count(*) FROM chbench_floor_skus)`).Scan(&f.buyers, &f.skus); err != nil {
		return nil, err
	}
	if f.buyers == 0 {
		return nil, fmt.Errorf("no bench buyers: run the order scenario first")
	}
	return f, nil
}

// pgbenchVarLike is what pgbench would take for a variable inside a literal.
var pgbenchVarLike = regexp.MustCompile(`:([A-Za-z0-9_])`)

// lit quotes s for the script. A colon before a name (JSON's "key":value)
// gets a space, or pgbench would read it as one of its variables.
func lit(s string) string {
	s = pgbenchVarLike.ReplaceAllString(s, ": $1")
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// floorScript is the pgbench script of one order of lines lines, for
// clients clients.
func floorScript(f *floorFacts, lines, clients int) (string, error) {
	if lines < 1 || f.skus < lines {
		return "", fmt.Errorf("the floor needs %d SKUs with stock, %d have", lines, f.skus)
	}
	var b strings.Builder
	// As in the order scenario, no two clients share a buyer's credit row
	// when there are buyers enough.
	if f.buyers >= clients {
		fmt.Fprintf(&b, "\\set b :client_id + %d * random(0, %d)\n", clients, f.buyers/clients-1)
	} else {
		fmt.Fprintf(&b, "\\set b :client_id %% %d\n", f.buyers)
	}
	step := f.skus / lines
	var picks []string
	for i := 1; i <= lines; i++ {
		fmt.Fprintf(&b, "\\set k%d random(%d, %d)\n", i, (i-1)*step, i*step-1)
		picks = append(picks, fmt.Sprintf("(SELECT id FROM chbench_floor_skus WHERE n = :k%d) AS s%d", i, i))
	}
	fmt.Fprintf(&b, "SELECT gen_random_uuid() AS oid, nextval('doc_seq_so') AS num, b.id AS buyer, b.user_id AS uid, %s FROM chbench_floor_buyers b WHERE b.n = :b \\gset\n",
		strings.Join(picks, ", "))
	seller, wh := lit(f.seller), lit(f.warehouse)
	var lineRows, resRows []string
	for i := 1; i <= lines; i++ {
		lineRows = append(lineRows, fmt.Sprintf("(:oid, %d, :s%d, 3, 294300, 882900, 24212, 858688, FALSE, 'LIST', NULL, %s, 0, 0, 0)", i, i,
			lit(`[{"PromotionID":"00000000-0000-0000-0000-000000000000","Kind":"THRESHOLD","Amount":24212}]`)))
		resRows = append(resRows, fmt.Sprintf("(:oid, %s, :s%d, 3)", wh, i))
	}
	stmts := []string{
		"BEGIN",
		`INSERT INTO idempotency_keys (user_id, scope, key, request_hash, result, created_at) VALUES (:uid, 'orderSubmit', 'floor-' || :oid, '8a6ef83d9b5d85de77809a85e92c477844f8035017748373933e7609a1341257', '"' || :oid || '"', now()) ON CONFLICT (user_id, scope, key) DO NOTHING`,
		`UPDATE credit_accounts SET reserved = reserved + 7447700, updated_at = now() WHERE buyer_party_id = :buyer AND seller_party_id = ` + seller +
			` AND NOT stopped AND cash + credit_limit + rebate + credit_limit * tolerance_bp / 10000 - receivable - reserved >= 7447700 RETURNING *`,
		`INSERT INTO credit_entries (id, buyer_party_id, seller_party_id, fund, kind, amount, balance_after, source_type, source_id, actor_user_id, note, created_at) VALUES (gen_random_uuid(), :buyer, ` +
			seller + `, 'RESERVED', 'RESERVE', 7447700, 863485925, 'ORDER', :oid, :uid, '', now())`,
		`INSERT INTO orders (id, number, kind, status, buyer_party_id, seller_party_id, created_by, subtotal, discount, total, credit_reserved, credit_warning, note, delivery_address, explanation, promotions, version, submitted_at, updated_at) VALUES (:oid, 'FL-' || :num, 'SELL_IN', 'SUBMITTED', :buyer, ` +
			seller + `, :uid, 7901500, 453800, 7447700, 7447700, FALSE, '', ` + lit(f.address) + `, ` + lit(f.expl) + `, '[]', 1, now(), now())`,
		`INSERT INTO order_lines (order_id, line_no, sku_id, qty, unit_price, amount, discount, net, gift, price_source, price_list_id, adjustments, shipped_qty, returned_qty, received_qty) VALUES ` +
			strings.Join(lineRows, ", "),
		`INSERT INTO order_events (id, order_id, type, from_status, to_status, actor_user_id, reason, data, created_at) VALUES (gen_random_uuid(), :oid, 'SUBMITTED', '', 'SUBMITTED', :uid, '', ` +
			lit(`{"total":7447700}`) + `, now())`,
		`INSERT INTO outbox_events (id, topic, aggregate_type, aggregate_id, type, payload, created_at, attempts, next_attempt_at, last_error) VALUES ` +
			`(gen_random_uuid(), 'credit:' || :buyer, 'CreditAccount', :buyer, 'credit.updated', ` +
			lit(`{"buyerId":"00000000-0000-0000-0000-000000000000","sellerId":"00000000-0000-0000-0000-000000000000","fund":"RESERVED","kind":"RESERVE","amount":7092250,"available":99117428325,"useBp":88,"useBpWas":87,"sourceType":"ORDER","sourceId":"00000000-0000-0000-0000-000000000000"}`) +
			`, now(), 0, now(), ''), (gen_random_uuid(), 'order:' || :oid, 'Order', :oid, 'order.submitted', ` +
			lit(`{"orderId":"00000000-0000-0000-0000-000000000000","number":"SO-2026-008219","buyerId":"00000000-0000-0000-0000-000000000000","sellerId":"00000000-0000-0000-0000-000000000000","to":"SUBMITTED","event":"SUBMITTED"}`) +
			`, now(), 0, now(), '') RETURNING delivered_at, parked_at`,
		`INSERT INTO order_reservations (order_id, warehouse_id, sku_id, qty) VALUES ` + strings.Join(resRows, ", "),
	}
	for i := 1; i <= lines; i++ {
		stmts = append(stmts, fmt.Sprintf("UPDATE stock_levels SET reserved = reserved + 3 WHERE warehouse_id = %s AND sku_id = :s%d", wh, i))
	}
	stmts = append(stmts, "COMMIT")
	b.WriteString("\\startpipeline\n")
	for _, s := range stmts {
		b.WriteString(s + ";\n")
	}
	b.WriteString("\\endpipeline\n")
	return b.String(), nil
}

// runFloor drives the floor for d with clients clients.
func runFloor(o options, out io.Writer) (*result, error) {
	bin, err := findPgbench(o.pgbench.bin)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.duration+10*time.Minute)
	defer cancel()
	f, err := prepareFloor(ctx, o.floor.dbURL, o.order.warehouse)
	if err != nil {
		return nil, err
	}
	script, err := floorScript(f, o.order.lines, o.clients)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "chbench-floor-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	file := dir + "/floor.sql"
	if err := os.WriteFile(file, []byte(script), 0o600); err != nil {
		return nil, err
	}
	args := []string{"-n", "-M", "extended", "-f", file, "-c", strconv.Itoa(o.clients), "-j", strconv.Itoa(min(max(o.pgbench.jobs, 1), o.clients)),
		"-T", strconv.Itoa(max(int(math.Ceil(o.duration.Seconds())), 1))}
	fmt.Fprintf(out, "floor: %s %s (an order's writes alone, %d buyers, %d SKUs)\n", bin, strings.Join(args, " "), f.buyers, f.skus)
	r, err := runPgbenchArgs(ctx, bin, args, o.floor.dbURL, dir)
	if err != nil {
		return nil, err
	}
	r.name, r.note = "floor", "floor: "+r.note
	return r, nil
}
