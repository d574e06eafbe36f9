// Package idempotency makes a document-creating mutation safe to retry: the
// first request with a client's key does the work and stores its result; a
// retry with the same key and the same request gets that result back; the
// same key with a different request is refused.
package idempotency

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// Errors of a key.
var (
	ErrKeyReused  = errors.New("idempotency: key already used for a different request")
	ErrInvalidKey = errors.New("idempotency: key must be 1..64 characters")
)

// Hash is the fingerprint of a request: its JSON.
func Hash(request any) (string, error) {
	b, err := json.Marshal(request)
	if err != nil {
		return "", fmt.Errorf("idempotency: hash: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// Claim takes key for user and scope inside the caller's transaction. A new
// key is recorded and Claim answers (nil, false). A key already taken by the
// same request answers its stored result and true; concurrent retries wait
// for the first to commit (a unique-key insert on PostgreSQL, the write lock on SQLite).
func Claim(ctx context.Context, tx bun.IDB, user uuid.UUID, scope, key, hash string, now time.Time) (json.RawMessage, bool, error) {
	q, err := ClaimQuery(tx, user, scope, key, hash, nil, now)
	if err != nil {
		return nil, false, err
	}
	res, err := q.Exec(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("idempotency: claim: %w", err)
	}
	n, _ := res.RowsAffected()
	return Claimed(ctx, tx, n == 1, user, scope, key, hash)
}

// ClaimQuery is Claim's insert, for a caller that sends it with other
// statements; Claimed then tells what it found. A caller that knows its
// result before the work (an id it chose) passes it, and needs no Complete:
// the key and the work commit or roll back together.
func ClaimQuery(tx bun.IDB, user uuid.UUID, scope, key, hash string, result any, now time.Time) (*bun.RawQuery, error) {
	if n := utf8.RuneCountInString(key); n < 1 || n > 64 {
		return nil, ErrInvalidKey
	}
	stored := ""
	if result != nil {
		b, err := json.Marshal(result)
		if err != nil {
			return nil, fmt.Errorf("idempotency: result: %w", err)
		}
		stored = string(b)
	}
	return tx.NewRaw(`INSERT INTO idempotency_keys (user_id, scope, key, request_hash, result, created_at) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (user_id, scope, key) DO NOTHING`, user, scope, key, hash, stored, now), nil
}

// Claimed answers Claim after ClaimQuery inserted the key (inserted) or found it taken.
func Claimed(ctx context.Context, tx bun.IDB, inserted bool, user uuid.UUID, scope, key, hash string) (json.RawMessage, bool, error) {
	if inserted {
		return nil, false, nil
	}
	var row struct {
		RequestHash string `bun:"request_hash"`
		Result      string `bun:"result"`
	}
	err := tx.NewSelect().Table("idempotency_keys").Column("request_hash", "result").
		Where("user_id = ? AND scope = ? AND key = ?", user, scope, key).Scan(ctx, &row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, fmt.Errorf("idempotency: key vanished")
	}
	if err != nil {
		return nil, false, fmt.Errorf("idempotency: load: %w", err)
	}
	if row.RequestHash != hash {
		return nil, false, ErrKeyReused
	}
	return json.RawMessage(row.Result), true, nil
}

// Complete stores the result of the work a Claim started, in the same transaction.
func Complete(ctx context.Context, tx bun.IDB, user uuid.UUID, scope, key string, result any) error {
	q, err := CompleteQuery(tx, user, scope, key, result)
	if err != nil {
		return err
	}
	if _, err := q.Exec(ctx); err != nil {
		return fmt.Errorf("idempotency: complete: %w", err)
	}
	return nil
}

// CompleteQuery is Complete's statement, for a caller that batches its writes.
func CompleteQuery(tx bun.IDB, user uuid.UUID, scope, key string, result any) (*bun.UpdateQuery, error) {
	b, err := json.Marshal(result)
	if err != nil {
		return nil, fmt.Errorf("idempotency: result: %w", err)
	}
	return tx.NewUpdate().Table("idempotency_keys").Set("result = ?", string(b)).
		Where("user_id = ? AND scope = ? AND key = ?", user, scope, key), nil
}

// Key is a row of idempotency_keys.
type Key struct {
	bun.BaseModel `bun:"table:idempotency_keys"`

	UserID      uuid.UUID `bun:"user_id,pk"`
	Scope       string    `bun:"scope,pk"`
	Key         string    `bun:"key,pk"`
	RequestHash string    `bun:"request_hash"`
	Result      string    `bun:"result"`
	CreatedAt   time.Time `bun:"created_at"`
}

// ClaimDoneQuery takes key with its result already known, for work whose
// writes all go in one statement or transaction with it: when the key is
// taken, the insert fails with a unique violation (IsTaken) and the work is
// undone with it; the caller then reads what the key holds.
func ClaimDoneQuery(db bun.IDB, user uuid.UUID, scope, key, hash string, result any, now time.Time) (*bun.InsertQuery, error) {
	if n := utf8.RuneCountInString(key); n < 1 || n > 64 {
		return nil, ErrInvalidKey
	}
	b, err := json.Marshal(result)
	if err != nil {
		return nil, fmt.Errorf("idempotency: result: %w", err)
	}
	return db.NewInsert().Model(&Key{UserID: user, Scope: scope, Key: key, RequestHash: hash, Result: string(b), CreatedAt: now}), nil
}

// ValidKey checks a key's length before any work.
func ValidKey(key string) error {
	if n := utf8.RuneCountInString(key); n < 1 || n > 64 {
		return ErrInvalidKey
	}
	return nil
}

// IsTaken reports whether err is ClaimDoneQuery's insert meeting a key already taken.
func IsTaken(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "idempotency_keys_pkey") || strings.Contains(msg, "UNIQUE constraint failed: idempotency_keys.")
}
