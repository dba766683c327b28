-- Accounts: passwords and login throttling.

-- argon2id PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`); NULL = no password (token-only
-- account, cannot log in with a password).
ALTER TABLE users ADD COLUMN password_hash text;

-- One row per failed login, keyed by what is throttled (e.g. `user:NAME`), shared by every
-- replica. Rows older than a day are pruned when a new failure is recorded.
CREATE TABLE login_failures (
    key  text NOT NULL,
    at   timestamptz NOT NULL
);
CREATE INDEX login_failures_key_at ON login_failures(key, at);
CREATE INDEX login_failures_at ON login_failures(at);
