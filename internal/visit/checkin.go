package visit

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"channelhub/internal/auth"
	"channelhub/internal/database"
	"channelhub/internal/field"
	"channelhub/internal/idempotency"
	"channelhub/internal/media"
	"channelhub/internal/outbox"
	"channelhub/internal/party"
)

var extensions = map[string]string{"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}

// PhotoUpload hands a salesman a presigned upload for one photo, under a key
// the server chooses; purpose is CHECK_IN or AUDIT.
func (s *Service) PhotoUpload(ctx context.Context, p auth.Principal, purpose, contentType string) (*media.Upload, error) {
	if err := requireSalesman(p); err != nil {
		return nil, err
	}
	ext, ok := extensions[contentType]
	if !ok {
		return nil, field.Err(ErrInvalidInput, "contentType")
	}
	if purpose != purposeCheckIn && purpose != purposeAudit {
		return nil, field.Err(ErrInvalidInput, "purpose")
	}
	now := s.Now()
	u := &upload{Key: photoKeyPrefix + p.UserID.String() + "/" + uuid.Must(uuid.NewV7()).String() + ext,
		UserID: p.UserID, Purpose: purpose, MaxBytes: MaxPhotoBytes, CreatedAt: now, ExpiresAt: now.Add(UploadTTL)}
	up, err := s.media.PresignUpload(ctx, u.Key, contentType, u.MaxBytes, u.ExpiresAt)
	if err != nil {
		return nil, err
	}
	if _, err := s.db.NewInsert().Model(u).Exec(ctx); err != nil {
		return nil, fmt.Errorf("visit: upload: %w", err)
	}
	return &up, nil
}

// photo returns the salesman's upload under key, verified: it exists in the
// store, is an image of an allowed type and within its size. The check reads
// the object once; later uses take the recorded hash.
func (s *Service) photo(ctx context.Context, user uuid.UUID, key string) (*upload, error) {
	u := new(upload)
	err := s.db.NewSelect().Model(u).Where("key = ? AND user_id = ?", key, user).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrPhotoNotFound // never handed out, or another salesman's
	}
	if err != nil {
		return nil, fmt.Errorf("visit: photo: %w", err)
	}
	if u.VerifiedAt != nil {
		return u, nil
	}
	o, err := s.media.Verify(ctx, key, u.MaxBytes)
	switch {
	case errors.Is(err, media.ErrNotFound):
		return nil, ErrPhotoNotFound
	case errors.Is(err, media.ErrTooLarge):
		return nil, ErrPhotoTooLarge
	case errors.Is(err, media.ErrNotImage):
		return nil, ErrPhotoNotImage
	case err != nil:
		return nil, err
	}
	now := s.Now()
	u.Size, u.ETag, u.SHA256, u.ContentType, u.VerifiedAt = &o.Size, &o.ETag, &o.SHA256, &o.ContentType, &now
	if _, err := s.db.NewUpdate().Model(u).Column("size", "etag", "sha256", "content_type", "verified_at").WherePK().Exec(ctx); err != nil {
		return nil, fmt.Errorf("visit: photo: %w", err)
	}
	return u, nil
}

// Position is a phone's GPS fix.
type Position struct {
	Lat, Lng, AccuracyM float64
}

func (p Position) check() error {
	var errs []error
	if math.IsNaN(p.Lat) || p.Lat < -90 || p.Lat > 90 {
		errs = append(errs, field.Err(ErrPositionInvalid, "position", "lat"))
	}
	if math.IsNaN(p.Lng) || p.Lng < -180 || p.Lng > 180 {
		errs = append(errs, field.Err(ErrPositionInvalid, "position", "lng"))
	}
	if math.IsNaN(p.AccuracyM) || p.AccuracyM < 0 || p.AccuracyM > MaxAccuracyM {
		errs = append(errs, field.Err(ErrPositionInvalid, "position", "accuracyMeters"))
	}
	return errors.Join(errs...)
}

