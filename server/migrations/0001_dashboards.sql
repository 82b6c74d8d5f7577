-- Dashboards: the current version of each, and every version saved.
-- Portable SQL (SQLite and Postgres read it alike): times are µs since the epoch, documents JSON text.
CREATE TABLE dashboards (
    uid         TEXT PRIMARY KEY,
    version     BIGINT NOT NULL,
    title       TEXT NOT NULL,
    tags        TEXT NOT NULL,
    document    TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE dashboard_versions (
    uid         TEXT NOT NULL,
    version     BIGINT NOT NULL,
    document    TEXT NOT NULL,
    saved_at    BIGINT NOT NULL,
    message     TEXT NOT NULL,
    PRIMARY KEY (uid, version)
);
