-- Status and Heroku Connect's trigger-log views (the reader's bookkeeping is in reader.sql).

-- <schema>._trigger_log and <schema>._trigger_log_archive: read-only views with Heroku Connect's column
-- names over sfsync.change / sfsync.change_archive, for tools written against Heroku Connect.
CREATE FUNCTION sfsync._ensure_trigger_log_views(p_schema text)
    RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_source text;
    v_view text;
BEGIN
    FOR v_source, v_view IN VALUES ('sfsync.change', '_trigger_log'), ('sfsync.change_archive', '_trigger_log_archive') LOOP
        EXECUTE format(
            'CREATE OR REPLACE VIEW %1$I.%2$I WITH (security_barrier) AS
             SELECT c.id, (c.txid::text)::bigint AS txid, c.created_at, c.updated_at, c.processed_at,
                    (c.processed_tx::text)::bigint AS processed_tx, c.state, c.action,
                    m.table_name::varchar(128) AS table_name, c.record_id, c.sfid, c.old, c."values",
                    c.sf_result, c.sf_message
               FROM %3$s c JOIN sfsync.mapping m ON m.id = c.mapping_id
              WHERE m.schema_name = %4$L',
            p_schema, v_view, v_source, p_schema);
        -- owned by sfsync_owner like the schema's tables; admins read it and grant it on
        EXECUTE format('GRANT SELECT ON %I.%I TO sfsync_admin WITH GRANT OPTION', p_schema, v_view);
        EXECUTE format('COMMENT ON VIEW %I.%I IS %L', p_schema, v_view,
                       format('sfsync: Heroku Connect compatible view of %s for the mappings in schema %s', v_source, p_schema));
    END LOOP;
END
$$;
COMMENT ON FUNCTION sfsync._ensure_trigger_log_views(text) IS
    'sfsync: creates a schema''s Heroku Connect compatible _trigger_log and _trigger_log_archive views';

-- Per mapping: the org its schema is bound to, state, row and queue counts, and how far behind it is.
-- A sidecar's session sees only the mappings of its own schema.
--   rows: exact below a million rows, the planner's estimate above;
--   pending: changes queued or in flight; failed: FAILED changes not yet retried or ignored;
--   lag_seconds: age of the oldest change not yet written to Salesforce;
--   drift: what the last finished reconciliation found (total; per kind in drift_kinds);
--   last_reconciled_at: when a reconciliation last finished without error;
--   dependent_fields: mapped fields Salesforce computes from other records or the clock, with what
--     they read (learned by the sidecar), kept fresh unless fresh_formulas is off;
--   formula_api_calls: the Salesforce API calls keeping them fresh has cost.
CREATE FUNCTION sfsync.status()
    RETURNS TABLE (schema text, object_name text, table_name text, access text, state text, state_detail text,
                   rows bigint, pending bigint, failed bigint, last_read_at timestamptz,
                   last_write_at timestamptz, lag_seconds double precision, org_id text,
                   drift bigint, drift_kinds jsonb, last_reconciled_at timestamptz,
                   dependent_fields jsonb, formula_api_calls bigint)
    LANGUAGE plpgsql
    STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    m sfsync.mapping;
    v_table regclass;
    v_rows bigint;
    v_detail text;
    -- a sidecar's session sees its own schema; an admin's, every schema
    v_scope text := sfsync._protocol_scope();
BEGIN
    FOR m IN SELECT * FROM sfsync.mapping mm WHERE v_scope IS NULL OR mm.schema_name = v_scope
              ORDER BY mm.schema_name, mm.object_name LOOP
        v_detail := m.state_detail;
        BEGIN
            v_table := sfsync._mapped_table(m);
        EXCEPTION WHEN insufficient_privilege THEN
            -- never read a relation sfsync did not create: it could run anybody's code as sfsync_owner
            v_table := NULL;
            v_detail := concat_ws('; ', v_detail, 'error: ' || SQLERRM);
        END;
        v_rows := NULL;
        IF v_table IS NOT NULL THEN
            SELECT CASE WHEN reltuples >= 1000000 THEN reltuples::bigint END INTO v_rows FROM pg_class WHERE oid = v_table;
            IF v_rows IS NULL THEN
                EXECUTE format('SELECT count(*) FROM %s', v_table) INTO v_rows;
            END IF;
        END IF;
        IF m.access = 'read_write' AND m.upsert_field IS NULL THEN
            v_detail := concat_ws('; ', v_detail,
                'warning: read-write mapping without an upsert field: an insert retried after a lost response can create a duplicate in Salesforce');
        END IF;
        schema := m.schema_name;
        object_name := m.object_name;
        table_name := m.table_name;
        access := m.access;
        state := m.state;
        state_detail := v_detail;
        rows := v_rows;
        pending := (SELECT count(*) FROM sfsync.change c WHERE c.mapping_id = m.id AND c.state IN ('NEW', 'PENDING'));
        failed := (SELECT count(*) FROM sfsync.change_archive a WHERE a.mapping_id = m.id AND a.state = 'FAILED');
        last_read_at := m.last_read_at;
        last_write_at := m.last_write_at;
        lag_seconds := (SELECT extract(epoch FROM now() - min(c.created_at))::double precision
                          FROM sfsync.change c WHERE c.mapping_id = m.id AND c.state IN ('NEW', 'PENDING'));
        org_id := (SELECT o.org_id FROM sfsync.org o WHERE o.schema_name = m.schema_name);
        SELECT r.found INTO drift_kinds FROM sfsync.reconciliation r
         WHERE r.mapping_id = m.id AND r.finished_at IS NOT NULL AND r.error IS NULL
         ORDER BY r.finished_at DESC LIMIT 1;
        drift := (SELECT sum(v::bigint) FROM jsonb_each_text(drift_kinds) AS k(kind, v));
        last_reconciled_at := m.last_reconciled_at;
        dependent_fields := m.dependencies->'fields';
        formula_api_calls := m.formula_api_calls;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION sfsync.status() IS
    'One row per mapping: schema, object_name, table_name, access, state, state_detail, rows, pending, failed, last_read_at, last_write_at, lag_seconds, org_id (the Salesforce org the schema is bound to), drift (found by the last reconciliation; per kind in drift_kinds), last_reconciled_at, dependent_fields (fields computed from other records, with what they read), formula_api_calls (spent keeping them fresh)';
