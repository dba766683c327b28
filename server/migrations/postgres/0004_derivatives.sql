-- Derivatives (thumbnail, preview) are made by the cloud, no longer uploaded by the clients.

-- Where each image's derivatives stand, and its ThumbHash placeholder (≤ 25 bytes).
ALTER TABLE images ADD COLUMN thumbhash bytea;
ALTER TABLE images ADD COLUMN derivatives text NOT NULL DEFAULT 'pending';
ALTER TABLE images ADD COLUMN derivatives_error text;

-- One row per derivative being made or made (the "claimed key"): whoever inserts the row, or
-- takes over a claim whose lease ran out, makes it; everyone else waits for made_at.
CREATE TABLE derivatives (
    image_id       text COLLATE "C" NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    preset         text NOT NULL,
    holder         text,
    claimed_until  timestamptz,
    made_at        timestamptz,
    PRIMARY KEY (image_id, preset)
);

-- The durable background queue: one job per image makes every preset and the ThumbHash. Any
-- replica claims due jobs with FOR UPDATE SKIP LOCKED.
CREATE TABLE derivative_jobs (
    image_id      text COLLATE "C" PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE,
    attempts      integer NOT NULL DEFAULT 0,
    run_after     timestamptz NOT NULL,
    leased_until  timestamptz,
    last_error    text,
    created_at    timestamptz NOT NULL
);
CREATE INDEX derivative_jobs_due ON derivative_jobs(run_after);

-- Images of the previous design (thumbnails uploaded by their clients) get a job too: it adopts
-- the thumbnails already stored and computes the ThumbHash.
INSERT INTO derivative_jobs (image_id, attempts, run_after, created_at)
    SELECT id, 0, 'epoch', created_at FROM images;

-- Upload sessions no longer carry thumbnails.
ALTER TABLE uploads DROP COLUMN thumbs_json;
