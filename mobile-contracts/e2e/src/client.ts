// The two clients every app uses: Apollo Client over HTTP and graphql-ws over
// a WebSocket, in one of two modes: "text" sends each document's text (a
// debug build), "hashes" sends only the manifest's sha256 (a release build).
import { readFileSync } from "node:fs";
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, setLogVerbosity } from "@apollo/client/core/index.js";
import { createPersistedQueryLink } from "@apollo/client/link/persisted-queries/index.js";
import { getOperationName } from "@apollo/client/utilities/index.js";
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { type GraphQLFormattedError, type OperationDefinitionNode, print } from "graphql";
import { createClient, type Client as WsClient } from "graphql-ws";
import WebSocket from "ws";

export type Mode = "text" | "hashes";

setLogVerbosity("error");

export const config = {
  url: process.env.E2E_URL ?? "http://127.0.0.1:8080/graphql",
  timeoutMs: Number(process.env.E2E_TIMEOUT_MS ?? 10_000),
};

// The manifest the server enforces, by operation name, as the apps' build
// embeds it (Apollo's persisted-query manifest format).
const manifest: { operations: { id: string; name: string }[] } = JSON.parse(
  readFileSync(new URL("../../manifest.json", import.meta.url), "utf8"),
);
const idByName = new Map(manifest.operations.map((op) => [op.name, op.id]));

export function manifestId(doc: TypedDocumentNode<any, any>): string {
  const name = getOperationName(doc);
  const id = name ? idByName.get(name) : undefined;
  if (!id) throw new Error(`operation ${name} is not in mobile-contracts/manifest.json: regenerate it`);
  return id;
}

/** What went over the wire, so a release build can prove it sent no text. */
export const wire = { textRequests: 0, hashRequests: 0 };

export class GraphQLFailure extends Error {
  constructor(
    readonly operation: string,
    readonly errors: readonly GraphQLFormattedError[],
  ) {
    super(`${operation}: ${errors.map((e) => `${e.extensions?.code ?? "?"} ${e.message}`).join("; ")}`);
  }
  get codes(): string[] {
    return this.errors.map((e) => String(e.extensions?.code));
  }
}

/** One signed-in (or anonymous) app session over HTTP. */
export class App {
  readonly apollo: ApolloClient<unknown>;

  constructor(
    readonly name: string,
    readonly mode: Mode,
    readonly token?: string,
  ) {
    const http = new HttpLink({
      uri: config.url,
      headers: { "Accept-Language": "en", ...(token ? { Authorization: `Bearer ${token}` } : {}) },
      fetch: async (url, init) => {
        const body = JSON.parse(String(init?.body ?? "{}"));
        if (body.query) wire.textRequests++;
        else wire.hashRequests++;
        return fetch(url, { ...init, signal: AbortSignal.timeout(config.timeoutMs) });
      },
    });
    const link =
      mode === "hashes"
        ? ApolloLink.from([createPersistedQueryLink({ generateHash: manifestId, useGETForHashedQueries: false }), http])
        : http;
    // No __typename added: an enforcing server takes a text only when it is a
    // manifest document (layout aside). Apollo 3.14 deprecates the option and
    // says so at warn level; a release build sends hashes and is unaffected.
    this.apollo = new ApolloClient({ link, cache: new InMemoryCache({ addTypename: false }) });
  }

  /** Runs a query or mutation and fails on any top-level error. */
  async run<R, V extends Record<string, unknown>>(doc: TypedDocumentNode<R, V>, variables?: V): Promise<R> {
    const { data, errors } = await this.attempt(doc, variables);
    if (errors?.length || !data) throw new GraphQLFailure(getOperationName(doc) ?? "?", errors ?? []);
    return data;
  }

  /** Runs an operation and returns the top-level errors instead of failing. */
  async attempt<R, V extends Record<string, unknown>>(
    doc: TypedDocumentNode<R, V>,
    variables?: V,
  ): Promise<{ data?: R | null; errors?: readonly GraphQLFormattedError[] }> {
    const op = doc.definitions.find((d): d is OperationDefinitionNode => d.kind === "OperationDefinition");
    try {
      if (op?.operation === "mutation") {
        const r = await this.apollo.mutate({ mutation: doc, variables, errorPolicy: "all", fetchPolicy: "no-cache" });
        return { data: r.data, errors: r.errors };
      }
      const r = await this.apollo.query({ query: doc, variables, errorPolicy: "all", fetchPolicy: "no-cache" });
      return { data: r.data, errors: r.errors };
    } catch (e: any) {
      // A non-2xx answer still carries GraphQL errors in its body.
      const errs = e?.networkError?.result?.errors ?? e?.graphQLErrors;
      if (errs?.length) return { errors: errs };
      throw e;
    }
  }
}

/** A live socket, authenticated in connection_init as the apps do. */
export function socket(token: string): WsClient {
  return createClient({
    url: config.url.replace(/^http/, "ws"),
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: `Bearer ${token}` },
    retryAttempts: 0,
    lazy: false,
  });
}

/** Subscribes and hands every message to the returned queue. */
export function subscribe<R, V extends Record<string, unknown>>(
  ws: WsClient,
  mode: Mode,
  doc: TypedDocumentNode<R, V>,
  variables: V,
): Queue<R> {
  const q = new Queue<R>(getOperationName(doc) ?? "?");
  const payload =
    mode === "hashes"
      ? { query: "", variables, extensions: { persistedQuery: { version: 1, sha256Hash: manifestId(doc) } } }
      : { query: print(doc), variables };
  q.stop = ws.subscribe<R>(payload, {
    next: (m) => (m.errors?.length ? q.fail(new GraphQLFailure(q.name, m.errors)) : q.push(m.data as R)),
    error: (e) => q.fail(e instanceof Error ? e : new Error(`${q.name}: socket error ${JSON.stringify(e)}`)),
    complete: () => q.fail(new Error(`${q.name}: completed by the server`)),
  });
  return q;
}

/** Messages of one subscription, awaited with a deadline. */
export class Queue<T> {
  private items: T[] = [];
  private waiters: ((v: T | Error) => void)[] = [];
  private failure?: Error;
  stop: () => void = () => {};

  constructor(readonly name: string) {}

  push(v: T) {
    const w = this.waiters.shift();
    if (w) w(v);
    else this.items.push(v);
  }

  fail(e: Error) {
    this.failure ??= e;
    for (const w of this.waiters.splice(0)) w(e);
  }

  /** The first message (now or to come) that satisfies ok, within the timeout. */
  async until(ok: (v: T) => boolean, what: string): Promise<T> {
    const deadline = Date.now() + config.timeoutMs;
    for (;;) {
      const v = await this.next(deadline - Date.now(), what);
      if (ok(v)) return v;
    }
  }

  private next(ms: number, what: string): Promise<T> {
    if (this.items.length) return Promise.resolve(this.items.shift()!);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`${this.name}: no message with ${what} within ${config.timeoutMs} ms`));
      }, Math.max(0, ms));
      const waiter = (v: T | Error) => {
        clearTimeout(timer);
        v instanceof Error ? reject(v) : resolve(v);
      };
      this.waiters.push(waiter);
    });
  }
}
