-- Least privilege: nothing in schema sfsync is open to PUBLIC except the echo-guard test;
-- sfsync_admin manages mappings, sfsync_agent (the sidecar) speaks the queue protocol.

REVOKE ALL ON ALL TABLES IN SCHEMA sfsync FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA sfsync FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA sfsync FROM PUBLIC;
GRANT USAGE ON SCHEMA sfsync TO PUBLIC;
GRANT EXECUTE ON FUNCTION sfsync.is_applying() TO PUBLIC;

GRANT SELECT ON sfsync.mapping, sfsync.change, sfsync.change_archive, sfsync.conflict, sfsync.instance, sfsync.org
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
    sfsync.bind_org(text, text)
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
    sfsync._merge_stage(bigint, text, text[]),
    sfsync._apply_records(bigint, jsonb, text, text[]),
    sfsync._delete_records(bigint, text[], boolean),
    sfsync._set_progress(bigint, bigint, bigint),
    sfsync._acquire_reader(bigint, text, integer),
    sfsync._release_reader(bigint, text),
    sfsync._set_reader_position(bigint, timestamptz, bigint, timestamptz),
    sfsync._finish_reload(bigint, timestamptz),
    sfsync._finish_backfill(bigint, text[])
    TO sfsync_agent;

-- Only superusers and the sidecar may switch capture off for their own writes.
GRANT SET ON PARAMETER sfsync.origin TO sfsync_agent;

-- Rotated refresh tokens (issue 16): sfsync.credential stays its owner's alone (no grant above or
-- here); a sidecar reads and saves its own session schema's token through these two functions only.
GRANT EXECUTE ON FUNCTION
    sfsync._save_refresh_token(text, text),
    sfsync._saved_refresh_token(text)
    TO sfsync_agent;
