-- Named queries for the PostgreSQL backend.  Each starts with a "-- name: NAME" line.
-- Every time comes from the server: now() (transaction start) decides leases and due dates.
-- {jobs}, {queues}, {workers} are the schema-qualified table names.
-- A statement on given jobs finds them by id and checks their status through a sub-select, as in
-- status = (SELECT 'running'): the planner cannot match that against a partial index's predicate
-- (the lease index's status = 'running'), so it cannot walk such an index instead of looking the
-- ids up.  It did whenever the statistics showed few jobs in that status (after any ANALYZE of a
-- queue at rest), and the walk passes every job in it and every one that has left it since vacuum.
-- A list of ids is read through a sub-select too, id = ANY((SELECT %(ids)s::text[])::text[]):
-- told a batch's size, the planner would rather scan the whole table than look 200 ids up, and
-- with statistics that show nothing running it expects that scan to yield one row (25 ms for 300
-- completions in a 20,000-row table, growing with the table).  Unseen, a list counts as a few.
-- Every statement that finishes a job (completed, failed, cancelled) NOTIFYs its id on
-- '{schema}.{p}jobs_done', in the same transaction: callers waiting on it are told at the commit.
-- (At most its first 1,000 characters: a payload is limited to 8,000 bytes, and a foreign
-- producer's INSERT may bring a longer id; its waiters are then found by their look each second.)

-- name: insert_job
INSERT INTO {jobs} (id, task, queue, args, priority, status, max_attempts, timeout, run_at,
                    result_ttl, failure_ttl, meta, parent_id, depends_on)
VALUES (%(id)s, %(task)s, %(queue)s, %(args)s::jsonb, %(priority)s, %(status)s, %(max_attempts)s, %(timeout)s,
        %(run_at)s, %(result_ttl)s, %(failure_ttl)s, %(meta)s::jsonb, %(parent_id)s, %(depends_on)s::jsonb)
ON CONFLICT (id) DO NOTHING;

-- name: insert_jobs
-- A bulk enqueue's jobs in one statement, a column each as a text array (numbers and times as
-- their text, cast here): the server inserts them in one pass, and the AFTER INSERT trigger
-- fires (and NOTIFYs) once for them all.  In the arrays' order, so of two with one id the first
-- is kept (the second meets it and does nothing).
INSERT INTO {jobs} (id, task, queue, args, priority, status, max_attempts, timeout, run_at,
                    result_ttl, failure_ttl, meta, parent_id, depends_on)
SELECT id, task, queue, args::jsonb, priority::smallint, status, max_attempts::integer, timeout::double precision,
       run_at::timestamptz, result_ttl::integer, failure_ttl::integer, meta::jsonb, parent_id, depends_on::jsonb
FROM unnest(%(id)s::text[], %(task)s::text[], %(queue)s::text[], %(args)s::text[], %(priority)s::text[],
            %(status)s::text[], %(max_attempts)s::text[], %(timeout)s::text[], %(run_at)s::text[],
            %(result_ttl)s::text[], %(failure_ttl)s::text[], %(meta)s::text[], %(parent_id)s::text[],
            %(depends_on)s::text[])
     WITH ORDINALITY AS j (id, task, queue, args, priority, status, max_attempts, timeout, run_at,
                           result_ttl, failure_ttl, meta, parent_id, depends_on, n)
ORDER BY n
ON CONFLICT (id) DO NOTHING;

-- name: insert_job_returning
-- One job, one round trip (autocommit; the AFTER INSERT trigger sends the NOTIFY).  When an idle
-- worker waits on the job's queue (a row in {idle}, see migration 004) and the queue is not
-- paused, the job is inserted already claimed by that worker, whose row is taken, and its own
-- channel is told the id: the worker reads the row and runs it, with no claim statement on the
-- job's path.  A row whose worker's session is gone is passed over: that session held the
-- row's advisory lock exclusively, so a shared try succeeds only when nobody holds it.
-- The NOTIFY carries the row itself, {"row": ...}, so the worker need not read it back, unless it
-- is too long for a payload (8,000 bytes): then {"id": ...}.
-- (A job whose id exists is not handed: the insert does nothing and no worker is told.)
-- It returns only what the server decided (status, attempts, times, worker): the caller has the
-- rest, and the whole row (30 columns) made the statement about a tenth slower.
WITH slot AS (
    DELETE FROM {idle} WHERE slot = (
        SELECT i.slot FROM {idle} i
        WHERE %(status)s = 'queued' AND %(queue)s = ANY(i.queues)
          AND NOT EXISTS (SELECT 1 FROM {queues} q WHERE q.name = %(queue)s AND q.paused)
          AND NOT EXISTS (SELECT 1 FROM {jobs} WHERE id = %(id)s)
          AND NOT pg_try_advisory_xact_lock_shared(%(lock_class)s, i.lock_key)
        ORDER BY i.slot
        LIMIT 1
        FOR UPDATE SKIP LOCKED)
    RETURNING worker_id, hostname, token, lease, channel),
ins AS (
    INSERT INTO {jobs} (id, task, queue, args, priority, status, max_attempts, timeout, run_at,
                        result_ttl, failure_ttl, meta, parent_id, depends_on,
                        attempts, worker_id, hostname, started_at, lease_token, lease_expires_at)
    SELECT %(id)s, %(task)s, %(queue)s, %(args)s::jsonb, %(priority)s,
           CASE WHEN s.token IS NULL THEN %(status)s ELSE 'running' END, %(max_attempts)s, %(timeout)s,
           %(run_at)s, %(result_ttl)s, %(failure_ttl)s, %(meta)s::jsonb, %(parent_id)s, %(depends_on)s::jsonb,
           CASE WHEN s.token IS NULL THEN 0 ELSE 1 END, s.worker_id, s.hostname,
           CASE WHEN s.token IS NULL THEN NULL ELSE now() END, s.token, now() + s.lease * interval '1 second'
    FROM (VALUES (1)) AS one (x) LEFT JOIN slot s ON true
    ON CONFLICT (id) DO NOTHING
    RETURNING *)
SELECT ins.status, ins.attempts, ins.created_at, ins.updated_at, ins.started_at, ins.worker_id, ins.hostname,
       CASE WHEN s.channel IS NOT NULL
                   THEN pg_notify(s.channel, CASE WHEN octet_length(told.full) < 7900 THEN told.full
                                                  ELSE json_build_object('id', ins.id)::text END) END AS handed,
       -- (read by the AFTER INSERT trigger, which fires after this: no NOTIFY on the queue's channel)
       CASE WHEN s.channel IS NOT NULL THEN set_config('quantq.handed', 'on', true) END AS quiet
FROM ins LEFT JOIN slot s ON true
LEFT JOIN LATERAL (SELECT json_build_object('row', to_json(ins))::text AS full WHERE s.channel IS NOT NULL) AS told ON true;

-- name: idle_enter
-- An idle worker's free slot, entered unless its queues hold work (then it claims instead), and
-- its entries whose session is gone swept away: that session's advisory lock is free.
WITH work AS (
    SELECT EXISTS (
        SELECT 1 FROM unnest(%(queues)s::text[]) AS wanted(name)
        WHERE EXISTS (SELECT 1 FROM {jobs} WHERE status = 'queued' AND queue = wanted.name)
          AND NOT EXISTS (SELECT 1 FROM {queues} q WHERE q.name = wanted.name AND q.paused)) AS found),
gone AS (
    DELETE FROM {idle} WHERE lock_key <> %(lock_key)s AND pg_try_advisory_xact_lock_shared(%(lock_class)s, lock_key)),
entered AS (
    INSERT INTO {idle} (worker_id, hostname, queues, token, lease, channel, lock_key)
    SELECT %(worker_id)s, %(hostname)s, %(queues)s::text[], %(token)s, %(lease)s, %(channel)s, %(lock_key)s
    WHERE NOT (SELECT found FROM work)
    RETURNING slot)
SELECT (SELECT found FROM work) AS has_work, (SELECT slot FROM entered) AS slot;

-- name: idle_leave
-- The slot withdrawn; no row back means an enqueue took it (and its NOTIFY is on its way).
DELETE FROM {idle} WHERE slot = %(slot)s RETURNING slot;

-- name: handed_job
-- The job an enqueue handed to this worker, if it is still held by the hand-over's token.
SELECT * FROM {jobs} WHERE id = %(id)s AND lease_token = %(token)s AND status = (SELECT 'running');

-- name: queue_due_ids
UPDATE {jobs} SET status = 'queued'
WHERE id = ANY((SELECT %(ids)s::text[])::text[]) AND status = (SELECT 'scheduled') AND run_at <= now();

-- name: get_job
SELECT * FROM {jobs} WHERE id = %(id)s;

-- name: get_jobs
SELECT * FROM {jobs} WHERE id = ANY(%(ids)s);

-- name: claim
-- Per queue, the claim index hands over rows already in order; paused queues are left out first.
-- The queue list and the limit are read through sub-selects so that planning with their values
-- costs the same as without: after five runs the server keeps one generic plan per session
-- instead of planning every claim afresh (about 0.3 ms a call).  The update looks the picked rows
-- up by primary key from an array, which that plan cannot turn into a scan of the whole table.
WITH picked AS (
    SELECT s.seq FROM unnest((SELECT %(queues)s::text[])) AS wanted(name)
    CROSS JOIN LATERAL (
        SELECT seq, priority FROM {jobs}
        WHERE status = 'queued' AND queue = wanted.name
        ORDER BY priority DESC, seq
        LIMIT (SELECT %(limit)s::integer)
        FOR UPDATE SKIP LOCKED) AS s
    WHERE NOT EXISTS (SELECT 1 FROM {queues} q WHERE q.name = wanted.name AND q.paused)
    ORDER BY s.priority DESC, s.seq
    LIMIT (SELECT %(limit)s::integer))
UPDATE {jobs} AS j
SET status = 'running', attempts = j.attempts + 1, worker_id = %(worker_id)s, hostname = %(hostname)s,
    started_at = now(), updated_at = now(), progress = 0, status_message = NULL,
    lease_token = %(token)s || '.' || j.seq, lease_expires_at = now() + %(lease)s * interval '1 second'
WHERE j.seq = ANY(ARRAY(SELECT seq FROM picked))
RETURNING j.*;

-- name: renew
UPDATE {jobs} SET lease_expires_at = now() + %(lease)s * interval '1 second'
WHERE id = %(id)s AND lease_token = %(token)s AND status = (SELECT 'running') AND lease_expires_at > now()
RETURNING lease_expires_at;

-- name: renew_many
-- A worker's held claims renewed in one statement (with jobs lined up it holds hundreds).
UPDATE {jobs} AS j SET lease_expires_at = now() + %(lease)s * interval '1 second'
FROM unnest((SELECT %(ids)s::text[]), (SELECT %(tokens)s::text[])) AS o(id, token)
WHERE j.id = o.id AND j.lease_token = o.token AND j.status = (SELECT 'running') AND j.lease_expires_at > now()
RETURNING j.id, o.token AS claim_token, j.lease_expires_at;

-- name: held_tokens
SELECT id, lease_token FROM {jobs}
WHERE id = ANY((SELECT %(ids)s::text[])::text[]) AND status = (SELECT 'running') AND lease_expires_at > now();

-- name: progress
UPDATE {jobs} SET progress = %(progress)s, status_message = %(message)s, updated_at = now()
WHERE id = %(id)s AND lease_token = %(token)s AND status = (SELECT 'running') AND lease_expires_at > now();

-- name: complete
-- Like complete_many, it returns only the columns a completion (or the run's progress reports)
-- changed: the whole row, 30 columns, made the statement about a tenth slower on an idle
-- worker's path.
UPDATE {jobs}
SET status = 'completed', result = %(result)s::jsonb, progress = 100, finished_at = now(), updated_at = now(),
    lease_token = NULL, lease_expires_at = NULL,
    expires_at = now() + result_ttl * interval '1 second'
WHERE id = %(id)s AND lease_token = %(token)s AND status = (SELECT 'running') AND lease_expires_at > now()
RETURNING progress, status_message, finished_at, updated_at, pg_notify('{schema}.{p}jobs_done', left(id, 1000));

-- name: complete_many
-- A worker's batch of completions in one statement.  It returns only the columns a completion
-- (or the run's progress reports) changed: the rest is the claimed job as the worker holds it.
UPDATE {jobs} AS j
SET status = 'completed', result = o.result::jsonb, progress = 100, finished_at = now(), updated_at = now(),
    lease_token = NULL, lease_expires_at = NULL,
    expires_at = now() + j.result_ttl * interval '1 second'
FROM unnest((SELECT %(ids)s::text[]), (SELECT %(tokens)s::text[]), (SELECT %(results)s::text[])) AS o(id, token, result)
WHERE j.id = o.id AND j.lease_token = o.token AND j.status = (SELECT 'running') AND j.lease_expires_at > now()
RETURNING j.id, j.progress, j.status_message, j.finished_at, j.updated_at, o.token AS claim_token,
          pg_notify('{schema}.{p}jobs_done', left(j.id, 1000));

-- name: fail_final
UPDATE {jobs}
SET status = 'failed', error = %(error)s::jsonb, finished_at = now(), updated_at = now(),
    lease_token = NULL, lease_expires_at = NULL,
    expires_at = now() + failure_ttl * interval '1 second'
WHERE id = %(id)s AND lease_token = %(token)s AND status = (SELECT 'running') AND lease_expires_at > now()
RETURNING *, pg_notify('{schema}.{p}jobs_done', left(id, 1000));

-- name: fail_retry
UPDATE {jobs}
SET status = 'scheduled', error = %(error)s::jsonb, run_at = now() + %(retry_in)s * interval '1 second',
    updated_at = now(), lease_token = NULL, lease_expires_at = NULL
WHERE id = %(id)s AND lease_token = %(token)s AND status = (SELECT 'running') AND lease_expires_at > now()
RETURNING *;

-- name: fail_malformed
UPDATE {jobs}
SET status = 'failed', error = %(error)s::jsonb, finished_at = now(), updated_at = now(),
    lease_token = NULL, lease_expires_at = NULL,
    expires_at = now() + failure_ttl * interval '1 second'
WHERE seq = %(seq)s
RETURNING pg_notify('{schema}.{p}jobs_done', left(id, 1000));

-- name: release
UPDATE {jobs}
SET status = 'queued', attempts = GREATEST(attempts - 1, 0), updated_at = now(), worker_id = NULL, hostname = NULL,
    lease_token = NULL, lease_expires_at = NULL
WHERE id = %(id)s AND lease_token = %(token)s AND status = (SELECT 'running');

-- name: cancel
UPDATE {jobs}
SET status = 'cancelled', finished_at = now(), updated_at = now(), lease_token = NULL, lease_expires_at = NULL,
    expires_at = now() + failure_ttl * interval '1 second'
WHERE id = %(id)s AND status IN ('scheduled', 'queued', 'running')
RETURNING *, pg_notify('{schema}.{p}jobs_done', left(id, 1000));

-- name: retry
UPDATE {jobs}
SET status = 'queued', attempts = 0, error = NULL, result = NULL, progress = 0, status_message = NULL,
    run_at = NULL, started_at = NULL, finished_at = NULL, expires_at = NULL, updated_at = now(),
    worker_id = NULL, hostname = NULL,
    seq = nextval(pg_get_serial_sequence('{jobs}', 'seq'))
WHERE id = %(id)s AND status IN ('failed', 'cancelled')
RETURNING *;

-- name: promote_due
UPDATE {jobs} SET status = 'queued', updated_at = now()
WHERE status = 'scheduled' AND run_at <= now();

-- name: reap_lost
UPDATE {jobs}
SET status = 'failed', error = %(error)s::jsonb, finished_at = now(), updated_at = now(),
    lease_token = NULL, lease_expires_at = NULL,
    expires_at = now() + failure_ttl * interval '1 second'
WHERE status = 'running' AND lease_expires_at <= now() AND attempts >= max_attempts
RETURNING pg_notify('{schema}.{p}jobs_done', left(id, 1000));

-- name: reap_requeue
UPDATE {jobs}
SET status = 'queued', updated_at = now(), lease_token = NULL, lease_expires_at = NULL
WHERE status = 'running' AND lease_expires_at <= now();

-- name: prune
DELETE FROM {jobs}
WHERE seq IN (SELECT seq FROM {jobs} WHERE expires_at <= now() ORDER BY expires_at
              LIMIT %(batch)s FOR UPDATE SKIP LOCKED);

-- name: purge
DELETE FROM {jobs}
WHERE status = ANY(%(statuses)s) AND status <> 'running'
  AND (%(queue)s::text IS NULL OR queue = %(queue)s::text);

-- name: set_paused
INSERT INTO {queues} (name, paused) VALUES (%(queue)s, %(paused)s)
ON CONFLICT (name) DO UPDATE SET paused = excluded.paused;

-- name: queue_counts
-- (queue, status) leaves running rows out: they are counted through jobs_lease
SELECT queue, status, COUNT(*) AS n FROM {jobs} WHERE status <> 'running' GROUP BY queue, status
UNION ALL
SELECT queue, status, COUNT(*) AS n FROM {jobs} WHERE status = 'running' GROUP BY queue, status;

-- name: oldest_queued
SELECT queue, MIN(COALESCE(run_at, created_at)) AS oldest FROM {jobs} WHERE status = 'queued' GROUP BY queue;

-- name: paused_queues
SELECT name FROM {queues} WHERE paused;

-- name: list_jobs
-- Two parts, each in time order and limited, then merged: the listing indexes leave running rows
-- out (a claim writes no entry to them), so those are read through jobs_lease; one query over
-- both would find no index that holds every row, and sort the table.
(SELECT * FROM {jobs}
WHERE (%(no_status)s OR status = ANY(%(statuses)s))
  AND (%(queue)s::text IS NULL OR queue = %(queue)s::text)
  AND (%(task)s::text IS NULL OR task = %(task)s::text)
  AND (%(after)s::timestamptz IS NULL OR created_at >= %(after)s::timestamptz)
  AND (%(before_time)s::timestamptz IS NULL OR created_at < %(before_time)s::timestamptz)
  AND (%(cursor)s::text IS NULL OR (created_at, id) < (SELECT created_at, id FROM {jobs} WHERE id = %(cursor)s::text))
  AND status <> 'running'
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s)
UNION ALL
(SELECT * FROM {jobs}
WHERE (%(no_status)s OR status = ANY(%(statuses)s))
  AND (%(queue)s::text IS NULL OR queue = %(queue)s::text)
  AND (%(task)s::text IS NULL OR task = %(task)s::text)
  AND (%(after)s::timestamptz IS NULL OR created_at >= %(after)s::timestamptz)
  AND (%(before_time)s::timestamptz IS NULL OR created_at < %(before_time)s::timestamptz)
  AND (%(cursor)s::text IS NULL OR (created_at, id) < (SELECT created_at, id FROM {jobs} WHERE id = %(cursor)s::text))
  AND status = 'running'
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s)
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s;

-- name: has_work
SELECT 1 FROM unnest(%(queues)s::text[]) AS wanted(name)
WHERE EXISTS (SELECT 1 FROM {jobs} WHERE status = 'queued' AND queue = wanted.name)
  AND NOT EXISTS (SELECT 1 FROM {queues} q WHERE q.name = wanted.name AND q.paused)
LIMIT 1;

-- name: upsert_worker
INSERT INTO {workers} (id, hostname, pid, queues, concurrency, started_at, heartbeat_at, meta)
VALUES (%(id)s, %(hostname)s, %(pid)s, %(queues)s, %(concurrency)s, now(), now(), %(meta)s)
ON CONFLICT (id) DO UPDATE SET hostname = excluded.hostname, pid = excluded.pid, queues = excluded.queues,
    concurrency = excluded.concurrency, heartbeat_at = excluded.heartbeat_at, meta = excluded.meta;

-- name: heartbeat_worker
UPDATE {workers} SET heartbeat_at = now(), current_jobs = %(current_jobs)s, processed = %(processed)s, failed = %(failed)s
WHERE id = %(id)s;

-- name: delete_worker
DELETE FROM {workers} WHERE id = %(id)s;

-- name: list_workers
SELECT * FROM {workers} ORDER BY id;

-- name: reap_workers
DELETE FROM {workers} WHERE heartbeat_at < now() - %(max_silence)s * interval '1 second';

-- name: now
SELECT clock_timestamp() AS now;
