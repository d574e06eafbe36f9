// A day of the channel, played by the apps' own contract operations.
import { randomUUID } from "node:crypto";
import { App, type Mode, type Queue, socket, subscribe } from "./client.js";
import {
  ConsoleLoginDocument,
  ConsoleOrderApproveDocument,
  ConsoleOrdersAwaitingApprovalDocument,
  ConsoleSerialLookupDocument,
  ConsoleShipmentCreateDocument,
  ConsoleShipmentDispatchDocument,
  ConsoleTransferApproveDocument,
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
  DistributorIncomingShipmentsDocument,
  DistributorReceiptConfirmDocument,
  DistributorRefreshDocument,
  DistributorSerialLookupDocument,
  DistributorShipmentDispatchDocument,
  DistributorShipmentDocument,
  DistributorSkuDocument,
  DistributorTransferDocument,
  DistributorTransferPartnersDocument,
  DistributorTransferRequestDocument,
  DistributorTransferShipDocument,
  type DistributorNotificationFieldsFragment,
  type DistributorNotificationReceivedSubscription,
  type DistributorOrderUpdatedSubscription,
} from "./generated/graphql.js";

const password = process.env.E2E_PASSWORD ?? "channelhub-demo";
export const phones = {
  distributor: "13800000001", // admin of D-0001
  otherDistributor: "13800000002", // admin of D-0002
  salesOps: "13800000041",
  goodsControl: "13800000051",
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
  const inStock = (s: (typeof page.catalog.edges)[number]["node"]) =>
    s.price && (s.availability === "IN_STOCK" || s.availability === "LOW");
  // Only product P-PH01's SKUs have demo serials (in HQ-WH1), so the cart
  // holds one of them, which ships with serials, and an unserialised SKU.
  const phonesPage = await dist.run(DistributorCatalogDocument, { first: 20, filter: { search: "PH01-" } });
  const a = phonesPage.catalog.edges.map((e) => e.node).find((s) => s.serialised && s.code.startsWith("PH01-") && inStock(s));
  check(a, "an orderable P-PH01 SKU");
  const b = page.catalog.edges.map((e) => e.node).find((s) => !s.serialised && inStock(s));
  check(b, "an orderable SKU without serials on the first page");
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

    step(mode, "the inbox shows the alert");
    const inbox = await dist.run(DistributorInboxDocument, { first: 20, unreadOnly: true });
    const mine = inbox.notifications.edges
      .map((e) => e.node as DistributorNotificationFieldsFragment)
      .filter((n) => n.target === target);
    check(mine.length > 0 && mine.every((n) => !n.read), "unread alert in the inbox");
    check(inbox.notificationUnreadCount >= mine.length, "unread count");
    const read = await dist.run(DistributorInboxMarkReadDocument, { ids: mine.map((n) => n.id) });
    check(read.notificationsMarkRead.unreadCount === inbox.notificationUnreadCount - mine.length, "marked read");

    await shipAndReceive(mode, dist, order.id, updates, alerts);
    updates.stop();
    alerts.stop();
  } finally {
    await ws.dispose();
  }

  const mineNow = await dist.run(DistributorOrderDocument, { id: order.id });
  check(mineNow.order?.status === "COMPLETED", "the order screen shows COMPLETED");
  check(mineNow.order.lines.every((l) => l.shippedQty === l.qty), "every line shipped in full");
  const list = await dist.run(DistributorOrdersDocument, { first: 20, filter: { statuses: ["COMPLETED"] } });
  check(list.orders.edges.some((e) => e.node.id === order.id), "my orders list it");
  const credit = await dist.run(DistributorCreditDocument, { first: 5 });
  check(credit.creditSummary.status, "credit summary");

  step(mode, "another distributor cannot read that order");
  const other = await distributorLogin(mode, phones.otherDistributor);
  const peek = await new App("distributor", mode, other.accessToken).attempt(DistributorOrderDocument, { id: order.id });
  check(!peek.data?.order, "no order data for another distributor");
  const codes = (peek.errors ?? []).map((e) => e.extensions?.code);
  check(codes.length === 1 && codes[0] === "NOT_FOUND", `NOT_FOUND, got ${JSON.stringify(peek.errors)}`);

  await transferToSibling(mode, dist, a.id, new App("distributor", mode, other.accessToken));
}

