// Plays the channel's day twice against a running server: as a debug build
// (document texts) and as a release build (manifest hashes only). Exits 1 on
// the first failure; every wait is bounded.
import { DistributorHomeDocument } from "./generated/graphql.js";
import { App, GraphQLFailure, config, wire } from "./client.js";
import { playDay, step } from "./day.js";
import { parse } from "graphql";

const overall = setTimeout(() => {
  console.error(`e2e: still running after 120 s against ${config.url}; giving up`);
  process.exit(1);
}, 120_000);

async function main() {
  console.log(`e2e against ${config.url}`);
  await playDay("text");

  const before = { ...wire };
  await playDay("hashes");
  if (wire.textRequests !== before.textRequests) {
    throw new Error(`release build sent ${wire.textRequests - before.textRequests} document texts; it must send hashes only`);
  }
  console.log(`[hashes] ${wire.hashRequests - before.hashRequests} HTTP requests, all by hash`);

  if (process.env.E2E_PERSISTED !== "allow") {
    step("text", "an operation outside the manifest is refused");
    const adHoc = parse("query AdHocHome { viewer { app roles } }");
    const r = await new App("distributor", "text").attempt(adHoc as typeof DistributorHomeDocument);
    const codes = (r.errors ?? []).map((e) => e.extensions?.code);
    if (codes.join() !== "PERSISTED_QUERY_NOT_ALLOWED") {
      throw new Error(`ad-hoc operation: want PERSISTED_QUERY_NOT_ALLOWED, got ${JSON.stringify(r.errors ?? r.data)}`);
    }
  }
  console.log("e2e: ok");
}

main()
  .then(() => {
    clearTimeout(overall);
    process.exit(0);
  })
  .catch((e) => {
    console.error(e instanceof GraphQLFailure ? `e2e failed: ${e.message}` : e);
    process.exit(1);
  });
