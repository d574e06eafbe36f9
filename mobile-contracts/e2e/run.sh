#!/usr/bin/env bash
# Builds the server, starts it on a fresh PostgreSQL database and Redis with
# the demo channel and CHANNELHUB_PERSISTED_QUERIES=enforce on a free
# 127.0.0.1 port, plays the e2e day against it, and stops it whatever happens.
#   PG_URL    admin connection (default postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable)
#   REDIS_URL (default redis://127.0.0.1:6379/0)
# Run `npm ci` here first.
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd ../.. && pwd)
pg_url=${PG_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
redis_url=${REDIS_URL:-redis://127.0.0.1:6379/0}

work=$(mktemp -d)
db="channelhub_e2e_$(date +%s)_$$"
pid=
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  psql "$pg_url" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

echo "-- types from the contract documents, and a type check"
npm run --silent codegen >/dev/null
npm run --silent typecheck

echo "-- server binary"
(cd "$root" && go build -o "$work/channelhub" ./cmd/channelhub)

psql "$pg_url" -qc "CREATE DATABASE $db"
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
db_url=$(node -e 'const u=new URL(process.argv[1]); u.pathname="/"+process.argv[2]; console.log(u.href)' "$pg_url" "$db")

echo "-- server on 127.0.0.1:$port, database $db"
CHANNELHUB_ENV=development \
CHANNELHUB_HTTP_ADDR="127.0.0.1:$port" \
CHANNELHUB_DATA_DIR="$work/data" \
CHANNELHUB_DATABASE_URL="$db_url" \
CHANNELHUB_REDIS_URL="$redis_url" \
CHANNELHUB_SEED_DEMO=true \
CHANNELHUB_PERSISTED_QUERIES=enforce \
CHANNELHUB_RATE_LOGIN_PER_MINUTE=600 \
  "$work/channelhub" serve >"$work/server.log" 2>&1 &
pid=$!

ready=
for _ in $(seq 120); do # 60 s: migrations and the demo seed
  if curl -fsS --max-time 2 "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then ready=1; break; fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.5
done
if [ -z "$ready" ]; then
  echo "server did not become ready; its log:" >&2
  tail -50 "$work/server.log" >&2
  exit 1
fi

echo "-- e2e"
if ! E2E_URL="http://127.0.0.1:$port/graphql" timeout 150 npm run --silent e2e; then
  echo "e2e failed; the server's last log lines:" >&2
  tail -30 "$work/server.log" >&2
  exit 1
fi
