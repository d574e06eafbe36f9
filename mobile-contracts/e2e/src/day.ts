// A day of the channel, played by the apps' own contract operations.
import { randomUUID } from "node:crypto";
import { App, type Mode, socket, subscribe } from "./client.js";
import {
  ConsoleLoginDocument,
  ConsoleOrderApproveDocument,
  ConsoleOrdersAwaitingApprovalDocument,
  DistributorCartAddDocument,
  DistributorCartClearDocument,
  DistributorCartDocument,
  DistributorCatalogDocument,
  DistributorCategoriesDocument,
  DistributorCheckoutCartDocument,
  DistributorCreditDocument,
  DistributorDeviceRegisterDocument,
  DistributorHomeDocument,
  DistributorInboxDocument,
  DistributorInboxMarkReadDocument,
  DistributorLoginDocument,
  DistributorNotificationReceivedDocument,
  DistributorOrderDocument,
  DistributorOrderSubmitCartDocument,
  DistributorOrderUpdatedDocument,
  DistributorOrdersDocument,
  DistributorRefreshDocument,
  DistributorSkuDocument,
  type DistributorNotificationFieldsFragment,
} from "./generated/graphql.js";

const password = process.env.E2E_PASSWORD ?? "channelhub-demo";
export const phones = {
  distributor: "13800000001", // admin of D-0001
  otherDistributor: "13800000002", // admin of D-0002
  salesOps: "13800000041",
};

function check(ok: unknown, what: string): asserts ok {
  if (!ok) throw new Error(`check failed: ${what}`);
}

export function step(mode: Mode, what: string) {
  console.log(`[${mode}] ${what}`);
}

async function distributorLogin(mode: Mode, phone: string) {
  const r = await new App("distributor", mode).run(DistributorLoginDocument, { phone, password });
  check(r.authLogin.session, `login ${phone}: ${JSON.stringify(r.authLogin.errors)}`);
  return r.authLogin.session;
}

