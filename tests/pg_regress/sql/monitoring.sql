-- Monitoring (sql/monitoring.sql): what the alerts and the dashboard read. Failures since a time per
-- mapping with the first errors; the changes still FAILED, filtered by object and code; a mapping's
-- latest conflicts; writes and their latency per minute; bad input; a sidecar's session sees its own
-- schema only. Archive and conflict rows are written as the queue protocol leaves them. Run in one
-- transaction that is rolled back.
BEGIN;
SELECT regress.map_account('Account', ARRAY['Name'], 'read_write') AS account \gset
SELECT regress.map_account('Account', ARRAY['Name'], 'read_write', '{"schema": "other"}') AS other \gset

-- finished changes: two Account failures (one already retried), a success 2 s after its commit, an
-- ignored change, and a failure of the other schema's mapping
INSERT INTO sfsync.change_archive (mapping_id, record_id, sfid, action, "values", state, attempts, sf_result,
                                   sf_message, sf_error, created_at, processed_at, archived_at)
VALUES (:account, 1, NULL, 'INSERT', '{"name": "A"}', 'FAILED', 1, 'REQUIRED_FIELD_MISSING', 'Required fields are missing: [LastName]',
        '{"code": "REQUIRED_FIELD_MISSING", "message": "Required fields are missing: [LastName]", "fields": ["LastName"]}',
        now() - interval '90 seconds', now() - interval '89 seconds', now() - interval '89 seconds'),
       (:account, 2, '001000000000002AAA', 'UPDATE', '{"name": "B"}', 'REQUEUED', 2, 'FIELD_CUSTOM_VALIDATION_EXCEPTION', 'Name is wrong',
        '{"code": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "message": "Name is wrong", "fields": []}',
        now() - interval '60 seconds', now() - interval '59 seconds', now() - interval '59 seconds'),
       (:account, 3, '001000000000003AAA', 'UPDATE', '{"name": "C"}', 'SUCCESS', 1, NULL, NULL, NULL,
        now() - interval '32 seconds', now() - interval '30 seconds', now() - interval '30 seconds'),
       (:account, 4, '001000000000004AAA', 'DELETE', NULL, 'IGNORED', 0, NULL, 'ignored by the user', NULL,
        now() - interval '20 seconds', now() - interval '20 seconds', now() - interval '20 seconds'),
       (:other, 1, NULL, 'INSERT', '{"name": "X"}', 'FAILED', 1, 'DUPLICATE_VALUE', 'duplicate value found', NULL,
        now() - interval '10 seconds', now() - interval '10 seconds', now() - interval '10 seconds');

-- failures since two minutes ago, per mapping, at most one error listed; since 70 s ago only the retried one
SELECT schema_name, object_name, failed, first_failed_at < last_failed_at AS spread,
       errors->0 ? 'change_id' AS has_change_id, (SELECT jsonb_agg(e - 'change_id') FROM jsonb_array_elements(errors) e) AS errors
  FROM sfsync._failures_since(now() - interval '2 minutes', 1);
SELECT schema_name, failed, errors->0->>'code' AS first_code, jsonb_array_length(errors) AS listed
  FROM sfsync._failures_since(now() - interval '70 seconds');
SELECT count(*) AS none_later FROM sfsync._failures_since(now());

-- still FAILED: the retried change is not; filters by object (any case) and code
SELECT schema_name, object_name, table_name, record_id, action, code, message, fields, attempts
  FROM sfsync._failed_changes() ORDER BY schema_name;
SELECT count(*) FROM sfsync._failed_changes('ACCOUNT', 'DUPLICATE_VALUE');
SELECT count(*) FROM sfsync._failed_changes('Contact');
SELECT record_id FROM sfsync._failed_changes(NULL, NULL, 1);

-- conflicts, newest first
INSERT INTO sfsync.conflict (mapping_id, record_id, sfid, field, column_name, local_value, incoming_value, policy, resolved_at)
VALUES (:account, 3, '001000000000003AAA', 'Name', 'name', '"mine"', '"theirs"', 'salesforce_wins', now() - interval '5 seconds'),
       (:account, 3, '001000000000003AAA', 'Name', 'name', '"mine again"', '"theirs again"', 'salesforce_wins', now());
SELECT sfid, record_id, field, local_value, incoming_value, policy FROM sfsync._recent_conflicts('account');
SELECT count(*) FROM sfsync._recent_conflicts('Account', 1);

-- writes per minute: one written with a 2 s latency, three failed (the other schema's included)
SELECT sum(written) AS written, sum(failed) AS failed, max(latency_p50_ms) AS p50_ms, max(latency_p99_ms) AS p99_ms
  FROM sfsync._write_history(now() - interval '1 hour');
SELECT count(*) AS no_minutes FROM sfsync._write_history(now() + interval '1 minute');

-- bad input
SELECT regress.error_of('SELECT sfsync._failures_since(NULL)');
SELECT regress.error_of('SELECT sfsync._failures_since(now(), -1)');
SELECT regress.error_of('SELECT sfsync._failed_changes(NULL, NULL, 0)');
SELECT regress.error_of('SELECT sfsync._recent_conflicts(NULL)');
SELECT regress.error_of('SELECT sfsync._write_history(NULL)');

-- who may call them: the sidecar's and the administrators' roles, nobody else
SELECT p.oid::regprocedure AS function, has_function_privilege('sfsync_agent', p.oid, 'EXECUTE') AS agent,
       has_function_privilege('sfsync_admin', p.oid, 'EXECUTE') AS admin,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public
  FROM pg_proc p
 WHERE p.pronamespace = 'sfsync'::regnamespace
   AND p.proname IN ('_failures_since', '_failed_changes', '_recent_conflicts', '_write_history')
 ORDER BY 1::text;

-- a session bound to the other schema (as a sidecar's is) sees that schema only
SELECT sfsync._bind_session('other');
SELECT schema_name, failed FROM sfsync._failures_since(now() - interval '1 hour');
SELECT schema_name, code FROM sfsync._failed_changes();
SELECT count(*) AS conflicts_of_other FROM sfsync._recent_conflicts('Account');
SELECT sum(written) AS written, sum(failed) AS failed FROM sfsync._write_history(now() - interval '1 hour');
ROLLBACK;