// Haversine is the great-circle distance in metres between two WGS-84 points.
func Haversine(lat1, lng1, lat2, lng2 float64) float64 {
	const r = 6371008.8 // mean Earth radius, metres
	rad := math.Pi / 180
	dLat, dLng := (lat2-lat1)*rad, (lng2-lng1)*rad
	a := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLng/2)*math.Sin(dLng/2)
	return 2 * r * math.Asin(math.Min(1, math.Sqrt(a)))
}

// CheckInInput is a salesman arriving at a store.
type CheckInInput struct {
	StoreID        uuid.UUID
	Position       Position
	PhotoKey       string
	CapturedAt     time.Time
	IdempotencyKey string
	Note           string
}

// CheckIn opens a visit. Distance, accuracy, photo age and reuse, and the
// plan are recorded as flags, never refused; a salesman has one open visit
// at a time (a unique index, so two phones racing cannot both open one).
func (s *Service) CheckIn(ctx context.Context, p auth.Principal, in CheckInInput) (*Visit, error) {
	if err := requireSalesman(p); err != nil {
		return nil, err
	}
	if err := in.Position.check(); err != nil {
		return nil, err
	}
	if in.CapturedAt.IsZero() {
		return nil, field.Err(ErrInvalidInput, "capturedAt")
	}
	if utf8.RuneCountInString(in.Note) > MaxNoteRunes {
		return nil, field.Err(ErrInvalidInput, "note")
	}
	hash, err := idempotency.Hash(map[string]any{"store": in.StoreID, "pos": in.Position, "photo": in.PhotoKey,
		"at": in.CapturedAt.UTC(), "note": in.Note})
	if err != nil {
		return nil, err
	}
	if v, err := s.replay(ctx, p, "visitCheckIn", in.IdempotencyKey, hash); v != nil || err != nil {
		return v, err
	}
	store := new(party.Party)
	err = s.db.NewSelect().Model(store).Join("JOIN salesman_stores AS ss ON ss.store_id = p.id AND ss.user_id = ?", p.UserID).
		Where("p.id = ?", in.StoreID).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, field.Err(ErrStoreNotAssigned, "storeId")
	}
	if err != nil {
		return nil, fmt.Errorf("visit: store: %w", err)
	}
	photo, err := s.photo(ctx, p.UserID, in.PhotoKey)
	if err != nil {
		return nil, field.Err(err, "photoKey")
	}
	radius, err := s.radius(ctx, store.Path)
	if err != nil {
		return nil, err
	}
	now := s.Now()
	v := &Visit{ID: uuid.Must(uuid.NewV7()), SalesmanID: p.UserID, StoreID: store.ID, Day: s.day(now), OpenSalesmanID: &p.UserID,
		CheckedInAt: now, Latitude: in.Position.Lat, Longitude: in.Position.Lng, AccuracyM: in.Position.AccuracyM,
		RadiusM: radius, Flags: []Flag{}, PhotoKey: photo.Key, PhotoSHA256: *photo.SHA256, CapturedAt: in.CapturedAt.UTC(), Note: in.Note}
	if g := store.Geo(); g != nil {
		d := math.Round(Haversine(g.Latitude, g.Longitude, in.Position.Lat, in.Position.Lng)*10) / 10
		v.DistanceM = &d
		if d > float64(radius) {
			v.Flags = append(v.Flags, FlagOutOfFence)
		}
	} else {
		v.Flags = append(v.Flags, FlagNoStorePos)
	}
	if in.Position.AccuracyM > LowAccuracyM {
		v.Flags = append(v.Flags, FlagLowAccuracy)
	}
	if age := now.Sub(v.CapturedAt); age > StaleAfter || age < -StaleAfter {
		v.Flags = append(v.Flags, FlagStalePhoto)
	}
	var replayed bool
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		stored, replay, err := idempotency.Claim(ctx, tx, p.UserID, "visitCheckIn", in.IdempotencyKey, hash, now)
		if err := keyErr(err); err != nil {
			return err
		}
		if replayed = replay; replay {
			return json.Unmarshal(stored, &v.ID)
		}
		if v.Planned, err = s.planned(ctx, tx, p.UserID, store.ID, v.Day); err != nil {
			return err
		}
		if !v.Planned {
			v.Flags = append(v.Flags, FlagUnplannedStore)
		}
		dup, err := tx.NewSelect().Table("visits").Where("photo_sha256 = ?", v.PhotoSHA256).Exists(ctx)
		if err != nil {
			return fmt.Errorf("visit: duplicate: %w", err)
		}
		if dup {
			v.Flags = append(v.Flags, FlagDuplicatePhoto)
		}
		slices.SortFunc(v.Flags, func(a, b Flag) int { return slices.Index(AllFlags, a) - slices.Index(AllFlags, b) })
		if _, err := tx.NewInsert().Model(v).Exec(ctx); err != nil {
			if database.IsUniqueViolation(err) {
				return ErrAlreadyCheckedIn
			}
			return fmt.Errorf("visit: insert: %w", err)
		}
		ev, err := outbox.New("visit:"+v.StoreID.String(), "Visit", v.ID.String(), "visit.checked_in",
			map[string]any{"visitId": v.ID, "storeId": v.StoreID, "salesmanId": v.SalesmanID, "flags": v.Flags}, now)
		if err != nil {
			return err
		}
		if err := outbox.Add(ctx, tx, ev); err != nil {
			return err
		}
		return idempotency.Complete(ctx, tx, p.UserID, "visitCheckIn", in.IdempotencyKey, v.ID)
	})
	if err != nil {
		return nil, err
	}
	if replayed {
		return s.get(ctx, v.ID)
	}
	return v, nil
}

