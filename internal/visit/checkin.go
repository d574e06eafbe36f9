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

	"channelhub/internal/audit"
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
// store, is an image of an allowed type and within its size (a ranged read of
// its first bytes; size and ETag from the store). The first use records them.
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
	if err := photoErr(err); err != nil {
		return nil, err
	}
	now := s.Now()
	u.Size, u.ETag, u.ContentType, u.VerifiedAt = &o.Size, &o.ETag, &o.ContentType, &now
	if _, err := s.db.NewUpdate().Model(u).Column("size", "etag", "content_type", "verified_at").WherePK().Exec(ctx); err != nil {
		return nil, fmt.Errorf("visit: photo: %w", err)
	}
	return u, nil
}

// photoErr maps the media store's verdict on a photo.
func photoErr(err error) error {
	switch {
	case errors.Is(err, media.ErrNotFound):
		return ErrPhotoNotFound
	case errors.Is(err, media.ErrTooLarge):
		return ErrPhotoTooLarge
	case errors.Is(err, media.ErrNotImage):
		return ErrPhotoNotImage
	}
	return err
}

// ownKey reports whether key is one PhotoUpload chose for user.
func ownKey(user uuid.UUID, key string) bool {
	return strings.HasPrefix(key, photoKeyPrefix+user.String()+"/")
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

// checkInRead is everything a check-in needs from the database, read in one
// statement: the store and whether it is assigned to the salesman, its
// branch's geofence, an open visit, the plan, the upload row, and an earlier
// request with the key.
type checkInRead struct {
	StoreID     *uuid.UUID `bun:"store_id"`
	Latitude    *float64   `bun:"latitude"`
	Longitude   *float64   `bun:"longitude"`
	Assigned    bool       `bun:"assigned"`
	RadiusM     *int       `bun:"radius_m"`
	OpenVisit   bool       `bun:"open_visit"`
	Planned     bool       `bun:"planned"`
	UploadKey   *string    `bun:"upload_key"`
	MaxBytes    *int64     `bun:"max_bytes"`
	RequestHash *string    `bun:"request_hash"`
	Result      *string    `bun:"result"`
}

// checkInSQL is checkInRead's statement. The geofence is the one set on the
// store's nearest ancestor: ancestors' paths are prefixes of the store's.
const checkInSQL = `SELECT p.id AS store_id, p.latitude, p.longitude,
	EXISTS (SELECT 1 FROM salesman_stores ss WHERE ss.user_id = ? AND ss.store_id = p.id) AS assigned,
	(SELECT g.radius_m FROM visit_geofences g JOIN parties b ON b.id = g.branch_id
		WHERE p.path LIKE b.path || '%' ORDER BY length(b.path) DESC LIMIT 1) AS radius_m,
	EXISTS (SELECT 1 FROM visits ov WHERE ov.open_salesman_id = ?) AS open_visit,
	EXISTS (SELECT 1 FROM (` + plannedSQL + `) st WHERE st.store_id = p.id) AS planned,
	mu.key AS upload_key, mu.max_bytes, ik.request_hash, ik.result
	FROM (SELECT 1 AS one) one
	LEFT JOIN parties p ON p.id = ?
	LEFT JOIN media_uploads mu ON mu.key = ? AND mu.user_id = ?
	LEFT JOIN idempotency_keys ik ON ik.user_id = ? AND ik.scope = 'visitCheckIn' AND ik.key = ?`

// duplicateSQL is true when another check-in used an object with the photo's ETag.
const duplicateSQL = `EXISTS (SELECT 1 FROM visits dv WHERE dv.photo_etag = ? AND dv.photo_etag <> '')`

// CheckIn opens a visit. Distance, accuracy, photo age and reuse, and the
// plan are recorded as flags, never refused; a salesman has one open visit
// at a time (a unique index, so two phones racing cannot both open one).
//
// It costs the media store one ranged GET, sent while the database answers
// checkInSQL, and then one write: the idempotency key with its result, the
// visit (DUPLICATE_PHOTO decided in the insert, by the photo's ETag), its
// outbox event, the upload marked used and the audit line, as one statement
// on PostgreSQL and one transaction on SQLite.
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
	if err := idempotency.ValidKey(in.IdempotencyKey); err != nil {
		return nil, keyErr(err)
	}
	hash, err := idempotency.Hash(map[string]any{"store": in.StoreID, "pos": in.Position, "photo": in.PhotoKey,
		"at": in.CapturedAt.UTC(), "note": in.Note})
	if err != nil {
		return nil, err
	}
	// The photo is checked while the database answers; another salesman's
	// key is refused without asking the store.
	obj, perr := media.Object{}, error(ErrPhotoNotFound)
	var verified chan struct{}
	if ownKey(p.UserID, in.PhotoKey) {
		verified = make(chan struct{})
		vctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			defer close(verified)
			obj, perr = s.media.Verify(vctx, in.PhotoKey, MaxPhotoBytes)
		}()
	}
	now := s.Now()
	day := s.day(now)
	t, _ := parseDay(day)
	var r checkInRead
	err = s.db.NewRaw(checkInSQL, p.UserID, p.UserID, p.UserID, day, p.UserID, weekday(t), p.UserID, day,
		in.StoreID, in.PhotoKey, p.UserID, p.UserID, in.IdempotencyKey).Scan(ctx, &r)
	if verified != nil {
		<-verified
	}
	if err != nil {
		return nil, fmt.Errorf("visit: check-in read: %w", err)
	}
	if r.RequestHash != nil && r.Result != nil && *r.Result != "" { // a retry
		if *r.RequestHash != hash {
			return nil, ErrKeyReused
		}
		var id uuid.UUID
		if err := json.Unmarshal([]byte(*r.Result), &id); err != nil {
			return nil, fmt.Errorf("visit: replay: %w", err)
		}
		return s.get(ctx, id)
	}
	if r.StoreID == nil || !r.Assigned {
		return nil, field.Err(ErrStoreNotAssigned, "storeId")
	}
	if r.UploadKey == nil {
		return nil, field.Err(ErrPhotoNotFound, "photoKey") // never handed out, or another salesman's
	}
	perr = photoErr(perr)
	if perr == nil && obj.Size > *r.MaxBytes {
		perr = ErrPhotoTooLarge
	}
	if perr != nil {
		if !errors.Is(perr, ErrPhotoNotFound) && !errors.Is(perr, ErrPhotoTooLarge) && !errors.Is(perr, ErrPhotoNotImage) {
			return nil, perr
		}
		return nil, field.Err(perr, "photoKey")
	}
	if r.OpenVisit {
		return nil, ErrAlreadyCheckedIn
	}
	radius := DefaultRadiusM
	if r.RadiusM != nil {
		radius = *r.RadiusM
	}
	v := &Visit{ID: uuid.Must(uuid.NewV7()), SalesmanID: p.UserID, StoreID: *r.StoreID, Day: day, Planned: r.Planned,
		OpenSalesmanID: &p.UserID, CheckedInAt: now, Latitude: in.Position.Lat, Longitude: in.Position.Lng,
		AccuracyM: in.Position.AccuracyM, RadiusM: radius, Flags: []Flag{}, PhotoKey: in.PhotoKey, PhotoETag: obj.ETag,
		CapturedAt: in.CapturedAt.UTC(), Note: in.Note}
	if r.Latitude != nil && r.Longitude != nil {
		d := math.Round(Haversine(*r.Latitude, *r.Longitude, in.Position.Lat, in.Position.Lng)*10) / 10
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
	if !v.Planned {
		v.Flags = append(v.Flags, FlagUnplannedStore)
	}
	// The flags without and with DUPLICATE_PHOTO: the insert picks one.
	dupFlags := append(slices.Clone(v.Flags), FlagDuplicatePhoto)
	order := func(a, b Flag) int { return slices.Index(AllFlags, a) - slices.Index(AllFlags, b) }
	slices.SortFunc(v.Flags, order)
	slices.SortFunc(dupFlags, order)
	flagsJSON, err := json.Marshal(v.Flags)
	if err != nil {
		return nil, err
	}
	dupJSON, err := json.Marshal(dupFlags)
	if err != nil {
		return nil, err
	}
	writes := func(db bun.IDB) ([]query, error) {
		claim, err := idempotency.ClaimDoneQuery(db, p.UserID, "visitCheckIn", in.IdempotencyKey, hash, v.ID, now)
		if err != nil {
			return nil, err
		}
		payload := func(flags []Flag) any {
			return map[string]any{"visitId": v.ID, "storeId": v.StoreID, "salesmanId": v.SalesmanID, "flags": flags}
		}
		ev, err := outbox.New("visit:"+v.StoreID.String(), "Visit", v.ID.String(), "visit.checked_in", payload(v.Flags), now)
		if err != nil {
			return nil, err
		}
		dupEv, err := outbox.New("", "", "", "", payload(dupFlags), now)
		if err != nil {
			return nil, err
		}
		used := db.NewUpdate().Table("media_uploads").Set("size = ?", obj.Size).Set("etag = ?", obj.ETag).
			Set("content_type = ?", obj.ContentType).Set("verified_at = COALESCE(verified_at, ?)", now).
			Set("used_at = COALESCE(used_at, ?)", now).Where("key = ?", v.PhotoKey)
		log, err := audit.Insert(ctx, db, p, "visit.check_in", "Visit", v.ID.String(), nil,
			map[string]any{"storeId": v.StoreID, "distanceMeters": v.DistanceM, "photoKey": v.PhotoKey, "photoETag": v.PhotoETag}, "")
		if err != nil {
			return nil, err
		}
		insert := db.NewInsert().Model(v).
			Value("flags", "CASE WHEN "+duplicateSQL+" THEN ? ELSE ? END", obj.ETag, string(dupJSON), string(flagsJSON)).
			Returning("flags")
		event := outbox.Insert(db, []*outbox.Event{ev}).
			Value("payload", "CASE WHEN "+duplicateSQL+" THEN ? ELSE ? END", obj.ETag, dupEv.Payload, ev.Payload)
		return []query{claim, insert, event, used, log}, nil
	}
	err = s.writeAll(ctx, writes, &v.Flags)
	switch {
	case idempotency.IsTaken(err): // a concurrent retry with the key committed first
		id, err := s.replayed(ctx, p, "visitCheckIn", in.IdempotencyKey, hash)
		if err != nil {
			return nil, err
		}
		if id == uuid.Nil {
			return nil, ErrKeyReused
		}
		return s.get(ctx, id)
	case database.IsUniqueViolation(err):
		return nil, ErrAlreadyCheckedIn
	case database.IsForeignKeyViolation(err): // the upload was swept meanwhile
		return nil, field.Err(ErrPhotoNotFound, "photoKey")
	case err != nil:
		return nil, err
	}
	return v, nil
}

