-- imgcloud metadata (PostgreSQL backend). Times are timestamptz (microsecond precision, the
-- precision every backend keeps). Ids compare bytewise (COLLATE "C"), as in SQLite, so pages
-- and cursors order the same on both backends whatever the database's locale.

CREATE TABLE users (
    id          text COLLATE "C" PRIMARY KEY,
    username    text NOT NULL UNIQUE,
    disabled    boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL
);

-- API tokens, stored as the hex SHA-256 of the token (never in clear).
CREATE TABLE tokens (
    token_hash    text PRIMARY KEY,
    user_id       text COLLATE "C" NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name          text NOT NULL,
    created_at    timestamptz NOT NULL,
    last_used_at  timestamptz,
    revoked       boolean NOT NULL DEFAULT false
);
CREATE INDEX tokens_user ON tokens(user_id, name);

CREATE TABLE images (
    id               text COLLATE "C" PRIMARY KEY,
    owner_id         text COLLATE "C" NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    filename         text NOT NULL,
    -- lower-cased filename (folded by the server, so search does not depend on the locale)
    filename_folded  text NOT NULL,
    key              text NOT NULL UNIQUE,
    size             bigint NOT NULL CHECK (size >= 0),
    sha256           text NOT NULL,
    content_type     text NOT NULL,
    width            bigint NOT NULL CHECK (width >= 0),
    height           bigint NOT NULL CHECK (height >= 0),
    taken_at         timestamptz,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    deleted_at       timestamptz,
    -- in the user's order
    tags             text[] NOT NULL DEFAULT '{}',
    CONSTRAINT images_owner_sha256 UNIQUE (owner_id, sha256)
);
CREATE INDEX images_owner_created ON images(owner_id, created_at DESC, id DESC);

CREATE TABLE uploads (
    id               text COLLATE "C" PRIMARY KEY,
    owner_id         text COLLATE "C" NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    idempotency_key  text,
    image_id         text NOT NULL,
    key              text NOT NULL,
    filename         text NOT NULL,
    size             bigint NOT NULL CHECK (size >= 0),
    sha256           text NOT NULL,
    content_type     text NOT NULL,
    width            bigint NOT NULL CHECK (width >= 0),
    height           bigint NOT NULL CHECK (height >= 0),
    taken_at         timestamptz,
    multipart_id     text,
    part_size        bigint CHECK (part_size >= 0),
    thumbs_json      text NOT NULL,
    parts_json       text NOT NULL,
    created_at       timestamptz NOT NULL,
    CONSTRAINT uploads_owner_idempotency_key UNIQUE (owner_id, idempotency_key)
);
CREATE INDEX uploads_created ON uploads(created_at);

-- The change feed: one row per image (older rows of the same image are dropped when a newer
-- change is recorded); a row whose image no longer exists is a purge. Writers of one owner take
-- a transaction-scoped advisory lock first, so within an owner seq order is commit order.
CREATE TABLE changes (
    seq       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner_id  text COLLATE "C" NOT NULL,
    image_id  text COLLATE "C" NOT NULL
);
CREATE INDEX changes_owner_seq ON changes(owner_id, seq);
CREATE INDEX changes_image ON changes(owner_id, image_id);