func keyErr(err error) error {
	switch {
	case errors.Is(err, idempotency.ErrKeyReused):
		return ErrKeyReused
	case errors.Is(err, idempotency.ErrInvalidKey):
		return field.Err(ErrInvalidInput, "idempotencyKey")
	}
	return err
}

// replay answers a retried check-in before any work; a key in flight or new answers nil.
func (s *Service) replay(ctx context.Context, p auth.Principal, scope, key, hash string) (*Visit, error) {
	id, err := s.replayed(ctx, p, scope, key, hash)
	if id == uuid.Nil || err != nil {
		return nil, err
	}
	return s.get(ctx, id)
}

// replayed is the id a completed request under key made (uuid.Nil: none
// yet), or ErrKeyReused when the key came with another request.
func (s *Service) replayed(ctx context.Context, p auth.Principal, scope, key, hash string) (uuid.UUID, error) {
	var row struct {
		RequestHash string `bun:"request_hash"`
		Result      string `bun:"result"`
	}
	err := s.db.NewSelect().Table("idempotency_keys").Column("request_hash", "result").
		Where("user_id = ? AND scope = ? AND key = ?", p.UserID, scope, key).Scan(ctx, &row)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && row.Result == "") {
		return uuid.Nil, nil
	}
	if err != nil {
		return uuid.Nil, fmt.Errorf("visit: replay: %w", err)
	}
	if row.RequestHash != hash {
		return uuid.Nil, ErrKeyReused
	}
	var id uuid.UUID
	if err := json.Unmarshal([]byte(row.Result), &id); err != nil {
		return uuid.Nil, fmt.Errorf("visit: replay: %w", err)
	}
	return id, nil
}

// radius is the geofence of the store's branch (the nearest ancestor that sets one).
func (s *Service) radius(ctx context.Context, path string) (int, error) {
	var ids []uuid.UUID
	for _, seg := range strings.Split(strings.Trim(path, "/"), "/") {
		if id, err := uuid.Parse(seg); err == nil {
			ids = append(ids, id)
		}
	}
	var rows []struct {
		BranchID uuid.UUID `bun:"branch_id"`
		RadiusM  int       `bun:"radius_m"`
	}
	if len(ids) > 0 {
		if err := s.db.NewSelect().Table("visit_geofences").Column("branch_id", "radius_m").
			Where("branch_id IN (?)", bun.In(ids)).Scan(ctx, &rows); err != nil {
			return 0, fmt.Errorf("visit: geofence: %w", err)
		}
	}
	best, depth := DefaultRadiusM, -1
	for _, r := range rows {
		if i := slices.Index(ids, r.BranchID); i > depth {
			best, depth = r.RadiusM, i
		}
	}
	return best, nil
}