// query is a bun statement that can run alone or be sent with others.
type query interface {
	fmt.Stringer
	Exec(ctx context.Context, dest ...any) (sql.Result, error)
}

// writeAll runs the statements build makes, all or none: on PostgreSQL as
// one statement of data-modifying WITH clauses (one round trip, atomic by
// itself), on SQLite in a transaction. The second statement returns the
// visit's flags (JSON) into flags.
func (s *Service) writeAll(ctx context.Context, build func(db bun.IDB) ([]query, error), flags *[]Flag) error {
	if !s.db.IsPostgres() {
		return s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			qs, err := build(tx)
			if err != nil {
				return err
			}
			for _, q := range qs {
				if _, err := q.Exec(ctx); err != nil { // the visit's insert scans its flags into the model
					return fmt.Errorf("visit: write: %w", err)
				}
			}
			return nil
		})
	}
	qs, err := build(s.db)
	if err != nil {
		return err
	}
	var b strings.Builder
	for i, q := range qs {
		if i == 0 {
			b.WriteString("WITH ")
		} else {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "w%d AS (%s)", i, q.String())
	}
	b.WriteString(" SELECT flags FROM w1")
	var raw string
	if err := s.db.QueryRowFormatted(ctx, b.String()).Scan(&raw); err != nil {
		return fmt.Errorf("visit: write: %w", err)
	}
	if err := json.Unmarshal([]byte(raw), flags); err != nil {
		return fmt.Errorf("visit: write: flags: %w", err)
	}
	return nil
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
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		q := tx.NewUpdate().Model((*Visit)(nil)).Set("open_salesman_id = NULL").Set("checked_out_at = ?", now).
			Set("duration_s = ?", d).Where("id = ? AND open_salesman_id IS NOT NULL", id)
		if note != "" {
			q = q.Set("note = ?", note)
		}
		res, err := q.Exec(ctx)
		if err != nil {
			return fmt.Errorf("visit: check out: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return ErrVisitNotOpen // a concurrent check-out won
		}
		return audit.Record(ctx, tx, p, "visit.check_out", "Visit", id.String(), nil,
			map[string]any{"storeId": v.StoreID, "durationSeconds": d, "note": note}, "")
	})
	if err != nil {
		return nil, err
	}
	v.OpenSalesmanID, v.CheckedOutAt, v.DurationS = nil, &now, &d
	if note != "" {
		v.Note = note
	}
	return v, nil
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
	return s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		_, err := tx.NewRaw(`INSERT INTO visit_geofences (branch_id, radius_m, updated_by, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (branch_id) DO UPDATE SET radius_m = EXCLUDED.radius_m, updated_by = EXCLUDED.updated_by, updated_at = EXCLUDED.updated_at`,
			branch, radiusM, p.UserID, s.Now()).Exec(ctx)
		if err != nil {
			return fmt.Errorf("visit: geofence: %w", err)
		}
		return audit.Record(ctx, tx, p, "visit.geofence.set", "Party", branch.String(), nil, map[string]any{"radiusMeters": radiusM}, "")
	})
}