/** D-0001 offers one phone to D-0002; HQ approves; D-0001 ships and dispatches it; D-0002 scans it in. */
async function transferToSibling(mode: Mode, dist: App, skuId: string, sibling: App): Promise<void> {
  step(mode, "the distributor offers a phone to a sibling distributor");
  const partners = await dist.run(DistributorTransferPartnersDocument, { first: 20 });
  const to = partners.transferPartners.find((p) => p.code === "D-0002");
  check(to, `D-0002 among the partners: ${JSON.stringify(partners.transferPartners)}`);
  const home = await dist.run(DistributorHomeDocument);
  const asked = await dist.run(DistributorTransferRequestDocument, {
    input: { fromPartyId: home.viewer.party.id, toPartyId: to.id, lines: [{ skuId, qty: 1 }], note: `e2e ${mode}`, idempotencyKey: randomUUID() },
  });
  const tr = asked.transferRequest.transfer;
  check(tr && tr.status === "REQUESTED", `transferRequest: ${JSON.stringify(asked.transferRequest.errors)}`);

  step(mode, "HQ, the common supplier, approves it");
  const login = await new App("console", mode).run(ConsoleLoginDocument, { phone: phones.salesOps, password });
  check(login.authLogin.session, "sales ops login");
  const ops = new App("console", mode, login.authLogin.session.accessToken);
  const approved = await ops.run(ConsoleTransferApproveDocument, { id: tr.id, reason: `e2e ${mode}` });
  check(approved.transferApprove.transfer?.status === "APPROVED", `transferApprove: ${JSON.stringify(approved.transferApprove.errors)}`);
  check(approved.transferApprove.transfer.reservations.length === 1, "the phone is reserved at the sender");

  step(mode, "the sender ships and dispatches it");
  const shipped = await dist.run(DistributorTransferShipDocument, {
    id: tr.id,
    input: { idempotencyKey: randomUUID(), carrier: "SF Express", lines: [{ lineNo: 1, qty: 1 }] },
  });
  const sh = shipped.transferShip.shipment;
  check(sh?.viewerCanDispatch, `transferShip: ${JSON.stringify(shipped.transferShip.errors)}`);
  const out = await dist.run(DistributorShipmentDispatchDocument, { id: sh.id });
  check(out.shipmentDispatch.shipment?.transfer?.status === "SHIPPED", `dispatch: ${JSON.stringify(out.shipmentDispatch.errors)}`);

  step(mode, "the sibling scans the unit in and the transfer completes");
  const opened = await sibling.run(DistributorShipmentDocument, { id: sh.id });
  check(opened.shipment?.viewerCanReceive && opened.shipment.order == null, "the receiver opens the transfer's shipment");
  const serials = opened.shipment.serials.edges.map((e) => e.node.number);
  check(serials.length === 1, `one unit: ${serials.length}`);
  const confirmed = await sibling.run(DistributorReceiptConfirmDocument, {
    shipmentId: sh.id,
    input: { idempotencyKey: randomUUID(), serials },
  });
  check(confirmed.receiptConfirm.receipt?.accepted === 1, `receiptConfirm: ${JSON.stringify(confirmed.receiptConfirm.errors)}`);
  const done = await sibling.run(DistributorTransferDocument, { id: tr.id });
  check(done.transfer?.status === "COMPLETED", `transfer ${done.transfer?.status}`);
  const unit = await sibling.run(DistributorSerialLookupDocument, { number: serials[0] });
  check(unit.serial?.holder?.id === to.id, "the unit is the sibling's now");
}

type Updates = Queue<DistributorOrderUpdatedSubscription>;
type Alerts = Queue<DistributorNotificationReceivedSubscription>;

