-- Albums and share links.

CREATE TABLE albums (
    id              TEXT PRIMARY KEY,
    owner_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    cover_image_id  TEXT REFERENCES images(id) ON DELETE SET NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    UNIQUE (owner_id, name)
);

-- An image in many albums; `position` orders an album (gaps allowed).
CREATE TABLE album_images (
    album_id  TEXT NOT NULL REFERENCES albums(id) ON DELETE CASCADE,
    image_id  TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    position  INTEGER NOT NULL,
    PRIMARY KEY (album_id, image_id)
);
CREATE INDEX album_images_order ON album_images(album_id, position);
CREATE INDEX album_images_image ON album_images(image_id);

-- A share link: the token itself is never stored, only its SHA-256 (to find the link) and the
-- nonce the server derives it from with its secret (so the owner can list the link again).
CREATE TABLE shares (
    id              TEXT PRIMARY KEY,
    owner_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash      TEXT NOT NULL UNIQUE,
    nonce           TEXT NOT NULL,
    album_id        TEXT REFERENCES albums(id) ON DELETE CASCADE,
    label           TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER,
    password_hash   TEXT,
    max_views       INTEGER,
    views           INTEGER NOT NULL DEFAULT 0,
    visitors        INTEGER NOT NULL DEFAULT 0,
    last_viewed_at  INTEGER,
    allow_download  INTEGER NOT NULL DEFAULT 1,
    with_metadata   INTEGER NOT NULL DEFAULT 0,
    revoked_at      INTEGER
);
CREATE INDEX shares_owner ON shares(owner_id, created_at);

-- The images of a link to images (not to an album), in order.
CREATE TABLE share_images (
    share_id  TEXT NOT NULL REFERENCES shares(id) ON DELETE CASCADE,
    position  INTEGER NOT NULL,
    image_id  TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    PRIMARY KEY (share_id, position)
);
CREATE INDEX share_images_image ON share_images(image_id);

-- Who viewed a link (an opaque keyed hash of the visitor), for unique-visitor counts.
CREATE TABLE share_visitors (
    share_id    TEXT NOT NULL REFERENCES shares(id) ON DELETE CASCADE,
    visitor     TEXT NOT NULL,
    first_seen  INTEGER NOT NULL,
    PRIMARY KEY (share_id, visitor)
);
