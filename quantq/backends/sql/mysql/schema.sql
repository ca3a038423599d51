-- The declared quantq schema for MySQL 8 / MariaDB 10.6+, as it stands after every migration
-- (tests/migration checks that applying migrations/ gives exactly this).
-- {p} (the table prefix) and {jobs}/{queues}/{workers} are filled in by quantq.

CREATE TABLE IF NOT EXISTS {jobs} (
    seq              BIGINT NOT NULL AUTO_INCREMENT,
    id               VARCHAR(128) NOT NULL DEFAULT (UUID()),
    task             VARCHAR(200) NOT NULL,
    queue            VARCHAR(100) NOT NULL DEFAULT 'default',
    args             LONGTEXT NOT NULL DEFAULT ('{}'),
    priority         TINYINT NOT NULL DEFAULT 5,
    status           VARCHAR(16) NOT NULL DEFAULT 'queued',
    attempts         INT NOT NULL DEFAULT 0,
    max_attempts     INT NOT NULL DEFAULT 3,
    timeout          DOUBLE NULL,
    run_at           DATETIME(6) NULL,
    created_at       DATETIME(6) NOT NULL DEFAULT (UTC_TIMESTAMP(6)),
    started_at       DATETIME(6) NULL,
    finished_at      DATETIME(6) NULL,
    updated_at       DATETIME(6) NOT NULL DEFAULT (UTC_TIMESTAMP(6)),
    worker_id        VARCHAR(255) NULL,
    hostname         VARCHAR(255) NULL,
    progress         DOUBLE NOT NULL DEFAULT 0,
    status_message   TEXT NULL,
    result           LONGTEXT NULL,
    error            LONGTEXT NULL,
    result_ttl       INT NULL DEFAULT 86400,
    failure_ttl      INT NULL DEFAULT 604800,
    expires_at       DATETIME(6) NULL,
    meta             LONGTEXT NOT NULL DEFAULT ('{}'),
    parent_id        VARCHAR(128) NULL,
    depends_on       LONGTEXT NOT NULL DEFAULT ('[]'),
    lease_token      VARCHAR(64) NULL,
    lease_expires_at DATETIME(6) NULL,
    PRIMARY KEY (seq),
    UNIQUE KEY jobs_id (id),
    KEY jobs_claim (status, queue, priority DESC, seq),
    KEY jobs_due (status, run_at),
    KEY jobs_lease (status, lease_expires_at),
    KEY jobs_expiry (expires_at),
    KEY jobs_queue_status (queue, status),
    KEY jobs_created (created_at, id),
    KEY jobs_status_created (status, created_at),
    KEY jobs_task_created (task, created_at),
    KEY jobs_worker (worker_id),
    CONSTRAINT {p}jobs_status_check CHECK (status IN ('scheduled', 'queued', 'running', 'completed', 'failed', 'cancelled')),
    CONSTRAINT {p}jobs_priority_check CHECK (priority BETWEEN 0 AND 9),
    CONSTRAINT {p}jobs_max_attempts_check CHECK (max_attempts >= 1)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS {queues} (
    name   VARCHAR(100) NOT NULL,
    paused TINYINT(1) NOT NULL DEFAULT 0,
    PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS {workers} (
    id           VARCHAR(255) NOT NULL,
    hostname     VARCHAR(255) NOT NULL,
    pid          INT NOT NULL,
    queues       TEXT NOT NULL,
    concurrency  INT NOT NULL,
    started_at   DATETIME(6) NOT NULL,
    heartbeat_at DATETIME(6) NOT NULL,
    current_jobs LONGTEXT NOT NULL DEFAULT ('[]'),
    processed    INT NOT NULL DEFAULT 0,
    failed       INT NOT NULL DEFAULT 0,
    meta         LONGTEXT NOT NULL DEFAULT ('{}'),
    PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
