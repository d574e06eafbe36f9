package main

// pgbench is the yardstick of the order scenario: `pgbench -b tpcb-like` with
// the same client count on the same PostgreSQL server, in the same run, in a
// database of its own (-pgbench-db, created when missing and re-initialised
// with `pgbench -i` every run). Its latencies come from pgbench's
// per-transaction log, written to a temporary directory.

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

type pgbenchOptions struct {
	url   string
	db    string
	bin   string
	scale int
	jobs  int
}

func (o *pgbenchOptions) flags(fs *flag.FlagSet) {
	fs.StringVar(&o.url, "pgbench-url", "", "PostgreSQL server to run pgbench tpcb-like against, e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable (empty: skip)")
	fs.StringVar(&o.db, "pgbench-db", "chbench_pgbench", "database pgbench initialises and runs in (created when missing)")
	fs.StringVar(&o.bin, "pgbench", "", "pgbench binary (default: on PATH, else /usr/lib/postgresql/*/bin/pgbench)")
	fs.IntVar(&o.scale, "pgbench-scale", 1, "pgbench -i scale factor")
	fs.IntVar(&o.jobs, "pgbench-jobs", 2, "pgbench -j worker threads (at most -c)")
}

// findPgbench returns the pgbench to run.
func findPgbench(bin string) (string, error) {
	if bin != "" {
		return bin, nil
	}
	if p, err := exec.LookPath("pgbench"); err == nil {
		return p, nil
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pgbench")
	if len(found) == 0 {
		return "", errors.New("pgbench not found: install postgresql-client or set -pgbench")
	}
	slices.SortFunc(found, func(a, b string) int { return pgMajor(a) - pgMajor(b) })
	return found[len(found)-1], nil
}

func pgMajor(path string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return n
}

// ensureDB creates database name on the server of serverURL when missing and
// returns the URL of that database.
func ensureDB(ctx context.Context, serverURL, name string) (string, error) {
	u, err := url.Parse(serverURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("-pgbench-url %q is not a postgres:// URL", serverURL)
	}
	conn, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		return "", fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return "", fmt.Errorf("look for database %s: %w", name, err)
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
			return "", fmt.Errorf("create database %s: %w", name, err)
		}
	}
	u.Path = "/" + name
	return u.String(), nil
}

// runPgbench initialises the pgbench database and runs tpcb-like for d
// (rounded up to whole seconds) with clients clients.
func runPgbench(o pgbenchOptions, clients int, d time.Duration, out io.Writer) (*result, error) {
	bin, err := findPgbench(o.bin)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), d+10*time.Minute)
	defer cancel()
	dbURL, err := ensureDB(ctx, o.url, o.db)
	if err != nil {
		return nil, err
	}
	if b, err := exec.CommandContext(ctx, bin, "-i", "-q", "-s", strconv.Itoa(max(o.scale, 1)), dbURL).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("pgbench -i: %w\n%s", err, b)
	}
	dir, err := os.MkdirTemp("", "chbench-pgbench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	secs := int(math.Ceil(d.Seconds()))
	args := []string{"-b", "tpcb-like", "-c", strconv.Itoa(clients), "-j", strconv.Itoa(min(max(o.jobs, 1), clients)),
		"-T", strconv.Itoa(max(secs, 1))}
	fmt.Fprintf(out, "pgbench: %s %s (scale %d)\n", bin, strings.Join(args, " "), max(o.scale, 1))
	return runPgbenchArgs(ctx, bin, args, dbURL, dir)
}

// runPgbenchArgs runs pgbench with args against dbURL, logging every
// transaction into dir, and reads its rate and latencies.
func runPgbenchArgs(ctx context.Context, bin string, args []string, dbURL, dir string) (*result, error) {
	args = append(args, "-l", "--log-prefix", filepath.Join(dir, "pgbench_log"), dbURL)
	stdout, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("pgbench: %w\n%s", err, stdout)
	}
	r, err := parsePgbench(string(stdout))
	if err != nil {
		return nil, err
	}
	logs, _ := filepath.Glob(filepath.Join(dir, "pgbench_log.*"))
	for _, f := range logs {
		if err := readPgbenchLog(f, r); err != nil {
			return nil, err
		}
	}
	slices.Sort(r.latencies)
	return r, nil
}

var (
	pgTPS     = regexp.MustCompile(`(?m)^tps = ([0-9.]+) \((?:without initial connection time|excluding connections establishing)\)`)
	pgTxns    = regexp.MustCompile(`(?m)^number of transactions actually processed: (\d+)`)
	pgFailed  = regexp.MustCompile(`(?m)^number of failed transactions: (\d+)`)
	pgLatency = regexp.MustCompile(`(?m)^latency average = ([0-9.]+) ms`)
)

// parsePgbench reads pgbench's summary: its tps becomes the result's rate
// (requests over an elapsed time that gives exactly that tps).
func parsePgbench(s string) (*result, error) {
	m := pgTPS.FindStringSubmatch(s)
	n := pgTxns.FindStringSubmatch(s)
	if m == nil || n == nil {
		return nil, fmt.Errorf("no tps in pgbench output:\n%s", s)
	}
	tps, _ := strconv.ParseFloat(m[1], 64)
	txns, _ := strconv.Atoi(n[1])
	if tps <= 0 || txns <= 0 {
		return nil, fmt.Errorf("pgbench ran no transactions:\n%s", s)
	}
	r := &result{name: "pgbench", requests: txns, elapsed: time.Duration(float64(txns) / tps * float64(time.Second))}
	if f := pgFailed.FindStringSubmatch(s); f != nil {
		if k, _ := strconv.Atoi(f[1]); k > 0 {
			r.addError("FAILED", k)
		}
	}
	if l := pgLatency.FindStringSubmatch(s); l != nil {
		avg, _ := strconv.ParseFloat(l[1], 64)
		r.note = fmt.Sprintf("pgbench's own figures: tps %s, latency average %.3f ms", m[1], avg)
	}
	return r, nil
}

// readPgbenchLog adds the latencies of one per-transaction log:
// "client_id transaction_no time script_no time_epoch time_us ...", time in µs.
func readPgbenchLog(path string, r *result) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 {
			continue
		}
		if us, err := strconv.ParseInt(fields[2], 10, 64); err == nil {
			r.latencies = append(r.latencies, time.Duration(us)*time.Microsecond)
		}
	}
	return sc.Err()
}