// CheckOut closes the salesman's open visit and records its duration.
func (s *Service) CheckOut(ctx context.Context, p auth.Principal, id uuid.UUID, note string) (*Visit, error) {
	if err := requireSalesman(p); err != nil {
		return nil, err
	}
	if utf8.RuneCountInString(note) > MaxNoteRunes {
		return nil, field.Err(ErrInvalidInput, "note")
	}
	v, err := s.get(ctx, id)
	if err != nil {
		return nil, err
	}
	if v.SalesmanID != p.UserID {
		return nil, ErrNotFound
	}
	if !v.Open() {
		return nil, ErrVisitNotOpen
	}
	now := s.Now()
	d := int64(now.Sub(v.CheckedInAt) / time.Second)
	q := s.db.NewUpdate().Model((*Visit)(nil)).Set("open_salesman_id = NULL").Set("checked_out_at = ?", now).
		Set("duration_s = ?", d).Where("id = ? AND open_salesman_id IS NOT NULL", id)
	if note != "" {
		q = q.Set("note = ?", note)
	}
	res, err := q.Exec(ctx)
	if err != nil {
		return nil, fmt.Errorf("visit: check out: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return nil, ErrVisitNotOpen // a concurrent check-out won
	}
	return s.get(ctx, id)
}

func (s *Service) get(ctx context.Context, id uuid.UUID) (*Visit, error) {
	v := new(Visit)
	err := s.db.NewSelect().Model(v).Where("id = ?", id).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("visit: get: %w", err)
	}
	return v, nil
}

// scope limits visits to those p may see: a salesman its own, everyone else
// the visits at stores in their party scope.
func scope(q *bun.SelectQuery, p auth.Principal) *bun.SelectQuery {
	if p.Has(auth.RoleSalesman) && len(p.Roles) == 1 {
		return q.Where("v.salesman_id = ?", p.UserID)
	}
	return party.Scope(q, p, "v.store_id")
}

// Get is one visit in p's scope.
func (s *Service) Get(ctx context.Context, p auth.Principal, id uuid.UUID) (*Visit, error) {
	v := new(Visit)
	err := scope(s.db.NewSelect().Model(v).Where("v.id = ?", id), p).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("visit: get: %w", err)
	}
	return v, nil
}

// Open is the salesman's open visit, if any.
func (s *Service) Open(ctx context.Context, p auth.Principal) (*Visit, error) {
	if err := requireSalesman(p); err != nil {
		return nil, err
	}
	v := new(Visit)
	err := s.db.NewSelect().Model(v).Where("open_salesman_id = ?", p.UserID).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("visit: open: %w", err)
	}
	return v, nil
}

// SetGeofence sets a branch's geofence radius; a branch manager sets its own.
func (s *Service) SetGeofence(ctx context.Context, p auth.Principal, branch uuid.UUID, radiusM int) error {
	if err := p.Require(auth.RoleHQAdmin, auth.RoleSalesOps, auth.RoleBranchManager); err != nil {
		return err
	}
	if radiusM < MinRadiusM || radiusM > MaxRadiusM {
		return field.Err(ErrInvalidInput, "radiusMeters")
	}
	ok, err := party.Scope(s.db.NewSelect().Table("parties").ColumnExpr("1").
		Where("parties.id = ? AND parties.kind = ?", branch, party.KindBranch), p, "parties.id").Exists(ctx)
	if err != nil {
		return fmt.Errorf("visit: geofence: %w", err)
	}
	if !ok {
		return ErrNotFound
	}
	_, err = s.db.NewRaw(`INSERT INTO visit_geofences (branch_id, radius_m, updated_by, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (branch_id) DO UPDATE SET radius_m = EXCLUDED.radius_m, updated_by = EXCLUDED.updated_by, updated_at = EXCLUDED.updated_at`,
		branch, radiusM, p.UserID, s.Now()).Exec(ctx)
	if err != nil {
		return fmt.Errorf("visit: geofence: %w", err)
	}
	return nil
}
