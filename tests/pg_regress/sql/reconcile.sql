-- The reconciliation's local side (sql/reconcile.sql): ranges that cover every row once, the rows of
-- a range or of given sfids with their queued flag, removals that never touch a row with a queued
-- change, the history and what status() shows. Run in one transaction that is rolled back.
BEGIN;
SELECT regress.map_account('Account', ARRAY['Name'], 'read_write', '{"keep_deleted": false}') AS m \gset

-- ten rows as the sync writes them (capture off), one second apart, and one without an sfid
SET LOCAL sfsync.origin = 'salesforce';
INSERT INTO salesforce.account (sfid, name, systemmodstamp)
SELECT format('001000000000%sAAA', lpad(g::text, 3, '0')), 'Account ' || g,
       timestamp '2024-01-31 13:00:00' + g * interval '1 second' + interval '250 milliseconds'
  FROM generate_series(1, 10) g;
INSERT INTO salesforce.account (name) VALUES ('not in Salesforce yet');
RESET sfsync.origin;

-- four ranges of about equal size, bounds in whole seconds, together covering every row with an sfid
SELECT * FROM sfsync._reconcile_buckets(:m, 4);
SELECT sum(row_count) AS rows_in_ranges FROM sfsync._reconcile_buckets(:m, 4);
-- a range split again keeps to its bounds
SELECT * FROM sfsync._reconcile_buckets(:m, 2, '2024-01-31T13:00:03Z', '2024-01-31T13:00:08Z');
-- more ranges than distinct seconds: at most one cut per second (10), so 11 ranges
SELECT count(*) AS ranges FROM sfsync._reconcile_buckets(:m, 100);
SELECT regress.error_of(format('SELECT * FROM sfsync._reconcile_buckets(%s, 0)', :m));

-- a local change queued on one row
UPDATE salesforce.account SET name = 'Mine' WHERE sfid = '001000000000004AAA';
SELECT * FROM sfsync._reconcile_rows(:m, '2024-01-31T13:00:03Z', '2024-01-31T13:00:06Z') ORDER BY sfid;
SELECT * FROM sfsync._reconcile_rows(:m, NULL, NULL, ARRAY['001000000000009AAA', '001000000000999AAA']);

-- vanished records: the row with a queued change stays
SELECT sfsync._remove_vanished(:m, ARRAY['001000000000004AAA', '001000000000005AAA']) AS removed;
SELECT count(*) FILTER (WHERE sfid = '001000000000004AAA') AS kept_queued,
       count(*) FILTER (WHERE sfid = '001000000000005AAA') AS removed_gone
  FROM salesforce.account;

-- a run recorded; a second one closes a run left unfinished; status() shows the last finished one
SELECT sfsync._begin_reconcile(:m, 'requested') AS first \gset
SELECT sfsync._begin_reconcile(:m, 'schedule') AS second \gset
SELECT id = :first AS is_first, error FROM sfsync.reconciliation WHERE finished_at IS NOT NULL;
SELECT sfsync._finish_reconcile(:second, 16, '{"missing": 1, "vanished": 1, "stale": 0}',
                                '{"missing": 1, "vanished": 1, "stale": 0}', 1);
SELECT drift, drift_kinds, last_reconciled_at IS NOT NULL AS reconciled FROM sfsync.status();
SELECT regress.error_of(format('SELECT sfsync._finish_reconcile(%s, 1, ''{}'', ''{}'', 0)', :second));
SELECT regress.error_of(format('SELECT sfsync._begin_reconcile(%s, ''whenever'')', :m));

-- a request made before the run started is served by it
SELECT sfsync.reconcile('Account');
SELECT reconcile_requested_at IS NOT NULL AS requested FROM sfsync.mapping;
SELECT sfsync._begin_reconcile(:m, 'requested') AS third \gset
SELECT sfsync._finish_reconcile(:third, 16, '{"missing": 0, "vanished": 0, "stale": 0}',
                                '{"missing": 0, "vanished": 0, "stale": 0}', 0);
SELECT reconcile_requested_at IS NOT NULL AS requested FROM sfsync.mapping;
SELECT regress.error_of($$SELECT sfsync.reconcile('Contact')$$);
ROLLBACK;
