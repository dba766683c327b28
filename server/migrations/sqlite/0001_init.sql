-- imgcloud metadata (SQLite backend). Times are INTEGER microseconds since the Unix epoch.

CREATE TABLE users (
    id          TEXT PRIMARY KEY,
    username    TEXT NOT NULL UNIQUE,
    disabled    INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
);

-- API tokens, stored as the hex SHA-256 of the token (never in clear).
CREATE TABLE tokens (
    token_hash    TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER,
    revoked       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX tokens_user ON tokens(user_id, name);

CREATE TABLE images (
    id               TEXT PRIMARY KEY,
    owner_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    filename         TEXT NOT NULL,
    -- lower-cased filename for case-insensitive (Unicode) search
    filename_folded  TEXT NOT NULL,
    key              TEXT NOT NULL UNIQUE,
    size             INTEGER NOT NULL,
    sha256           TEXT NOT NULL,
    content_type     TEXT NOT NULL,
    width            INTEGER NOT NULL,
    height           INTEGER NOT NULL,
    taken_at         INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    deleted_at       INTEGER,
    UNIQUE (owner_id, sha256)
);
CREATE INDEX images_owner_created ON images(owner_id, created_at DESC, id DESC);

CREATE TABLE image_tags (
    image_id  TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    position  INTEGER NOT NULL,
    tag       TEXT NOT NULL,
    PRIMARY KEY (image_id, position)
);

CREATE TABLE uploads (
    id               TEXT PRIMARY KEY,
    owner_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    idempotency_key  TEXT,
    image_id         TEXT NOT NULL,
    key              TEXT NOT NULL,
    filename         TEXT NOT NULL,
    size             INTEGER NOT NULL,
    sha256           TEXT NOT NULL,
    content_type     TEXT NOT NULL,
    width            INTEGER NOT NULL,
    height           INTEGER NOT NULL,
    taken_at         INTEGER,
    multipart_id     TEXT,
    part_size        INTEGER,
    thumbs_json      TEXT NOT NULL,
    parts_json       TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    UNIQUE (owner_id, idempotency_key)
);
CREATE INDEX uploads_created ON uploads(created_at);

-- The change feed: one row per image (older rows of the same image are dropped when a newer
-- change is recorded); a row whose image no longer exists is a purge.
CREATE TABLE changes (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id  TEXT NOT NULL,
    image_id  TEXT NOT NULL
);
CREATE INDEX changes_owner_seq ON changes(owner_id, seq);
CREATE INDEX changes_image ON changes(owner_id, image_id);
