-- A unit's territory: the party it was last shipped to and received by (the
-- receipt of any shipment that listed it sets it). Null while it has never
-- left HQ. A unit turning up outside its territory's line is a diversion.
ALTER TABLE serials ADD COLUMN territory_party_id {{.UUID}} REFERENCES parties (id);
--bun:split
-- Units received before this migration: the holder of their last RECEIVED
-- step, else the non-HQ party they sit in stock at (the demo's opening stock).
UPDATE serials SET territory_party_id = COALESCE(
    (SELECT se.holder_party_id FROM serial_events AS se
      WHERE se.serial_id = serials.id AND se.type = 'RECEIVED'
      ORDER BY se.created_at DESC, se.id DESC LIMIT 1),
    CASE WHEN serials.status = 'IN_STOCK'
          AND serials.holder_party_id NOT IN (SELECT hq.id FROM parties AS hq WHERE hq.kind = 'HQ')
         THEN serials.holder_party_id END);
--bun:split
-- One unit found outside its territory, with the evidence: where it should be
-- (expected), where it turned up (actual), each with its region and branch as
-- they were at detection, and the document that showed it. Written in bulk
-- inside receipts of up to 20,000 units, so it carries no foreign keys (its
-- parties, SKUs and units are never deleted) and only the indexes its readers
-- need: by time, and by branch for the branch managers' scope.
CREATE TABLE diversions (
    id {{.UUID}} PRIMARY KEY,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    serial_id {{.UUID}} NOT NULL,
    serial_number TEXT NOT NULL,
    sku_id {{.UUID}} NOT NULL,
    expected_party_id {{.UUID}} NOT NULL,
    expected_branch_id {{.UUID}},
    expected_region TEXT NOT NULL DEFAULT '',
    actual_party_id {{.UUID}} NOT NULL,
    actual_branch_id {{.UUID}},
    actual_region TEXT NOT NULL DEFAULT '',
    document_type TEXT NOT NULL,
    document_id {{.UUID}},
    document_number TEXT NOT NULL,
    actor_user_id {{.UUID}},
    detected_at {{.Time}} NOT NULL,
    review_note TEXT NOT NULL DEFAULT '',
    reviewed_by {{.UUID}},
    reviewed_at {{.Time}}
);
--bun:split
CREATE INDEX diversions_detected_idx ON diversions (detected_at);
--bun:split
CREATE INDEX diversions_expected_branch_idx ON diversions (expected_branch_id, id);
--bun:split
CREATE INDEX diversions_actual_branch_idx ON diversions (actual_branch_id, id);
--bun:split
-- Channel inventory reads a party's goods receipts and dispatches by date.
CREATE INDEX receipts_buyer_idx ON receipts (buyer_party_id, created_at);
--bun:split
CREATE INDEX shipments_seller_dispatched_idx ON shipments (seller_party_id, dispatched_at);
