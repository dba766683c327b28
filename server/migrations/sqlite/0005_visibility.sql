-- Visibility: an image is public (permanent CDN link) or private (no public link).

-- Per-account defaults.
ALTER TABLE users ADD COLUMN default_visibility TEXT NOT NULL DEFAULT 'public';
ALTER TABLE users ADD COLUMN share_expiry_days INTEGER NOT NULL DEFAULT 30;

ALTER TABLE images ADD COLUMN visibility TEXT NOT NULL DEFAULT 'public';
-- Where the image's objects are now: 1 under the public prefixes (i/, t/), 0 under p/. They
-- belong under the public prefixes exactly when the image is public and not in the trash; a
-- row where that differs is waiting for its objects to move (see `objects::placement`).
ALTER TABLE images ADD COLUMN objects_public INTEGER NOT NULL DEFAULT 1;
CREATE INDEX images_misplaced ON images(id)
    WHERE objects_public <> (visibility = 'public' AND deleted_at IS NULL);

ALTER TABLE uploads ADD COLUMN visibility TEXT NOT NULL DEFAULT 'public';