/** Goods control ships the approved order; the distributor receives it by its serials. */
async function shipAndReceive(mode: Mode, dist: App, orderId: string, updates: Updates, alerts: Alerts): Promise<void> {
  step(mode, "goods control ships the order with a carrier");
  const login = await new App("console", mode).run(ConsoleLoginDocument, { phone: phones.goodsControl, password });
  check(login.authLogin.session, "goods control login");
  const gc = new App("console", mode, login.authLogin.session.accessToken);
  const ord = await dist.run(DistributorOrderDocument, { id: orderId });
  check(ord.order?.status === "APPROVED", "the order is approved");
  // Every line, gifts included; the serialised units are the oldest in stock
  // (the server picks them when the lines name none).
  const created = await gc.run(ConsoleShipmentCreateDocument, {
    input: {
      orderId,
      idempotencyKey: randomUUID(),
      lines: ord.order.lines.map((l) => ({ orderLineNo: l.lineNo, qty: l.qty - l.shippedQty })),
      note: `e2e ${mode}`,
    },
  });
  check(created.shipmentCreate.shipment, `shipmentCreate: ${JSON.stringify(created.shipmentCreate.errors)}`);
  const draft = created.shipmentCreate.shipment;
  check(draft.viewerCanDispatch, "goods control may dispatch it");
  const tracking = `SF${Date.now()}`;
  const dispatched = await gc.run(ConsoleShipmentDispatchDocument, {
    id: draft.id,
    input: { carrier: "SF Express", trackingNumber: tracking },
  });
  const sh = dispatched.shipmentDispatch.shipment;
  check(sh, `shipmentDispatch: ${JSON.stringify(dispatched.shipmentDispatch.errors)}`);
  check(sh.carrier === "SF Express" && sh.trackingNumber === tracking, "carrier and tracking number");
  check(sh.order?.status === "SHIPPED", `order ${sh.order?.status} after the dispatch`);

  step(mode, "the subscriber sees the order shipped and the shipment alert");
  const shipped = await updates.until(
    (o) => o.orderUpdated.status === "SHIPPED" || o.orderUpdated.status === "PARTIALLY_SHIPPED",
    "status SHIPPED",
  );
  check(shipped.orderUpdated.status === "SHIPPED", "the whole order shipped");
  const shipTarget = `shipment/${sh.id.replace(/^Shipment:/, "")}`;
  const shipAlert = await alerts.until((n) => n.notificationReceived.target === shipTarget, `an alert for ${shipTarget}`);
  check(shipAlert.notificationReceived.category === "SHIPMENT", "shipment alert category");

  step(mode, "the distributor confirms the receipt by scanning the serials");
  const incoming = await dist.run(DistributorIncomingShipmentsDocument, { first: 20, statuses: ["DISPATCHED"] });
  check(incoming.shipments.edges.some((e) => e.node.id === sh.id && e.node.viewerCanReceive), "the shipment is on its way");
  const opened = await dist.run(DistributorShipmentDocument, { id: sh.id });
  check(opened.shipment, "the distributor opens the shipment");
  const serials = opened.shipment.serials.edges.map((e) => e.node.number);
  const phoneLine = opened.shipment.lines.find((l) => l.sku.code.startsWith("PH01-"));
  check(phoneLine && serials.length === phoneLine.qty, `one serial per phone: ${serials.length}`);
  const confirmed = await dist.run(DistributorReceiptConfirmDocument, {
    shipmentId: sh.id,
    input: { idempotencyKey: randomUUID(), serials },
  });
  const receipt = confirmed.receiptConfirm.receipt;
  check(receipt, `receiptConfirm: ${JSON.stringify(confirmed.receiptConfirm.errors)}`);
  check(!receipt.claim && confirmed.receiptConfirm.duplicates.length === 0, "received in full, no claim");
  const total = opened.shipment.lines.reduce((n, l) => n + l.qty, 0);
  check(receipt.accepted === total, `accepted ${receipt.accepted} of ${total}`);

  const done = await updates.until((o) => o.orderUpdated.status === "COMPLETED", "status COMPLETED");
  check(done.orderUpdated.status === "COMPLETED", "the order completes");

  step(mode, "each received unit is traced to the distributor");
  const home = await dist.run(DistributorOrderDocument, { id: orderId });
  const buyer = home.order!.buyer;
  for (const number of serials) {
    const mine = await dist.run(DistributorSerialLookupDocument, { number });
    check(mine.serial?.holder?.id === buyer.id, `${number} is held by the distributor`);
    check(mine.serial.trail.some((t) => t.documentNumber === sh.number), `${number}'s trail names ${sh.number}`);
  }
  const hq = await gc.run(ConsoleSerialLookupDocument, { number: serials[0] });
  check(hq.serial?.holder?.id === buyer.id, "goods control sees the unit at the distributor");
  check(hq.serial.trail.length >= 3, `stocked, shipped, received: ${JSON.stringify(hq.serial.trail)}`);

  step(mode, "the inbox shows the shipment alert");
  const inbox = await dist.run(DistributorInboxDocument, { first: 50 });
  const alertsFor = inbox.notifications.edges
    .map((e) => e.node as DistributorNotificationFieldsFragment)
    .filter((n) => n.target === shipTarget);
  check(alertsFor.length > 0 && alertsFor.every((n) => n.category === "SHIPMENT"), "shipment alert in the inbox");
}
