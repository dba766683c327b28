-- Derivatives (thumbnail, preview) are made by the cloud, no longer uploaded by the clients.

-- Where each image's derivatives stand, and its ThumbHash placeholder (≤ 25 bytes).
ALTER TABLE images ADD COLUMN thumbhash BLOB;
ALTER TABLE images ADD COLUMN derivatives TEXT NOT NULL DEFAULT 'pending';
ALTER TABLE images ADD COLUMN derivatives_error TEXT;

-- One row per derivative being made or made (the "claimed key"): whoever inserts the row, or
-- takes over a claim whose lease ran out, makes it; everyone else waits for made_at.
CREATE TABLE derivatives (
    image_id       TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    preset         TEXT NOT NULL,
    holder         TEXT,
    claimed_until  INTEGER,
    made_at        INTEGER,
    PRIMARY KEY (image_id, preset)
);

-- The durable background queue: one job per image makes every preset and the ThumbHash.
CREATE TABLE derivative_jobs (
    image_id      TEXT PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE,
    attempts      INTEGER NOT NULL DEFAULT 0,
    run_after     INTEGER NOT NULL,
    leased_until  INTEGER,
    last_error    TEXT,
    created_at    INTEGER NOT NULL
);
CREATE INDEX derivative_jobs_due ON derivative_jobs(run_after);

-- Images of the previous design (thumbnails uploaded by their clients) get a job too: it adopts
-- the thumbnails already stored and computes the ThumbHash.
INSERT INTO derivative_jobs (image_id, attempts, run_after, created_at)
    SELECT id, 0, 0, created_at FROM images;

-- Upload sessions no longer carry thumbnails.
ALTER TABLE uploads DROP COLUMN thumbs_json;
