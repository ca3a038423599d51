-- Named queries for the SQLite backend.  Each starts with a "-- name: NAME" line.
-- :now is the host clock: SQLite lives on one host, so that clock is the database's.
-- Queue lists are JSON arrays read with json_each, so every statement is static text.

-- name: insert_job
INSERT INTO quantq_jobs (id, task, queue, args, priority, status, max_attempts, timeout, run_at,
                         created_at, updated_at, result_ttl, failure_ttl, meta, parent_id, depends_on)
VALUES (:id, :task, :queue, :args, :priority, :status, :max_attempts, :timeout, :run_at,
        COALESCE(:created_at, :now), :now, :result_ttl, :failure_ttl, :meta, :parent_id, :depends_on)
ON CONFLICT (id) DO NOTHING;

-- name: queue_due_ids
UPDATE quantq_jobs SET status = 'queued'
WHERE id IN (SELECT value FROM json_each(:ids)) AND status = 'scheduled' AND run_at <= :now;

-- name: get_job
SELECT * FROM quantq_jobs WHERE id = :id;

-- name: get_jobs
SELECT * FROM quantq_jobs WHERE id IN (SELECT value FROM json_each(:ids));

-- name: claim
UPDATE quantq_jobs
SET status = 'running', attempts = attempts + 1, worker_id = :worker_id, hostname = :hostname,
    started_at = :now, updated_at = :now, progress = 0, status_message = NULL,
    lease_token = :token || '.' || seq, lease_expires_at = :now + :lease
WHERE seq IN (
    SELECT seq FROM quantq_jobs INDEXED BY quantq_jobs_ready  -- else the planner sorts every queued job
    WHERE status = 'queued'
      AND queue IN (SELECT value FROM json_each(:queues))
      AND queue NOT IN (SELECT name FROM quantq_queues WHERE paused = 1)
    ORDER BY priority DESC, seq
    LIMIT :limit)
RETURNING *;

-- name: renew
UPDATE quantq_jobs SET lease_expires_at = :now + :lease
WHERE id = :id AND lease_token = :token AND status = 'running' AND lease_expires_at > :now
RETURNING lease_expires_at;

-- name: held_tokens
SELECT id, lease_token FROM quantq_jobs
WHERE id IN (SELECT value FROM json_each(:ids)) AND status = 'running' AND lease_expires_at > :now;

-- name: progress
UPDATE quantq_jobs SET progress = :progress, status_message = :message, updated_at = :now
WHERE id = :id AND lease_token = :token AND status = 'running' AND lease_expires_at > :now;

-- name: complete
UPDATE quantq_jobs
SET status = 'completed', result = :result, progress = 100, finished_at = :now, updated_at = :now,
    lease_token = NULL, lease_expires_at = NULL,
    expires_at = CASE WHEN result_ttl IS NULL THEN NULL ELSE :now + result_ttl END
WHERE id = :id AND lease_token = :token AND status = 'running' AND lease_expires_at > :now
RETURNING *;

