package seed

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"channelhub/internal/credit"
	"channelhub/internal/party"
)

// Demo credit lines, in fen: a distributor's with HQ and a buyer's with its distributor.
const (
	demoDistributorLimit = 50_000_000 // 500,000.00
	demoStoreLimit       = 5_000_000  // 50,000.00
)

// buildCredit opens a HOLD-policy credit line for every party with its
// supplier, each limit with its ledger entry.
func (b *builder) buildCredit() ([]*credit.Account, []*credit.Entry) {
	byID := map[uuid.UUID]*party.Party{}
	for _, p := range b.parties {
		byID[p.ID] = p
	}
	var accounts []*credit.Account
	var entries []*credit.Entry
	for _, p := range b.parties {
		if p.Kind != party.KindDistributor && p.Kind != party.KindStore {
			continue
		}
		seller := byID[*p.ParentID]
		for seller != nil && seller.Kind == party.KindBranch {
			seller = byID[*seller.ParentID]
		}
		if seller == nil {
			continue
		}
		limit := int64(demoStoreLimit)
		if seller.Kind == party.KindHQ {
			limit = demoDistributorLimit
		}
		a := &credit.Account{BuyerID: p.ID, SellerID: seller.ID, Limit: limit, Policy: credit.PolicyHold, Status: credit.StatusOK, UpdatedAt: b.now}
		accounts = append(accounts, a)
		entries = append(entries, &credit.Entry{ID: uuid.Must(uuid.NewV7()), BuyerID: p.ID, SellerID: seller.ID, Fund: credit.FundCredit,
			Kind: credit.KindLimitChange, Amount: limit, BalanceAfter: limit, SourceType: "SEED", SourceID: "SEED", CreatedAt: b.now})
	}
	return accounts, entries
}

func insertCredit(ctx context.Context, tx bun.Tx, accounts []*credit.Account, entries []*credit.Entry) error {
	if len(accounts) == 0 {
		return nil
	}
	if _, err := tx.NewInsert().Model(&accounts).Exec(ctx); err != nil {
		return fmt.Errorf("seed: credit accounts: %w", err)
	}
	if _, err := tx.NewInsert().Model(&entries).Exec(ctx); err != nil {
		return fmt.Errorf("seed: credit entries: %w", err)
	}
	return nil
}
