-- Alerting: the documents (rules, contact points, silences, the notification policy), each
-- instance's state, and what each notification group last sent to each receiver.
-- Portable SQL (SQLite and Postgres read it alike): times are µs since the epoch.
CREATE TABLE alert_documents (
    kind        TEXT NOT NULL,
    key         TEXT NOT NULL,
    version     BIGINT NOT NULL,
    document    TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    -- The file it is provisioned from ('' when made through the API).
    source      TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (kind, key)
);

CREATE TABLE alert_instances (
    rule_uid    TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    labels      TEXT NOT NULL,
    state       TEXT NOT NULL,
    reason      TEXT NOT NULL,
    since       BIGINT NOT NULL,
    fired_at    BIGINT,
    value       DOUBLE PRECISION,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (rule_uid, fingerprint)
);

CREATE TABLE notification_log (
    group_key   TEXT NOT NULL,
    receiver    TEXT NOT NULL,
    firing      TEXT NOT NULL,
    resolved    TEXT NOT NULL,
    sent_at     BIGINT NOT NULL,
    PRIMARY KEY (group_key, receiver)
);
