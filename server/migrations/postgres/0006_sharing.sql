-- Albums and share links.

CREATE TABLE albums (
    id              text COLLATE "C" PRIMARY KEY,
    owner_id        text COLLATE "C" NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name            text NOT NULL,
    description     text NOT NULL DEFAULT '',
    cover_image_id  text COLLATE "C" REFERENCES images(id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    UNIQUE (owner_id, name)
);

-- An image in many albums; `position` orders an album (gaps allowed).
CREATE TABLE album_images (
    album_id  text COLLATE "C" NOT NULL REFERENCES albums(id) ON DELETE CASCADE,
    image_id  text COLLATE "C" NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    position  bigint NOT NULL,
    PRIMARY KEY (album_id, image_id)
);
CREATE INDEX album_images_order ON album_images(album_id, position);
CREATE INDEX album_images_image ON album_images(image_id);

-- A share link: the token itself is never stored, only its SHA-256 (to find the link) and the
-- nonce the server derives it from with its secret (so the owner can list the link again).
CREATE TABLE shares (
    id              text COLLATE "C" PRIMARY KEY,
    owner_id        text COLLATE "C" NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash      text COLLATE "C" NOT NULL UNIQUE,
    nonce           text NOT NULL,
    album_id        text COLLATE "C" REFERENCES albums(id) ON DELETE CASCADE,
    label           text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz,
    password_hash   text,
    max_views       bigint,
    views           bigint NOT NULL DEFAULT 0,
    visitors        bigint NOT NULL DEFAULT 0,
    last_viewed_at  timestamptz,
    allow_download  boolean NOT NULL DEFAULT TRUE,
    with_metadata   boolean NOT NULL DEFAULT FALSE,
    revoked_at      timestamptz
);
CREATE INDEX shares_owner ON shares(owner_id, created_at);

-- The images of a link to images (not to an album), in order.
CREATE TABLE share_images (
    share_id  text COLLATE "C" NOT NULL REFERENCES shares(id) ON DELETE CASCADE,
    position  bigint NOT NULL,
    image_id  text COLLATE "C" NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    PRIMARY KEY (share_id, position)
);
CREATE INDEX share_images_image ON share_images(image_id);

-- Who viewed a link (an opaque keyed hash of the visitor), for unique-visitor counts.
CREATE TABLE share_visitors (
    share_id    text COLLATE "C" NOT NULL REFERENCES shares(id) ON DELETE CASCADE,
    visitor     text NOT NULL,
    first_seen  timestamptz NOT NULL,
    PRIMARY KEY (share_id, visitor)
);
