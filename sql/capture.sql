-- Capture: the trigger functions installed on every mapped table, the echo guard and helpers.

-- AFTER ... FOR EACH ROW: queues the change (src/capture): inserts and deletes of read-write tables,
-- and inserts, updates and deletes of read-only ones (archived as READONLY).
CREATE FUNCTION sfsync._capture() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'sfsync_capture';
COMMENT ON FUNCTION sfsync._capture() IS
    'sfsync capture trigger: queues inserted and deleted rows of a read-write table (and changed rows of a read-only one) into sfsync.change';

-- BEFORE INSERT OR UPDATE FOR EACH ROW on read-write tables: sets _hc_lastop = 'PENDING' when a change
-- will be queued; with the argument capture_updates it also queues updates (one trigger per update).
CREATE FUNCTION sfsync._mark_pending() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'sfsync_status';
COMMENT ON FUNCTION sfsync._mark_pending() IS
    'sfsync status trigger: marks a row PENDING when a local change to it will be sent to Salesforce, and queues updates of a read-write table';

-- True while the sidecar applies Salesforce data in this transaction (the echo guard); for use in
-- users' own triggers, like Heroku Connect's get_xmlbinary() test.
CREATE FUNCTION sfsync.is_applying() RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT coalesce(pg_catalog.current_setting('sfsync.origin', true), 'local') = 'salesforce' $$;
COMMENT ON FUNCTION sfsync.is_applying() IS
    'true while sfsync applies data coming from Salesforce (sfsync.origin = salesforce): such writes are not captured';

-- BEFORE TRUNCATE on read-write tables: a truncate cannot be written to Salesforce.
CREATE FUNCTION sfsync._refuse_truncate() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = 'feature_not_supported',
        MESSAGE = format('TRUNCATE of %I.%I is refused: it is a read-write sfsync mapping and a truncate cannot be written to Salesforce',
                         TG_TABLE_SCHEMA, TG_TABLE_NAME),
        HINT = 'Delete the rows with DELETE (each delete is sent to Salesforce), or make the mapping read_only first.';
END
$$;
COMMENT ON FUNCTION sfsync._refuse_truncate() IS 'sfsync: refuses TRUNCATE of read-write mapped tables';

-- A DELETE of a row that has no sfid yet (called by the capture trigger as sfsync_owner):
--   its INSERT is still queued, never sent → the INSERT and later updates become IGNORED, nothing is sent;
--   its INSERT is in flight, or was sent before and came back to the queue (a lost answer, a crash:
--   the record may exist) → the DELETE is queued behind it and gets the sfid when the INSERT completes;
--   its INSERT failed earlier  → nothing exists in Salesforce: recorded as IGNORED.
CREATE FUNCTION sfsync._capture_unsynced_delete(p_mapping bigint, p_record bigint, p_old jsonb)
    RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_insert_state text;
    v_insert_attempts integer;
    v_ignored bigint[];
BEGIN
    SELECT c.state, c.attempts INTO v_insert_state, v_insert_attempts
      FROM sfsync.change c
     WHERE c.mapping_id = p_mapping AND c.record_id = p_record AND c.action = 'INSERT'
     ORDER BY c.id DESC
     LIMIT 1
       FOR UPDATE;

    IF v_insert_state = 'PENDING' OR (v_insert_state = 'NEW' AND v_insert_attempts > 0) THEN
        INSERT INTO sfsync.change (mapping_id, record_id, action, old, state)
        VALUES (p_mapping, p_record, 'DELETE', p_old, 'NEW');
        RETURN;
    END IF;

    WITH ignored AS (
        UPDATE sfsync.change
           SET state = 'IGNORED', processed_at = now(), updated_at = now(),
               sf_message = 'the row was deleted locally before it reached Salesforce'
         WHERE mapping_id = p_mapping AND record_id = p_record AND state = 'NEW'
        RETURNING id
    )
    SELECT array_agg(id) INTO v_ignored FROM ignored;
    PERFORM sfsync._archive_finished(v_ignored);
    INSERT INTO sfsync.change_archive (mapping_id, record_id, action, old, state, processed_at, sf_message)
    VALUES (p_mapping, p_record, 'DELETE', p_old, 'IGNORED', now(),
            'the row never reached Salesforce: nothing to delete');
END
$$;
COMMENT ON FUNCTION sfsync._capture_unsynced_delete(bigint, bigint, jsonb) IS
    'sfsync capture helper: decides what a DELETE of a row without sfid means for the queue';

-- This database's instance id (created on first use, so pg_dump/restore keeps it).
CREATE FUNCTION sfsync._instance_id() RETURNS text
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_id text;
BEGIN
    SELECT instance_id INTO v_id FROM sfsync.instance;
    IF v_id IS NULL THEN
        INSERT INTO sfsync.instance (instance_id)
        VALUES (substr(md5(gen_random_uuid()::text), 1, 12))
        ON CONFLICT (singleton) DO NOTHING;
        SELECT instance_id INTO v_id FROM sfsync.instance;
    END IF;
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION sfsync._instance_id() IS
    'sfsync: this database''s instance id; the sidecar writes with Sforce-Call-Options: client=sfsync-<id>';
