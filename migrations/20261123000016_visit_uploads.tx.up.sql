-- Check-ins tell a reused photo by the object's ETag (the store's own hash,
-- read with the object's size from a ranged GET of its first bytes) rather
-- than by hashing the whole object, and mark the upload used, so unused
-- uploads can be swept.
ALTER TABLE visits ADD COLUMN photo_etag TEXT NOT NULL DEFAULT '';
--bun:split
UPDATE visits SET photo_etag = COALESCE((SELECT mu.etag FROM media_uploads mu WHERE mu.key = visits.photo_key), '');
--bun:split
CREATE INDEX visits_photo_etag_idx ON visits (photo_etag);
--bun:split
DROP INDEX visits_photo_idx;
--bun:split
ALTER TABLE visits DROP COLUMN photo_sha256;
--bun:split
ALTER TABLE media_uploads ADD COLUMN used_at {{.Time}};
--bun:split
-- Uploads were verified only when a check-in or an audit used them.
UPDATE media_uploads SET used_at = verified_at WHERE verified_at IS NOT NULL;
--bun:split
CREATE INDEX media_uploads_unused_idx ON media_uploads (created_at) WHERE used_at IS NULL;