export async function playDay(mode: Mode): Promise<void> {
  step(mode, "a distributor signs in and refreshes the session");
  const first = await distributorLogin(mode, phones.distributor);
  check(first.viewer.app === "DISTRIBUTOR", "viewer app");
  const refreshed = await new App("distributor", mode).run(DistributorRefreshDocument, { refreshToken: first.refreshToken });
  const session = refreshed.authRefresh.session;
  check(session && session.refreshToken !== first.refreshToken, "refresh rotates the token");
  const dist = new App("distributor", mode, session.accessToken);

  const home = await dist.run(DistributorHomeDocument);
  check(home.viewer.party.code === "D-0001", "home shows the distributor");
  await dist.run(DistributorDeviceRegisterDocument, { token: `e2e-${mode}-${randomUUID()}`, platform: "ANDROID" });

  step(mode, "browses the catalogue");
  const cats = await dist.run(DistributorCategoriesDocument);
  check(cats.categories.length > 0, "categories");
  const page = await dist.run(DistributorCatalogDocument, { first: 50 });
  check(page.catalog.edges.length > 0, "catalogue page");
  const orderable = page.catalog.edges
    .map((e) => e.node)
    .filter((s) => s.price && (s.availability === "IN_STOCK" || s.availability === "LOW"));
  check(orderable.length >= 2, "two orderable SKUs on the first page");
  const [a, b] = orderable;
  const detail = await dist.run(DistributorSkuDocument, { id: a.id });
  check(detail.sku?.priceExplanation, "price explanation");

  step(mode, "fills a cart and submits it");
  await dist.run(DistributorCartClearDocument);
  const added = await dist.run(DistributorCartAddDocument, {
    lines: [
      { skuId: a.id, qty: a.minOrderQty },
      { skuId: b.id, qty: b.minOrderQty },
    ],
  });
  check(added.cartAddLines.errors.length === 0, `cart: ${JSON.stringify(added.cartAddLines.errors)}`);
  const cart = await dist.run(DistributorCartDocument);
  check(cart.cart.lines.length === 2, "two cart lines");
  const checkout = await dist.run(DistributorCheckoutCartDocument);
  const key = randomUUID();
  const submit = { cartId: checkout.cart.id, idempotencyKey: key, note: `e2e ${mode}` };
  const submitted = await dist.run(DistributorOrderSubmitCartDocument, submit);
  check(submitted.orderSubmit.errors.length === 0, `submit: ${JSON.stringify(submitted.orderSubmit.errors)}`);
  const order = submitted.orderSubmit.order!;
  check(order.status === "SUBMITTED", `order status ${order.status}`);
  // A phone on a bad network sends it again: the same order comes back.
  const replay = await dist.run(DistributorOrderSubmitCartDocument, submit);
  check(replay.orderSubmit.order?.id === order.id, "idempotent replay returns the same order");

  step(mode, `a second socket follows order ${order.number}`);
  const ws = socket(session.accessToken);
  try {
    const updates = subscribe(ws, mode, DistributorOrderUpdatedDocument, { id: order.id });
    const alerts = subscribe(ws, mode, DistributorNotificationReceivedDocument, {});
    // graphql-transport-ws has no "subscribed" acknowledgement; give the
    // server a moment to register both with the broker.
    await new Promise((r) => setTimeout(r, 500));

    step(mode, "sales ops approve it in the console");
    const login = await new App("console", mode).run(ConsoleLoginDocument, { phone: phones.salesOps, password });
    check(login.authLogin.session, "console login");
    const ops = new App("console", mode, login.authLogin.session.accessToken);
    const queue = await ops.run(ConsoleOrdersAwaitingApprovalDocument, { first: 100 });
    check(queue.orders.edges.some((e) => e.node.id === order.id), "the order waits for approval");
    const approved = await ops.run(ConsoleOrderApproveDocument, { id: order.id, reason: `e2e ${mode}` });
    check(approved.orderApprove.order?.status === "APPROVED", `approve: ${JSON.stringify(approved.orderApprove.errors)}`);

    step(mode, "the subscriber sees the change and the alert");
    const seen = await updates.until((o) => o.orderUpdated.status === "APPROVED", "status APPROVED");
    check(seen.orderUpdated.timeline.some((t) => t.toStatus === "APPROVED"), "timeline shows the approval");
    // Deep links carry the bare UUID of the order's global ID "Order:<uuid>".
    const target = `order/${order.id.replace(/^Order:/, "")}`;
    const pushed = await alerts.until((n) => n.notificationReceived.target === target, `an alert for ${target}`);
    check(pushed.notificationReceived.category === "ORDER", "alert category");
    updates.stop();
    alerts.stop();

    step(mode, "the inbox shows the alert");
    const inbox = await dist.run(DistributorInboxDocument, { first: 20, unreadOnly: true });
    const mine = inbox.notifications.edges
      .map((e) => e.node as DistributorNotificationFieldsFragment)
      .filter((n) => n.target === target);
    check(mine.length > 0 && mine.every((n) => !n.read), "unread alert in the inbox");
    check(inbox.notificationUnreadCount >= mine.length, "unread count");
    const read = await dist.run(DistributorInboxMarkReadDocument, { ids: mine.map((n) => n.id) });
    check(read.notificationsMarkRead.unreadCount === inbox.notificationUnreadCount - mine.length, "marked read");
  } finally {
    await ws.dispose();
  }

  const mineNow = await dist.run(DistributorOrderDocument, { id: order.id });
  check(mineNow.order?.status === "APPROVED", "the order screen shows APPROVED");
  const list = await dist.run(DistributorOrdersDocument, { first: 20, filter: { statuses: ["APPROVED"] } });
  check(list.orders.edges.some((e) => e.node.id === order.id), "my orders list it");
  const credit = await dist.run(DistributorCreditDocument, { first: 5 });
  check(credit.creditSummary.status, "credit summary");

  step(mode, "another distributor cannot read that order");
  const other = await distributorLogin(mode, phones.otherDistributor);
  const peek = await new App("distributor", mode, other.accessToken).attempt(DistributorOrderDocument, { id: order.id });
  check(!peek.data?.order, "no order data for another distributor");
  const codes = (peek.errors ?? []).map((e) => e.extensions?.code);
  check(codes.length === 1 && codes[0] === "NOT_FOUND", `NOT_FOUND, got ${JSON.stringify(peek.errors)}`);

  // TODO(shipments, issue 6): the steps listed in README.md under "Next steps"
  // come here once their operations are in the contract.
}
