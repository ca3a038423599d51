-- auto: yes
-- quantq 2: fewer index entries for every claim and completion to write.  A status change is
-- never a HOT update (status is in the partial indexes' predicates), so each transition adds an
-- entry to every index whose predicate the new row meets.
-- * jobs_worker was read by no query.
-- * jobs_status_created leaves out completed rows, most of the table: a completion no longer
--   writes to it, and listing completed jobs walks jobs_created, where they are the bulk.
-- Quick: the new index holds only the rows not completed, built in one pass over the table
-- (created first, so readers wait only for the drops' brief exclusive lock at the end).
CREATE INDEX {p}jobs_status_created_new ON {schema}.{p}jobs (status, created_at) WHERE status <> 'completed';
DROP INDEX {schema}.{p}jobs_status_created;
ALTER INDEX {schema}.{p}jobs_status_created_new RENAME TO {p}jobs_status_created;
DROP INDEX {schema}.{p}jobs_worker;