-- name: complete_many
-- A worker's batch of completions in one statement: :batch is a JSON array of
-- [id, token, result-as-JSON-text], joined by id through the id index.  RETURNING may name only
-- the updated table, so the caller pairs the ids returned with the batch's tokens (a batch that
-- names one id twice is completed statement by statement instead).  Like PostgreSQL's, it returns
-- only the columns a completion (or the run's progress reports) changed.
UPDATE quantq_jobs
SET status = 'completed', result = o.result, progress = 100, finished_at = :now, updated_at = :now,
    lease_token = NULL, lease_expires_at = NULL,
    expires_at = CASE WHEN result_ttl IS NULL THEN NULL ELSE :now + result_ttl END
FROM (SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS token,
             json_extract(value, '$[2]') AS result
      FROM json_each(:batch)) AS o
WHERE quantq_jobs.id = o.id AND quantq_jobs.lease_token = o.token AND quantq_jobs.status = 'running'
  AND quantq_jobs.lease_expires_at > :now
RETURNING id, progress, status_message, finished_at, updated_at;

-- name: fail_final
UPDATE quantq_jobs
SET status = 'failed', error = :error, finished_at = :now, updated_at = :now,
    lease_token = NULL, lease_expires_at = NULL,
    expires_at = CASE WHEN failure_ttl IS NULL THEN NULL ELSE :now + failure_ttl END
WHERE id = :id AND lease_token = :token AND status = 'running' AND lease_expires_at > :now
RETURNING *;

-- name: fail_retry
UPDATE quantq_jobs
SET status = 'scheduled', error = :error, run_at = :now + :retry_in, updated_at = :now,
    lease_token = NULL, lease_expires_at = NULL
WHERE id = :id AND lease_token = :token AND status = 'running' AND lease_expires_at > :now
RETURNING *;

-- name: fail_malformed
UPDATE quantq_jobs
SET status = 'failed', error = :error, finished_at = :now, updated_at = :now,
    lease_token = NULL, lease_expires_at = NULL,
    expires_at = CASE WHEN failure_ttl IS NULL THEN NULL ELSE :now + failure_ttl END
WHERE seq = :seq;

-- name: release
UPDATE quantq_jobs
SET status = 'queued', attempts = MAX(attempts - 1, 0), updated_at = :now, worker_id = NULL, hostname = NULL,
    lease_token = NULL, lease_expires_at = NULL
WHERE id = :id AND lease_token = :token AND status = 'running';

-- name: cancel
UPDATE quantq_jobs
SET status = 'cancelled', finished_at = :now, updated_at = :now, lease_token = NULL, lease_expires_at = NULL,
    expires_at = CASE WHEN failure_ttl IS NULL THEN NULL ELSE :now + failure_ttl END
WHERE id = :id AND status IN ('scheduled', 'queued', 'running')
RETURNING *;

-- name: retry
UPDATE quantq_jobs
SET status = 'queued', attempts = 0, error = NULL, result = NULL, progress = 0, status_message = NULL,
    run_at = NULL, started_at = NULL, finished_at = NULL, expires_at = NULL, updated_at = :now,
    worker_id = NULL, hostname = NULL,
    seq = (SELECT MAX(seq) + 1 FROM quantq_jobs)
WHERE id = :id AND status IN ('failed', 'cancelled')
RETURNING *;

-- name: promote_due
UPDATE quantq_jobs SET status = 'queued', updated_at = :now
WHERE status = 'scheduled' AND run_at <= :now;

-- name: reap_lost
UPDATE quantq_jobs
SET status = 'failed', error = :error, finished_at = :now, updated_at = :now,
    lease_token = NULL, lease_expires_at = NULL,
    expires_at = CASE WHEN failure_ttl IS NULL THEN NULL ELSE :now + failure_ttl END
WHERE status = 'running' AND lease_expires_at <= :now AND attempts >= max_attempts;

-- name: reap_requeue
UPDATE quantq_jobs
SET status = 'queued', updated_at = :now, lease_token = NULL, lease_expires_at = NULL
WHERE status = 'running' AND lease_expires_at <= :now;

-- name: prune
DELETE FROM quantq_jobs
WHERE seq IN (SELECT seq FROM quantq_jobs WHERE expires_at IS NOT NULL AND expires_at <= :now LIMIT :batch);

-- name: purge
DELETE FROM quantq_jobs
WHERE status IN (SELECT value FROM json_each(:statuses)) AND status != 'running'
  AND (:queue IS NULL OR queue = :queue);

-- name: set_paused
INSERT INTO quantq_queues (name, paused) VALUES (:queue, :paused)
ON CONFLICT (name) DO UPDATE SET paused = excluded.paused;

-- name: queue_counts
SELECT queue, status, COUNT(*) AS n FROM quantq_jobs GROUP BY queue, status;

-- name: oldest_queued
SELECT queue, MIN(COALESCE(run_at, created_at)) AS oldest FROM quantq_jobs WHERE status = 'queued' GROUP BY queue;

-- name: paused_queues
SELECT name FROM quantq_queues WHERE paused = 1;

-- name: list_jobs
SELECT * FROM quantq_jobs
WHERE (:no_status OR status IN (SELECT value FROM json_each(:statuses)))
  AND (:queue IS NULL OR queue = :queue)
  AND (:task IS NULL OR task = :task)
  AND (:after IS NULL OR created_at >= :after)
  AND (:before_time IS NULL OR created_at < :before_time)
  AND (:cursor IS NULL OR (created_at, id) < (SELECT created_at, id FROM quantq_jobs WHERE id = :cursor))
ORDER BY created_at DESC, id DESC
LIMIT :limit;

-- name: has_work
SELECT 1 FROM quantq_jobs
WHERE status = 'queued' AND queue IN (SELECT value FROM json_each(:queues))
  AND queue NOT IN (SELECT name FROM quantq_queues WHERE paused = 1)
LIMIT 1;

-- name: upsert_worker
INSERT INTO quantq_workers (id, hostname, pid, queues, concurrency, started_at, heartbeat_at, meta)
VALUES (:id, :hostname, :pid, :queues, :concurrency, :now, :now, :meta)
ON CONFLICT (id) DO UPDATE SET hostname = excluded.hostname, pid = excluded.pid, queues = excluded.queues,
    concurrency = excluded.concurrency, heartbeat_at = excluded.heartbeat_at, meta = excluded.meta;

-- name: heartbeat_worker
UPDATE quantq_workers SET heartbeat_at = :now, current_jobs = :current_jobs, processed = :processed, failed = :failed
WHERE id = :id;

-- name: delete_worker
DELETE FROM quantq_workers WHERE id = :id;

-- name: list_workers
SELECT * FROM quantq_workers ORDER BY id;

-- name: reap_workers
DELETE FROM quantq_workers WHERE heartbeat_at < :now - :max_silence;

-- name: now
SELECT :now AS now;
