-- Named queries for the MySQL 8 / MariaDB 10.6+ backend.  Each starts with a "-- name: NAME" line.
-- Every time is the server's UTC_TIMESTAMP(6).  Lists (%(ids)s, %(queues)s ...) are tuples that
-- the driver expands to ('a', 'b').  MySQL has no UPDATE ... RETURNING: the backend updates,
-- then selects the row inside the same transaction.

-- name: insert_job
INSERT INTO {jobs} (id, task, queue, args, priority, status, max_attempts, timeout, run_at,
                    result_ttl, failure_ttl, meta, parent_id, depends_on)
VALUES (%(id)s, %(task)s, %(queue)s, %(args)s, %(priority)s, %(status)s, %(max_attempts)s, %(timeout)s,
        %(run_at)s, %(result_ttl)s, %(failure_ttl)s, %(meta)s, %(parent_id)s, %(depends_on)s)
ON DUPLICATE KEY UPDATE id = id;

-- name: queue_due_ids
UPDATE {jobs} SET status = 'queued'
WHERE id IN %(ids)s AND status = 'scheduled' AND run_at <= UTC_TIMESTAMP(6);

-- name: get_job
SELECT * FROM {jobs} WHERE id = %(id)s;

-- name: get_jobs
SELECT * FROM {jobs} WHERE id IN %(ids)s;

-- name: claim_pick
-- The picked rows whole, as they are before the claim, and the server's time: claim_mark writes
-- what the claim changes from that time, and the caller lays the same changes over these rows
-- (no reading them back after the update).
SELECT *, UTC_TIMESTAMP(6) AS claim_now FROM {jobs}
WHERE status = 'queued' AND queue IN %(queues)s
ORDER BY priority DESC, seq
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED;

-- name: claim_mark
UPDATE {jobs}
SET status = 'running', attempts = attempts + 1, worker_id = %(worker_id)s, hostname = %(hostname)s,
    started_at = %(now)s, updated_at = %(now)s, progress = 0, status_message = NULL,
    lease_token = CONCAT(%(token)s, '.', seq), lease_expires_at = %(now)s + INTERVAL %(lease_us)s MICROSECOND
WHERE seq IN %(seqs)s;

-- name: renew
UPDATE {jobs} SET lease_expires_at = UTC_TIMESTAMP(6) + INTERVAL %(lease_us)s MICROSECOND
WHERE id = %(id)s AND lease_token = %(token)s AND status = 'running' AND lease_expires_at > UTC_TIMESTAMP(6);

