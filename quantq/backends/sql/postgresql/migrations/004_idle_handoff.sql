-- auto: yes
-- quantq 4: an idle worker's free slot, to which a single enqueue hands its job directly.
-- A worker that finds its queues empty enters one row here before it sleeps in LISTEN; an
-- enqueue that finds a row for its queue takes it in the same statement, inserts the job
-- already claimed by that worker, and NOTIFYs the worker's own channel with the id: the
-- worker reads the row and runs it, with no claim statement on the job's path.  Unlogged:
-- a row lives as long as its worker's session (an advisory lock that session holds tells
-- an enqueue whether it is still there), and a crash leaves no session to hand jobs to.
CREATE UNLOGGED TABLE {schema}.{p}idle (
    slot      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    worker_id text NOT NULL,
    hostname  text NOT NULL,
    queues    text[] NOT NULL,
    token     text NOT NULL,
    lease     double precision NOT NULL,
    channel   text NOT NULL,
    lock_key  integer NOT NULL
);

-- The queue's NOTIFY is left out for a statement that handed its job to a worker (told on its
-- own channel): every other idle worker would wake to claim nothing.  The hand-over sets the
-- transaction-local quantq.handed; a plain INSERT leaves it unset and notifies as before.
CREATE OR REPLACE FUNCTION {schema}.{p}notify() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF current_setting('quantq.handed', true) IS DISTINCT FROM 'on' THEN PERFORM pg_notify('{schema}.{p}jobs', ''); END IF; RETURN NULL; END $$;
