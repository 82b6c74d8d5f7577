-- API tokens and browser sessions. Neither keeps its secret: a token is `weir_<id>_<secret>` and a
-- session cookie `<id>.<secret>`; the row keeps the id and the SHA-256 of the secret (hex), so
-- that a copy of this file lets no one in. Times are µs since the epoch; portable SQL.
CREATE TABLE tokens (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL,
    -- Who made it ('' when the server was open, with no users).
    owner         TEXT NOT NULL,
    -- Comma-separated: ingest, read, write, admin.
    scopes        TEXT NOT NULL,
    -- Comma-separated stream-name globs an ingest token may write; '' is every stream.
    streams       TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT,
    last_used_at  BIGINT,
    revoked_at    BIGINT
);

CREATE TABLE sessions (
    id            TEXT PRIMARY KEY,
    secret_sha256 TEXT NOT NULL,
    user_name     TEXT NOT NULL,
    address       TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);

CREATE INDEX sessions_by_user ON sessions (user_name);