-- name: renew_many
-- A worker's held claims renewed in one UPDATE joined to them as JSON_TABLE (with jobs lined up
-- it holds hundreds); %(batch)s is a JSON array of [id, token].  Read back with held_tokens: in
-- its transaction, a row still held was renewed by it (it matched then).
UPDATE {jobs} AS j
JOIN JSON_TABLE(%(batch)s, '$[*]' COLUMNS (
    id VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$[0]',
    token VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$[1]')) AS o
  ON j.id = o.id COLLATE utf8mb4_bin AND j.lease_token = o.token COLLATE utf8mb4_bin
SET j.lease_expires_at = UTC_TIMESTAMP(6) + INTERVAL %(lease_us)s MICROSECOND
WHERE j.status = 'running' AND j.lease_expires_at > UTC_TIMESTAMP(6);

-- name: held_tokens
SELECT id, lease_token, lease_expires_at FROM {jobs}
WHERE id IN %(ids)s AND status = 'running' AND lease_expires_at > UTC_TIMESTAMP(6);

-- name: progress
UPDATE {jobs} SET progress = %(progress)s, status_message = %(message)s, updated_at = UTC_TIMESTAMP(6)
WHERE id = %(id)s AND lease_token = %(token)s AND status = 'running' AND lease_expires_at > UTC_TIMESTAMP(6);

-- name: complete
UPDATE {jobs}
SET status = 'completed', result = %(result)s, progress = 100, finished_at = UTC_TIMESTAMP(6),
    updated_at = UTC_TIMESTAMP(6), lease_token = NULL, lease_expires_at = NULL,
    expires_at = UTC_TIMESTAMP(6) + INTERVAL result_ttl SECOND
WHERE id = %(id)s AND lease_token = %(token)s AND status = 'running' AND lease_expires_at > UTC_TIMESTAMP(6);

-- name: held_for_update
SELECT id, lease_token FROM {jobs}
WHERE id IN %(ids)s AND status = 'running' AND lease_expires_at > UTC_TIMESTAMP(6)
FOR UPDATE;

-- name: complete_many
-- A worker's batch of completions: %(batch)s is a JSON array of [id, token, result-as-JSON-text].
-- The rows it matches are those whose claims are held; %(locked)s: the caller has locked them
-- and checked their leases already (then a lease that runs out meanwhile does not count).
UPDATE {jobs} AS j
-- The columns name their character set: without it MariaDB takes the database's default
-- (latin1 on many servers), which breaks the join and mangles non-Latin results.
JOIN JSON_TABLE(%(batch)s, '$[*]' COLUMNS (
    id VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$[0]',
    token VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$[1]',
    result LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$[2]')) AS o
  ON j.id = o.id COLLATE utf8mb4_bin AND j.lease_token = o.token COLLATE utf8mb4_bin
SET j.status = 'completed', j.result = o.result, j.progress = 100, j.finished_at = UTC_TIMESTAMP(6),
    j.updated_at = UTC_TIMESTAMP(6), j.lease_token = NULL, j.lease_expires_at = NULL,
    j.expires_at = UTC_TIMESTAMP(6) + INTERVAL j.result_ttl SECOND
WHERE j.status = 'running' AND (%(locked)s OR j.lease_expires_at > UTC_TIMESTAMP(6));

-- name: fail_final
UPDATE {jobs}
SET status = 'failed', error = %(error)s, finished_at = UTC_TIMESTAMP(6), updated_at = UTC_TIMESTAMP(6),
    lease_token = NULL, lease_expires_at = NULL,
    expires_at = UTC_TIMESTAMP(6) + INTERVAL failure_ttl SECOND
WHERE id = %(id)s AND lease_token = %(token)s AND status = 'running' AND lease_expires_at > UTC_TIMESTAMP(6);

-- name: fail_retry
UPDATE {jobs}
SET status = 'scheduled', error = %(error)s, run_at = UTC_TIMESTAMP(6) + INTERVAL %(retry_us)s MICROSECOND,
    updated_at = UTC_TIMESTAMP(6), lease_token = NULL, lease_expires_at = NULL
WHERE id = %(id)s AND lease_token = %(token)s AND status = 'running' AND lease_expires_at > UTC_TIMESTAMP(6);

-- name: fail_malformed
UPDATE {jobs}
SET status = 'failed', error = %(error)s, finished_at = UTC_TIMESTAMP(6), updated_at = UTC_TIMESTAMP(6),
    lease_token = NULL, lease_expires_at = NULL,
    expires_at = UTC_TIMESTAMP(6) + INTERVAL failure_ttl SECOND
WHERE seq = %(seq)s;

-- name: release
UPDATE {jobs}
SET status = 'queued', attempts = GREATEST(attempts - 1, 0), updated_at = UTC_TIMESTAMP(6), worker_id = NULL,
    hostname = NULL, lease_token = NULL, lease_expires_at = NULL
WHERE id = %(id)s AND lease_token = %(token)s AND status = 'running';

-- name: cancel
UPDATE {jobs}
SET status = 'cancelled', finished_at = UTC_TIMESTAMP(6), updated_at = UTC_TIMESTAMP(6), lease_token = NULL,
    lease_expires_at = NULL, expires_at = UTC_TIMESTAMP(6) + INTERVAL failure_ttl SECOND
WHERE id = %(id)s AND status IN ('scheduled', 'queued', 'running');

-- name: retry_pick
SELECT * FROM {jobs} WHERE id = %(id)s AND status IN ('failed', 'cancelled') FOR UPDATE;

-- name: retry_delete
DELETE FROM {jobs} WHERE seq = %(seq)s;

-- name: retry_insert
-- a retried job goes to the back of its queue: a new row gets a new seq
INSERT INTO {jobs} (id, task, queue, args, priority, status, attempts, max_attempts, timeout, created_at,
                    updated_at, result_ttl, failure_ttl, meta, parent_id, depends_on)
VALUES (%(id)s, %(task)s, %(queue)s, %(args)s, %(priority)s, 'queued', 0, %(max_attempts)s, %(timeout)s,
        %(created_at)s, UTC_TIMESTAMP(6), %(result_ttl)s, %(failure_ttl)s, %(meta)s, %(parent_id)s, %(depends_on)s);

-- name: promote_due
UPDATE {jobs} SET status = 'queued', updated_at = UTC_TIMESTAMP(6)
WHERE status = 'scheduled' AND run_at <= UTC_TIMESTAMP(6);

-- name: reap_lost
UPDATE {jobs}
SET status = 'failed', error = %(error)s, finished_at = UTC_TIMESTAMP(6), updated_at = UTC_TIMESTAMP(6),
    lease_token = NULL, lease_expires_at = NULL,
    expires_at = UTC_TIMESTAMP(6) + INTERVAL failure_ttl SECOND
WHERE status = 'running' AND lease_expires_at <= UTC_TIMESTAMP(6) AND attempts >= max_attempts;

-- name: reap_requeue
UPDATE {jobs}
SET status = 'queued', updated_at = UTC_TIMESTAMP(6), lease_token = NULL, lease_expires_at = NULL
WHERE status = 'running' AND lease_expires_at <= UTC_TIMESTAMP(6);

-- name: prune
DELETE FROM {jobs} WHERE expires_at <= UTC_TIMESTAMP(6) ORDER BY expires_at LIMIT %(batch)s;

-- name: purge
DELETE FROM {jobs}
WHERE status IN %(statuses)s AND status <> 'running' AND (%(queue)s IS NULL OR queue = %(queue)s);

-- name: set_paused
INSERT INTO {queues} (name, paused) VALUES (%(queue)s, %(paused)s)
ON DUPLICATE KEY UPDATE paused = VALUES(paused);

-- name: queue_counts
SELECT queue, status, COUNT(*) AS n FROM {jobs} GROUP BY queue, status;

-- name: oldest_queued
SELECT queue, MIN(COALESCE(run_at, created_at)) AS oldest FROM {jobs} WHERE status = 'queued' GROUP BY queue;

-- name: paused_queues
SELECT name FROM {queues} WHERE paused = 1;

-- name: list_jobs
SELECT * FROM {jobs}
WHERE (%(no_status)s OR status IN %(statuses)s)
  AND (%(queue)s IS NULL OR queue = %(queue)s)
  AND (%(task)s IS NULL OR task = %(task)s)
  AND (%(after)s IS NULL OR created_at >= %(after)s)
  AND (%(before_time)s IS NULL OR created_at < %(before_time)s)
  AND (%(c_created)s IS NULL OR created_at < %(c_created)s OR (created_at = %(c_created)s AND id < %(c_id)s))
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s;

-- name: has_work
SELECT 1 FROM {jobs}
WHERE status = 'queued' AND queue IN %(queues)s
  AND queue NOT IN (SELECT name FROM {queues} WHERE paused = 1)
LIMIT 1;

-- name: upsert_worker
INSERT INTO {workers} (id, hostname, pid, queues, concurrency, started_at, heartbeat_at, meta)
VALUES (%(id)s, %(hostname)s, %(pid)s, %(queues)s, %(concurrency)s, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6), %(meta)s)
ON DUPLICATE KEY UPDATE hostname = VALUES(hostname), pid = VALUES(pid), queues = VALUES(queues),
    concurrency = VALUES(concurrency), heartbeat_at = VALUES(heartbeat_at), meta = VALUES(meta);

-- name: heartbeat_worker
UPDATE {workers}
SET heartbeat_at = UTC_TIMESTAMP(6), current_jobs = %(current_jobs)s, processed = %(processed)s, failed = %(failed)s
WHERE id = %(id)s;

-- name: delete_worker
DELETE FROM {workers} WHERE id = %(id)s;

-- name: list_workers
SELECT * FROM {workers} ORDER BY id;

-- name: reap_workers
DELETE FROM {workers} WHERE heartbeat_at < UTC_TIMESTAMP(6) - INTERVAL %(max_silence_us)s MICROSECOND;

-- name: now
SELECT UTC_TIMESTAMP(6) AS now;
