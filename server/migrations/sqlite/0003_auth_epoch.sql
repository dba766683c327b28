-- The auth epoch: a counter bumped, in the same transaction, by every change that can make a
-- cached token lookup wrong (a token revoked, an account disabled or enabled), whoever makes
-- it: the API, or the admin CLI writing to the database directly. A server whose token cache
-- no other writer can reach (the in-process cache) reads it about once a second and files its
-- cached lookups under it, so such a change is seen within a second instead of the cache TTL.
CREATE TABLE auth_epoch (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    value  INTEGER NOT NULL
);
INSERT INTO auth_epoch (id, value) VALUES (1, 0);

CREATE TRIGGER tokens_revoked_bumps_auth_epoch AFTER UPDATE OF revoked ON tokens
BEGIN
    UPDATE auth_epoch SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER users_disabled_bumps_auth_epoch AFTER UPDATE OF disabled ON users
BEGIN
    UPDATE auth_epoch SET value = value + 1 WHERE id = 1;
END;
