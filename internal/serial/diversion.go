package serial

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"channelhub/internal/outbox"
	"channelhub/internal/party"
)

// DiversionKind is how a unit showed up outside its territory.
type DiversionKind string

const (
	// ReceivedOutside: a receipt scanned a unit not on its shipment whose
	// territory is neither the receiver nor above it.
	ReceivedOutside DiversionKind = "RECEIVED_OUTSIDE"
	// SoldOutside: a store reported selling a unit whose territory is neither
	// the store nor above it.
	SoldOutside DiversionKind = "SOLD_OUTSIDE"
)

// DiversionStatus is OPEN until HQ or a branch concerned reviews it.
type DiversionStatus string

const (
	DiversionOpen      DiversionStatus = "OPEN"
	DiversionConfirmed DiversionStatus = "CONFIRMED"
	DiversionDismissed DiversionStatus = "DISMISSED"
)

// EventDiverted is the outbox event of one document that found diverted units.
const EventDiverted = "serial.diverted"

// TopicDiversions is the live topic of diversion events.
const TopicDiversions = "diversions"

// Diversion is one unit found outside its territory, with the evidence.
type Diversion struct {
	bun.BaseModel `bun:"table:diversions,alias:dv"`

	ID               uuid.UUID       `bun:"id,pk"`
	Kind             DiversionKind   `bun:"kind"`
	Status           DiversionStatus `bun:"status"`
	SerialID         uuid.UUID       `bun:"serial_id"`
	SerialNumber     string          `bun:"serial_number"`
	SKUID            uuid.UUID       `bun:"sku_id"`
	ExpectedPartyID  uuid.UUID       `bun:"expected_party_id"` // the unit's territory
	ExpectedBranchID *uuid.UUID      `bun:"expected_branch_id"`
	ExpectedRegion   string          `bun:"expected_region"`
	ActualPartyID    uuid.UUID       `bun:"actual_party_id"` // the receiver or the seller
	ActualBranchID   *uuid.UUID      `bun:"actual_branch_id"`
	ActualRegion     string          `bun:"actual_region"`
	DocumentType     string          `bun:"document_type"` // RECEIPT or SELL_OUT
	DocumentID       *uuid.UUID      `bun:"document_id"`
	DocumentNumber   string          `bun:"document_number"`
	ActorUserID      *uuid.UUID      `bun:"actor_user_id"`
	DetectedAt       time.Time       `bun:"detected_at"`
	ReviewNote       string          `bun:"review_note"`
	ReviewedBy       *uuid.UUID      `bun:"reviewed_by"`
	ReviewedAt       *time.Time      `bun:"reviewed_at"`
}

// Diverted is the payload of EventDiverted: one event per document, however
// many of its units were diverted, so a receipt of 20,000 grey units makes one
// alert, not 20,000.
type Diverted struct {
	Kind             DiversionKind `json:"kind"`
	Count            int           `json:"count"`
	DiversionID      uuid.UUID     `json:"diversionId"` // the first
	SerialNumber     string        `json:"serialNumber"`
	DocumentType     string        `json:"documentType"`
	DocumentNumber   string        `json:"documentNumber"`
	ActualPartyID    uuid.UUID     `json:"actualPartyId"`
	ActualCode       string        `json:"actualCode"`
	ExpectedPartyIDs []uuid.UUID   `json:"expectedPartyIds"`
	ExpectedCodes    []string      `json:"expectedCodes"`
	// BranchIDs are the branches above either side: their managers are told.
	BranchIDs []uuid.UUID `json:"branchIds"`
	HQID      uuid.UUID   `json:"hqId"`
}

// place is what a diversion records of a party.
type place struct {
	party  *party.Party
	branch *uuid.UUID
}

