-- quantq schema for SQLite.  Times are seconds since the epoch (REAL), JSON columns are TEXT.
-- Applied with CREATE ... IF NOT EXISTS, so opening a database is also its migration to v1.

CREATE TABLE IF NOT EXISTS quantq_jobs (
    seq              INTEGER PRIMARY KEY,          -- FIFO order within a priority
    id               TEXT NOT NULL UNIQUE,
    task             TEXT NOT NULL,
    queue            TEXT NOT NULL,
    args             TEXT NOT NULL,
    priority         INTEGER NOT NULL,
    status           TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL,
    timeout          REAL,
    run_at           REAL,
    created_at       REAL NOT NULL,
    started_at       REAL,
    finished_at      REAL,
    updated_at       REAL NOT NULL,
    worker_id        TEXT,
    hostname         TEXT,
    progress         REAL NOT NULL DEFAULT 0,
    status_message   TEXT,
    result           TEXT,
    error            TEXT,
    result_ttl       INTEGER,
    failure_ttl      INTEGER,
    expires_at       REAL,                         -- finished_at + TTL: pruned after this
    meta             TEXT NOT NULL DEFAULT '{}',
    parent_id        TEXT,
    depends_on       TEXT NOT NULL DEFAULT '[]',
    lease_token      TEXT,
    lease_expires_at REAL
);

-- The claim walks queued jobs in priority order and stops at its LIMIT (see queries.sql: claim).
CREATE INDEX IF NOT EXISTS quantq_jobs_ready ON quantq_jobs (priority DESC, seq) WHERE status = 'queued';
CREATE INDEX IF NOT EXISTS quantq_jobs_due ON quantq_jobs (run_at) WHERE status = 'scheduled';
CREATE INDEX IF NOT EXISTS quantq_jobs_lease ON quantq_jobs (lease_expires_at) WHERE status = 'running';
CREATE INDEX IF NOT EXISTS quantq_jobs_expiry ON quantq_jobs (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS quantq_jobs_queue_status ON quantq_jobs (queue, status);
CREATE INDEX IF NOT EXISTS quantq_jobs_created ON quantq_jobs (created_at, id);

CREATE TABLE IF NOT EXISTS quantq_queues (
    name   TEXT PRIMARY KEY,
    paused INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS quantq_workers (
    id           TEXT PRIMARY KEY,
    hostname     TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    queues       TEXT NOT NULL,
    concurrency  INTEGER NOT NULL,
    started_at   REAL NOT NULL,
    heartbeat_at REAL NOT NULL,
    current_jobs TEXT NOT NULL DEFAULT '[]',
    processed    INTEGER NOT NULL DEFAULT 0,
    failed       INTEGER NOT NULL DEFAULT 0,
    meta         TEXT NOT NULL DEFAULT '{}'
);
