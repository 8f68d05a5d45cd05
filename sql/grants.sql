-- Least privilege: nothing in schema sfsync is open to PUBLIC except the echo-guard test;
-- sfsync_admin manages mappings, sfsync_agent (the sidecar) speaks the queue protocol.

REVOKE ALL ON ALL TABLES IN SCHEMA sfsync FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA sfsync FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA sfsync FROM PUBLIC;
GRANT USAGE ON SCHEMA sfsync TO PUBLIC;
GRANT EXECUTE ON FUNCTION sfsync.is_applying() TO PUBLIC;

GRANT SELECT ON sfsync.mapping, sfsync.change, sfsync.change_archive, sfsync.conflict, sfsync.instance, sfsync.org,
    sfsync.reconciliation
    TO sfsync_admin;
-- A sidecar reads the queue only through the protocol functions, which keep to its session's
-- schema; of the catalog it sees its own schema's mappings (the policies below).
GRANT SELECT ON sfsync.mapping, sfsync.instance TO sfsync_agent;
ALTER TABLE sfsync.mapping ENABLE ROW LEVEL SECURITY;
CREATE POLICY mapping_admin ON sfsync.mapping FOR SELECT TO sfsync_admin USING (true);
CREATE POLICY mapping_agent ON sfsync.mapping FOR SELECT TO sfsync_agent
    USING (schema_name = sfsync._session_schema());

GRANT EXECUTE ON FUNCTION
    sfsync.create_mapping(text, text[], text, jsonb),
    sfsync.alter_mapping(text, jsonb, text),
    sfsync.drop_mapping(text, boolean, text),
    sfsync.reload(text, text),
    sfsync.pause(text, text),
    sfsync.resume(text, text),
    sfsync.retry(bigint[]),
    sfsync.retry_failed(text, text),
    sfsync.ignore(bigint[]),
    sfsync.status(),
    sfsync.import_config(jsonb, text),
    sfsync.export_config(text),
    sfsync.bind_org(text, text),
    sfsync.reconcile(text, text)
    TO sfsync_admin;

GRANT EXECUTE ON FUNCTION
    sfsync.status(),
    sfsync._session_schema(),
    sfsync._check_scope(bigint),
    sfsync._open_session(text, text, boolean),
    sfsync._org_binding(text),
    sfsync._instance_id(),
    sfsync._install_mapping(bigint, jsonb, jsonb),
    sfsync._set_state(bigint, text, text),
    sfsync._claim_changes(integer, integer, bigint),
    sfsync._parent_pending(bigint, text, text, text),
    sfsync._renew_leases(uuid, integer),
    sfsync._complete_changes(jsonb, integer),
    sfsync._purge_archive(interval),
    sfsync._queue_depth(),
    sfsync._backlog(bigint[], text[]),
    sfsync._in_flight(bigint, text[]),
    sfsync._create_stage(bigint),
    sfsync._conv_sql(text, text),
    sfsync._merge_stage(bigint, text, text[], timestamptz),
    sfsync._apply_records(bigint, jsonb, text, text[], timestamptz),
    sfsync._delete_records(bigint, text[], boolean),
    sfsync._set_progress(bigint, bigint, bigint),
    sfsync._acquire_reader(bigint, text, integer),
    sfsync._release_reader(bigint, text),
    sfsync._set_reader_position(bigint, timestamptz, bigint, timestamptz),
    sfsync._finish_reload(bigint, timestamptz),
    sfsync._finish_backfill(bigint, text[]),
    sfsync._reconcile_buckets(bigint, integer, text, text),
    sfsync._reconcile_rows(bigint, text, text, text[]),
    sfsync._remove_vanished(bigint, text[], boolean),
    sfsync._begin_reconcile(bigint, text),
    sfsync._finish_reconcile(bigint, integer, jsonb, jsonb, bigint, text),
    sfsync._set_dependencies(bigint, jsonb),
    sfsync._changed_rows(bigint, timestamptz, integer),
    sfsync._refresh_fields(bigint, jsonb),
    sfsync._count_formula_calls(bigint, bigint, bigint),
    sfsync._failures_since(timestamptz, integer),
    sfsync._failed_changes(text, text, integer),
    sfsync._recent_conflicts(text, integer),
    sfsync._write_history(timestamptz)
    TO sfsync_agent;

-- Monitoring (sql/monitoring.sql): administrators read the same summaries as the sidecar's dashboard.
GRANT EXECUTE ON FUNCTION
    sfsync._failures_since(timestamptz, integer),
    sfsync._failed_changes(text, text, integer),
    sfsync._recent_conflicts(text, integer),
    sfsync._write_history(timestamptz)
    TO sfsync_admin;

-- Only superusers and the sidecar may switch capture off for their own writes.
GRANT SET ON PARAMETER sfsync.origin TO sfsync_agent;

-- Rotated refresh tokens (issue 16): sfsync.credential stays its owner's alone (no grant above or
-- here); a sidecar reads and saves its own session schema's token through these two functions only.
GRANT EXECUTE ON FUNCTION
    sfsync._save_refresh_token(text, text),
    sfsync._saved_refresh_token(text)
    TO sfsync_agent;

-- sfsync_owner: what sfsync's SECURITY DEFINER functions and the capture trigger's queue writes run
-- as, never the superuser who installed the extension. It owns sfsync's catalog (so those functions
-- need no grant on it) and the mapped schemas and tables it creates, and holds exactly the rights it
-- uses: creating mapped schemas and the sidecar's temporary staging tables in this database, calling
-- sfsync's functions, and switching capture off for the sync's own writes (sfsync.origin).
DO $owner$
DECLARE
    v_relation record;
    v_function regprocedure;
BEGIN
    FOR v_relation IN
        SELECT c.oid::regclass AS name, CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END AS kind
          FROM pg_catalog.pg_class c
         WHERE c.relnamespace = 'sfsync'::regnamespace AND c.relkind IN ('r', 'v', 'S')
           -- identity sequences follow their table
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                            WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i'))
    LOOP
        EXECUTE format('ALTER %s %s OWNER TO sfsync_owner', v_relation.kind, v_relation.name);
    END LOOP;
    FOR v_function IN SELECT p.oid FROM pg_catalog.pg_proc p
                       WHERE p.pronamespace = 'sfsync'::regnamespace AND p.prosecdef LOOP
        EXECUTE format('ALTER FUNCTION %s OWNER TO sfsync_owner', v_function);
    END LOOP;
    EXECUTE format('GRANT CREATE, TEMPORARY ON DATABASE %I TO sfsync_owner', current_database());
END
$owner$;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA sfsync TO sfsync_owner;
GRANT SET ON PARAMETER sfsync.origin TO sfsync_owner;