// Divert records a diversion for each of units whose territory lies outside
// actor's line (actor itself and the parties above it), inside the caller's
// transaction, and writes one EventDiverted for the document. Units without a
// territory (never left HQ) or in actor's line cost nothing; otherwise it takes
// two lookups of parties and one insert per 5,000 diversions, never a query per unit.
func Divert(ctx context.Context, tx bun.IDB, kind DiversionKind, actor uuid.UUID, units []*Serial, doc Doc) ([]*Diversion, error) {
	var suspects []*Serial
	ids := []uuid.UUID{actor}
	seen := map[uuid.UUID]bool{actor: true}
	for _, u := range units {
		if u.TerritoryID == nil || *u.TerritoryID == actor {
			continue
		}
		suspects = append(suspects, u)
		if t := *u.TerritoryID; !seen[t] {
			seen[t] = true
			ids = append(ids, t)
		}
	}
	if len(suspects) == 0 {
		return nil, nil
	}
	parties := make(map[uuid.UUID]*party.Party, len(ids))
	for _, c := range chunks(ids) {
		var rows []*party.Party
		if err := tx.NewSelect().Model(&rows).Where("p.id IN (?)", bun.List(c)).Scan(ctx); err != nil {
			return nil, fmt.Errorf("serial: diversion parties: %w", err)
		}
		for _, r := range rows {
			parties[r.ID] = r
		}
	}
	me := parties[actor]
	if me == nil {
		return nil, fmt.Errorf("serial: diversion: no party %s", actor)
	}
	line := map[uuid.UUID]bool{}
	for _, id := range pathIDs(me.Path) {
		line[id] = true
	}
	var diverted []*Serial
	for _, u := range suspects {
		if !line[*u.TerritoryID] {
			diverted = append(diverted, u)
		}
	}
	if len(diverted) == 0 {
		return nil, nil
	}
	// The branch of each side: the BRANCH party on its path, if any.
	sides := []uuid.UUID{actor}
	var above []uuid.UUID
	done := map[uuid.UUID]bool{}
	addAbove := func(p *party.Party) {
		for _, id := range pathIDs(p.Path) {
			if !done[id] {
				done[id] = true
				above = append(above, id)
			}
		}
	}
	addAbove(me)
	expected := map[uuid.UUID]bool{}
	for _, u := range diverted {
		t := *u.TerritoryID
		if !expected[t] {
			expected[t] = true
			sides = append(sides, t)
			if p := parties[t]; p != nil {
				addAbove(p)
			}
		}
	}
	branches := map[uuid.UUID]bool{}
	for _, c := range chunks(above) {
		var rows []uuid.UUID
		if err := tx.NewSelect().Table("parties").Column("id").Where("kind = ? AND id IN (?)", party.KindBranch, bun.List(c)).
			Scan(ctx, &rows); err != nil {
			return nil, fmt.Errorf("serial: diversion branches: %w", err)
		}
		for _, id := range rows {
			branches[id] = true
		}
	}
	places := make(map[uuid.UUID]place, len(sides))
	for _, id := range sides {
		pl := place{party: parties[id]}
		if pl.party == nil {
			pl.party = &party.Party{ID: id}
		}
		for _, a := range pathIDs(pl.party.Path) {
			if branches[a] {
				pl.branch = &a
				break
			}
		}
		places[id] = pl
	}
	var docID, by *uuid.UUID
	if doc.ID != uuid.Nil {
		docID = &doc.ID
	}
	if doc.Actor != uuid.Nil {
		by = &doc.Actor
	}
	act := places[actor]
	out := make([]*Diversion, len(diverted))
	for i, u := range diverted {
		exp := places[*u.TerritoryID]
		out[i] = &Diversion{ID: uuid.Must(uuid.NewV7()), Kind: kind, Status: DiversionOpen, SerialID: u.ID, SerialNumber: u.Number,
			SKUID: u.SKUID, ExpectedPartyID: exp.party.ID, ExpectedBranchID: exp.branch, ExpectedRegion: exp.party.Region,
			ActualPartyID: actor, ActualBranchID: act.branch, ActualRegion: me.Region,
			DocumentType: doc.Type, DocumentID: docID, DocumentNumber: doc.Number, ActorUserID: by, DetectedAt: doc.At}
	}
	for _, c := range chunks(out) {
		if _, err := tx.NewInsert().Model(&c).ExcludeColumn("review_note", "reviewed_by", "reviewed_at").Exec(ctx); err != nil {
			return nil, fmt.Errorf("serial: diversions: %w", err)
		}
	}
	ev := Diverted{Kind: kind, Count: len(out), DiversionID: out[0].ID, SerialNumber: out[0].SerialNumber, DocumentType: doc.Type,
		DocumentNumber: doc.Number, ActualPartyID: actor, ActualCode: me.Code, ExpectedPartyIDs: []uuid.UUID{}, ExpectedCodes: []string{},
		BranchIDs: []uuid.UUID{}}
	if hq := pathIDs(me.Path); len(hq) > 0 {
		ev.HQID = hq[0]
	}
	told := map[uuid.UUID]bool{}
	for _, id := range sides {
		pl := places[id]
		if id != actor {
			ev.ExpectedPartyIDs = append(ev.ExpectedPartyIDs, id)
			ev.ExpectedCodes = append(ev.ExpectedCodes, pl.party.Code)
		}
		if pl.branch != nil && !told[*pl.branch] {
			told[*pl.branch] = true
			ev.BranchIDs = append(ev.BranchIDs, *pl.branch)
		}
	}
	e, err := outbox.New(TopicDiversions, "Diversion", out[0].ID.String(), EventDiverted, ev, doc.At)
	if err != nil {
		return nil, err
	}
	return out, outbox.Add(ctx, tx, e)
}

// pathIDs are the parties on a path, HQ first.
func pathIDs(path string) []uuid.UUID {
	var out []uuid.UUID
	for part := range strings.SplitSeq(strings.Trim(path, "/"), "/") {
		if id, err := uuid.Parse(part); err == nil {
			out = append(out, id)
		}
	}
	return out
}
