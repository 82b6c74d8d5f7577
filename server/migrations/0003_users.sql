-- Users: a name, a role (admin, editor, viewer) and the password's argon2id hash as a PHC string
-- (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`); the password itself is never stored.
-- Portable SQL (SQLite and Postgres read it alike): times are µs since the epoch.
CREATE TABLE users (
    name        TEXT PRIMARY KEY,
    role        TEXT NOT NULL,
    password    TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
