-- The reader's side of the protocol (docs/protocol.md, *Reader*): everything the sidecar's reader
-- calls, in one place. Its reading lease and bookkeeping (state, progress, position, reload and
-- back-fill), installing a mapping's table from a describe, applying Salesforce records (conversion,
-- matching by sfid then upsert field, conflicts, deletes, and the staged entry point for bulk loads),
-- and which records the writer is still completing (so CDC echoes are read back after it). Everything
-- that writes mapped tables here runs with sfsync.origin = salesforce, so nothing it writes is
-- captured back (the echo guard).

-- Reading lease and bookkeeping ------------------------------------------------------------------

-- Sidecar: takes or renews the reading lease of a mapping. Returns true when p_owner holds it.
CREATE FUNCTION sfsync._acquire_reader(p_mapping bigint, p_owner text, p_lease_seconds integer DEFAULT 30)
    RETURNS boolean
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    PERFORM sfsync._check_scope(p_mapping);
    UPDATE sfsync.mapping
       SET reader_owner = p_owner, reader_lease_until = now() + make_interval(secs => p_lease_seconds)
     WHERE id = p_mapping
       AND (reader_owner IS NULL OR reader_owner = p_owner OR reader_lease_until < now());
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION sfsync._acquire_reader(bigint, text, integer) IS
    'sfsync (sidecar): takes or renews the lease that makes one sidecar the reader of a mapping';

-- Sidecar: gives a reading lease up (on shutdown), so another sidecar takes over at once.
CREATE FUNCTION sfsync._release_reader(p_mapping bigint, p_owner text)
    RETURNS void
    LANGUAGE sql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT sfsync._check_scope(p_mapping);
    UPDATE sfsync.mapping SET reader_owner = NULL, reader_lease_until = NULL
     WHERE id = p_mapping AND reader_owner = p_owner
$$;
COMMENT ON FUNCTION sfsync._release_reader(bigint, text) IS
    'sfsync (sidecar): gives a mapping''s reading lease up, so another sidecar takes over at once';

-- Sidecar: moves a mapping through its states (NEW → DESCRIBING → LOADING → SYNCED, ERROR, ...).
CREATE FUNCTION sfsync._set_state(p_mapping bigint, p_state text, p_detail text DEFAULT NULL)
    RETURNS void
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    -- a sidecar acts only on the mappings of its own schema
    PERFORM sfsync._check_scope(p_mapping);
    UPDATE sfsync.mapping
       SET state = CASE WHEN state = 'PAUSED' THEN state ELSE p_state END,
           paused_state = CASE WHEN state = 'PAUSED' THEN p_state ELSE paused_state END,
           state_detail = p_detail, updated_at = now()
     WHERE id = p_mapping;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object', MESSAGE = format('no mapping with id %s', p_mapping);
    END IF;
END
$$;
COMMENT ON FUNCTION sfsync._set_state(bigint, text, text) IS 'sfsync (sidecar): sets a mapping''s state and state_detail';

-- Sidecar: initial load / reload progress shown by status().
CREATE FUNCTION sfsync._set_progress(p_mapping bigint, p_expected bigint, p_done bigint)
    RETURNS void
    LANGUAGE sql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT sfsync._check_scope(p_mapping);
    UPDATE sfsync.mapping SET load_expected = p_expected, load_done = p_done, updated_at = now() WHERE id = p_mapping
$$;
COMMENT ON FUNCTION sfsync._set_progress(bigint, bigint, bigint) IS 'sfsync (sidecar): records load progress';

-- Sidecar: stores the reader's position: the high-water mark, the CDC replay id, and how far the
-- getDeleted sweep has covered (NULL keeps a stored value).
CREATE FUNCTION sfsync._set_reader_position(p_mapping bigint, p_hwm timestamptz DEFAULT NULL,
                                            p_replay_id bigint DEFAULT NULL, p_swept_at timestamptz DEFAULT NULL)
    RETURNS void
    LANGUAGE sql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT sfsync._check_scope(p_mapping);
    UPDATE sfsync.mapping
       SET hwm = coalesce(p_hwm, hwm), replay_id = coalesce(p_replay_id, replay_id),
           deleted_swept_at = coalesce(p_swept_at, deleted_swept_at), last_read_at = now()
     WHERE id = p_mapping
$$;
COMMENT ON FUNCTION sfsync._set_reader_position(bigint, timestamptz, bigint, timestamptz) IS
    'sfsync (sidecar): stores the reader''s position (high-water mark, CDC replay id, getDeleted sweep)';

-- Sidecar: a reload has been done. Pass the reload_requested_at the reload started from: a request made
-- during the reload (a later time) is kept. NULL clears any request.
CREATE FUNCTION sfsync._finish_reload(p_mapping bigint, p_requested_at timestamptz DEFAULT NULL)
    RETURNS void
    LANGUAGE sql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT sfsync._check_scope(p_mapping);
    UPDATE sfsync.mapping SET reload_requested = false, updated_at = now()
     WHERE id = p_mapping
       AND (p_requested_at IS NULL OR reload_requested_at IS NULL OR reload_requested_at <= p_requested_at)
$$;
COMMENT ON FUNCTION sfsync._finish_reload(bigint, timestamptz) IS 'sfsync (sidecar): marks a requested reload as done';

-- Sidecar: the given fields have been back-filled (removes them from backfill_fields).
CREATE FUNCTION sfsync._finish_backfill(p_mapping bigint, p_fields text[])
    RETURNS void
    LANGUAGE sql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT sfsync._check_scope(p_mapping);
    UPDATE sfsync.mapping
       SET backfill_fields = ARRAY(SELECT f FROM unnest(backfill_fields) f
                                    WHERE lower(f) <> ALL (ARRAY(SELECT lower(x) FROM unnest(p_fields) x))),
           updated_at = now()
     WHERE id = p_mapping
$$;
COMMENT ON FUNCTION sfsync._finish_backfill(bigint, text[]) IS 'sfsync (sidecar): marks back-filled fields as done';

-- Installing a mapping from a describe ------------------------------------------------------------

-- Creates or alters a mapping's table from a Salesforce describe (the sidecar calls this after
-- describing the object; create_mapping calls it when options.describe is given). Returns the plan.
CREATE FUNCTION sfsync._install_mapping(p_mapping bigint, p_describe jsonb, p_parents jsonb DEFAULT NULL)
    RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET sfsync.origin = 'salesforce'
    -- DDL on a table applications use: wait briefly, never queue behind a long transaction (a SET
    -- clause, so the setting ends with the call instead of leaking into the caller's transaction)
    SET lock_timeout = '5s'
    AS $$
DECLARE
    m sfsync.mapping;
    v_plan jsonb;
    v_table regclass;
    v_column jsonb;
    v_existing text[];
    v_old_columns text[];
    v_new_columns text[];
    v_added text[] := '{}';
    v_name text;
BEGIN
    -- a sidecar acts only on the mappings of its own schema
    PERFORM sfsync._check_scope(p_mapping);
    SELECT * INTO m FROM sfsync.mapping WHERE id = p_mapping FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object', MESSAGE = format('no mapping with id %s', p_mapping);
    END IF;
    IF p_describe IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', MESSAGE = 'describe must not be NULL';
    END IF;
    v_plan := sfsync._column_plan(m.object_name, m.fields, p_describe, m.read_only_fields,
                                  m.upsert_field, m.access = 'read_write', p_parents);
    v_new_columns := ARRAY(SELECT c->>'column' FROM jsonb_array_elements(v_plan->'columns') c);
    v_old_columns := ARRAY(SELECT c->>'column' FROM jsonb_array_elements(coalesce(m.columns, '[]')) c);

    -- two mappings of one new schema may be installed at the same moment
    PERFORM pg_advisory_xact_lock(hashtext('sfsync schema ' || m.schema_name));
    IF m.columns IS NULL THEN
        -- checked again now: the schema or a relation of the table's name may have appeared since
        PERFORM sfsync._check_target(m.schema_name, m.table_name);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = m.schema_name) THEN
        -- owned by sfsync_owner (this function's owner): admins and applications cannot drop or
        -- replace what sfsync acts on
        EXECUTE format('CREATE SCHEMA %I', m.schema_name);
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO sfsync_admin WITH GRANT OPTION', m.schema_name);
    END IF;
    v_table := sfsync._mapped_table(m);

    IF v_table IS NULL THEN
        EXECUTE format('CREATE TABLE %I.%I (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, %s, '
                       '_hc_lastop varchar(32), _hc_err text)',
                       m.schema_name, m.table_name,
                       (SELECT string_agg(format('%I %s', c->>'column', c->>'sql_type'), ', ')
                          FROM jsonb_array_elements(v_plan->'columns') c));
        v_table := format('%I.%I', m.schema_name, m.table_name)::regclass;
        -- admins use the table and grant it to applications; its structure stays sfsync's
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO sfsync_admin WITH GRANT OPTION', v_table);
        EXECUTE format('COMMENT ON TABLE %s IS %L', v_table,
                       format('sfsync: Salesforce %s (%s)', m.object_name, replace(m.access, '_', '-')));
    ELSE
        v_existing := ARRAY(SELECT attname::text FROM pg_attribute
                             WHERE attrelid = v_table AND attnum > 0 AND NOT attisdropped);
        IF m.columns IS NULL AND NOT (v_existing @> ARRAY['id', 'sfid']) THEN
            RAISE EXCEPTION USING ERRCODE = 'duplicate_table',
                MESSAGE = format('table %s already exists and is not an sfsync or Heroku Connect table (it has no id and sfid columns)',
                                 v_table),
                HINT = 'choose another table with options.table, or rename the existing table';
        END IF;
        FOR v_column IN SELECT c FROM jsonb_array_elements(v_plan->'columns') c LOOP
            IF NOT (v_column->>'column') = ANY (v_existing) THEN
                EXECUTE format('ALTER TABLE %s ADD COLUMN %I %s', v_table,
                               v_column->>'column', v_column->>'sql_type');
                IF NOT (v_column->>'system')::boolean THEN
                    v_added := v_added || (v_column->>'field');
                END IF;
            END IF;
        END LOOP;
        FOREACH v_name IN ARRAY v_old_columns LOOP
            IF NOT v_name = ANY (v_new_columns) AND v_name = ANY (v_existing) THEN
                EXECUTE format('ALTER TABLE %s DROP COLUMN %I', v_table, v_name);
            END IF;
        END LOOP;
        IF NOT '_hc_lastop' = ANY (v_existing) THEN
            EXECUTE format('ALTER TABLE %s ADD COLUMN _hc_lastop varchar(32)', v_table);
        END IF;
        IF NOT '_hc_err' = ANY (v_existing) THEN
            EXECUTE format('ALTER TABLE %s ADD COLUMN _hc_err text', v_table);
        END IF;
        IF m.columns IS NULL THEN
            -- an adopted table: admins use it and grant it on, as a table sfsync created
            EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO sfsync_admin WITH GRANT OPTION', v_table);
        END IF;
    END IF;

    EXECUTE format('CREATE UNIQUE INDEX IF NOT EXISTS %I ON %s (sfid)', 'hcu_idx_' || m.table_name || '_sfid', v_table);
    IF (v_plan->>'has_systemmodstamp')::boolean THEN
        EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %s (systemmodstamp)',
                       'hc_idx_' || m.table_name || '_systemmodstamp', v_table);
    END IF;
    IF v_plan->>'upsert_column' IS NOT NULL THEN
        EXECUTE format('CREATE UNIQUE INDEX IF NOT EXISTS %I ON %s (%I)',
                       'hcu_idx_' || m.table_name || '_' || (v_plan->>'upsert_column'),
                       v_table, v_plan->>'upsert_column');
    END IF;

    FOR v_name, v_column IN SELECT key, value FROM jsonb_each(m.indexes) LOOP
        SELECT c->>'column' INTO v_name FROM jsonb_array_elements(v_plan->'columns') c
         WHERE lower(c->>'field') = lower(v_name);
        IF v_name IS NOT NULL AND v_name NOT IN ('sfid', 'systemmodstamp')
           AND v_name IS DISTINCT FROM v_plan->>'upsert_column' THEN
            IF coalesce((v_column->>'unique')::boolean, false) THEN
                EXECUTE format('CREATE UNIQUE INDEX IF NOT EXISTS %I ON %s (%I)',
                               'hcu_idx_' || m.table_name || '_' || v_name, v_table, v_name);
            ELSE
                EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %s (%I)',
                               'hc_idx_' || m.table_name || '_' || v_name, v_table, v_name);
            END IF;
        END IF;
    END LOOP;

    UPDATE sfsync.mapping
       SET describe = p_describe,
           columns = v_plan->'columns',
           upsert_field = v_plan->>'upsert_field',
           state = CASE WHEN state IN ('NEW', 'DESCRIBING') THEN 'LOADING' ELSE state END,
           -- new columns of an already loaded table are filled in by the sidecar
           backfill_fields = CASE WHEN m.columns IS NULL THEN '{}'
                                  ELSE ARRAY(SELECT f FROM unnest(backfill_fields || v_added) WITH ORDINALITY AS u(f, n)
                                              GROUP BY f ORDER BY min(n)) END,
           describe_requested = false,
           table_oid = v_table,
           updated_at = now()
     WHERE id = p_mapping;
    PERFORM sfsync._install_triggers(p_mapping);
    PERFORM sfsync._ensure_trigger_log_views(m.schema_name);
    RETURN v_plan;
END
$$;
COMMENT ON FUNCTION sfsync._install_mapping(bigint, jsonb, jsonb) IS
    'sfsync (sidecar): creates or alters the mapping''s table, indexes and triggers from a Salesforce describe; returns the column plan';

-- Applying Salesforce records ---------------------------------------------------------------------

-- SQL that converts the text expression p_expr (a REST JSON value or a Bulk API CSV cell) to the
-- column type of a Salesforce field type.
CREATE FUNCTION sfsync._conv_sql(p_sf_type text, p_expr text)
    RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT CASE p_sf_type
        WHEN 'boolean' THEN format('(%s)::boolean', p_expr)
        WHEN 'int' THEN format('(%s)::integer', p_expr)
        WHEN 'double' THEN format('(%s)::numeric', p_expr)
        WHEN 'currency' THEN format('(%s)::numeric', p_expr)
        WHEN 'percent' THEN format('(%s)::numeric', p_expr)
        WHEN 'date' THEN format('(%s)::date', p_expr)
        WHEN 'datetime' THEN format('((%s)::timestamptz AT TIME ZONE ''UTC'')', p_expr)
        WHEN 'time' THEN format('(rtrim(%s, ''Z''))::time', p_expr)
        ELSE p_expr
    END
$$;
COMMENT ON FUNCTION sfsync._conv_sql(text, text) IS
    'sfsync: SQL converting a text expression (REST JSON value or Bulk CSV cell) to the column type of a Salesforce field type';

-- This session's staging table of a mapping, checked: sfsync._merge_stage runs as sfsync_owner and
-- reads and deletes from it, so it must be the table _create_stage made (owned by sfsync_owner in this
-- session's temporary schema, no triggers, no rules), never a relation the sidecar's role put under
-- that name. NULL when there is none.
CREATE FUNCTION sfsync._stage_table(p_mapping bigint)
    RETURNS regclass
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_stage regclass := to_regclass('pg_temp.sfsync_stage_' || p_mapping);
BEGIN
    IF v_stage IS NOT NULL AND (sfsync._foreign_relation(v_stage) IS NOT NULL OR NOT EXISTS (
           SELECT 1 FROM pg_class c
            WHERE c.oid = v_stage AND c.relpersistence = 't' AND c.relnamespace = pg_my_temp_schema()
              AND NOT c.relhastriggers AND NOT c.relhasrules)) THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = format('%s is not a staging table made by sfsync._create_stage', v_stage),
            HINT = format('drop it (DROP TABLE %s) and call sfsync._create_stage(%s)', v_stage, p_mapping);
    END IF;
    RETURN v_stage;
END
$$;
COMMENT ON FUNCTION sfsync._stage_table(bigint) IS
    'sfsync: this session''s staging table of a mapping, checked to be the one _create_stage made, or NULL';

-- The staging table of a mapping in this session: one text column per mapped column, in plan order.
-- The sidecar COPYs Salesforce data (Bulk API CSV) into it, then calls sfsync._merge_stage. Returns
-- {"table": ..., "columns": [...], "fields": [...]} (fields: the SOQL names, in the same order).
-- Created as sfsync_owner, which the calling role may only insert into: it can put no trigger or
-- rule on it for _merge_stage to run.
CREATE FUNCTION sfsync._create_stage(p_mapping bigint)
    RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_columns jsonb;
    v_name text := 'sfsync_stage_' || p_mapping;
    v_stage regclass;
    v_wanted text[];
    v_existing text[];
BEGIN
    -- a sidecar acts only on the mappings of its own schema
    PERFORM sfsync._check_scope(p_mapping);
    SELECT columns INTO v_columns FROM sfsync.mapping WHERE id = p_mapping;
    IF v_columns IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('mapping %s does not exist or has no table yet', p_mapping);
    END IF;
    v_stage := sfsync._stage_table(p_mapping);
    v_wanted := ARRAY(SELECT c->>'column' FROM jsonb_array_elements(v_columns) c);
    v_existing := ARRAY(SELECT attname::text FROM pg_attribute
                         WHERE attrelid = v_stage AND attnum > 0 AND NOT attisdropped
                         ORDER BY attnum);
    IF v_existing IS DISTINCT FROM v_wanted THEN
        IF v_stage IS NOT NULL THEN
            EXECUTE format('DROP TABLE %s', v_stage);
        END IF;
        EXECUTE format('CREATE TEMP TABLE %I (%s)', v_name,
                       (SELECT string_agg(format('%I text', c), ', ') FROM unnest(v_wanted) c));
        -- the sidecar fills it (COPY or INSERT); temporary tables are out of other sessions' reach
        EXECUTE format('GRANT INSERT ON pg_temp.%I TO PUBLIC', v_name);
    ELSE
        EXECUTE format('TRUNCATE %s', v_stage);
    END IF;
    RETURN jsonb_build_object('table', 'pg_temp.' || v_name, 'columns', to_jsonb(v_wanted),
                              'fields', (SELECT jsonb_agg(c->'field') FROM jsonb_array_elements(v_columns) c));
END
$$;
COMMENT ON FUNCTION sfsync._create_stage(bigint) IS
    'sfsync (sidecar): creates or empties this session''s staging table for a mapping and returns its columns';

-- Raises an error naming the record and field of the first value that does not convert (or is too
-- long for its column). Called when the set-based conversion failed.
CREATE FUNCTION sfsync._explain_bad_value(p_mapping sfsync.mapping, p_stage text)
    RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_col jsonb;
    v_rec record;
    v_len integer;
BEGIN
    FOR v_col IN SELECT c FROM jsonb_array_elements(p_mapping.columns) c LOOP
        v_len := substring(v_col->>'sql_type' FROM '^varchar\((\d+)\)$')::integer;
        FOR v_rec IN EXECUTE format('SELECT s.sfid, s.%I AS value FROM %s s WHERE s.%I IS NOT NULL',
                                    v_col->>'column', p_stage, v_col->>'column') LOOP
            BEGIN
                EXECUTE 'SELECT ' || sfsync._conv_sql(v_col->>'sf_type', '$1') USING v_rec.value;
            EXCEPTION WHEN others THEN
                RAISE EXCEPTION USING ERRCODE = 'invalid_text_representation',
                    MESSAGE = format('record %s of %s: field %s has a bad %s value %L: %s',
                                     coalesce(v_rec.sfid, '(no Id)'), p_mapping.object_name, v_col->>'field',
                                     v_col->>'sf_type', v_rec.value, SQLERRM);
            END;
            IF v_len IS NOT NULL AND length(v_rec.value) > v_len THEN
                RAISE EXCEPTION USING ERRCODE = 'string_data_right_truncation',
                    MESSAGE = format('record %s of %s: field %s is %s characters long, more than its column %s allows',
                                     coalesce(v_rec.sfid, '(no Id)'), p_mapping.object_name, v_col->>'field',
                                     length(v_rec.value), v_col->>'sql_type');
            END IF;
        END LOOP;
    END LOOP;
END
$$;
COMMENT ON FUNCTION sfsync._explain_bad_value(sfsync.mapping, text) IS
    'sfsync: raises naming the record and field of the first staged value that does not convert';

-- Merges this session's staging table into the mapping's table. p_mode: 'apply' (upsert the staged
-- records), 'reload' (also delete rows whose records were not staged, except rows without sfid, with
-- queued changes, or whose last state came from our own writes: the writer may have created them after
-- the reload's snapshot). Columns of p_absent_fields are left untouched. Records are matched by sfid, then by the upsert field (so a local insert
-- whose sfid has not come back is matched, not duplicated). Deleted records (IsDeleted) remove the
-- row, or mark it with keep_deleted. A row with queued or in-flight local changes is merged field by
-- field under the mapping's conflict policy, and each conflict is logged in sfsync.conflict.
-- p_read_started is when the sidecar began the Salesforce read the staged records came from, on
-- this database's clock: a record whose row was deleted here and whose DELETE reached Salesforce
-- since then is a version from before that delete, and is not inserted again.
-- Returns {"inserted","updated","deleted","conflicts","hwm"}.
CREATE FUNCTION sfsync._merge_stage(p_mapping bigint, p_mode text DEFAULT 'apply', p_absent_fields text[] DEFAULT '{}',
                                    p_read_started timestamptz DEFAULT NULL)
    RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET sfsync.origin = 'salesforce'
    SET TimeZone = 'UTC'
    AS $$
DECLARE
    m sfsync.mapping;
    v_stage text := 'pg_temp.sfsync_stage_' || p_mapping;
    v_target text;
    v_cols text;
    v_conv text;
    v_tcols text;
    v_deleted text := 'false';
    v_stamp text := 'NULL::timestamp';
    v_upsert jsonb;
    v_upsert_match text := 'false';
    v_active text;
    v_not_deleted_since text := 'true';
    v_count bigint;
    v_inserted bigint := 0;
    v_updated bigint := 0;
    v_deleted_rows bigint := 0;
    v_conflicts bigint := 0;
    v_hwm timestamp;
    v_row record;
    v_dupes boolean;
BEGIN
    -- a sidecar acts only on the mappings of its own schema
    PERFORM sfsync._check_scope(p_mapping);
    IF p_mode NOT IN ('apply', 'reload') THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('merge mode must be ''apply'' or ''reload'', not %L', p_mode);
    END IF;
    SELECT * INTO m FROM sfsync.mapping WHERE id = p_mapping;
    IF NOT FOUND OR m.columns IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('mapping %s does not exist or has no table yet', p_mapping);
    END IF;
    IF sfsync._stage_table(p_mapping) IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_table',
            MESSAGE = format('no staging table for mapping %s in this session: call sfsync._create_stage first', p_mapping);
    END IF;
    v_target := sfsync._mapped_table(m);
    IF v_target IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_table',
            MESSAGE = format('the table %I.%I of mapping %s does not exist', m.schema_name, m.table_name, p_mapping);
    END IF;
    -- fields Salesforce did not send (e.g. removed from the object): their columns are left as they are
    m.columns := (SELECT jsonb_agg(c ORDER BY n) FROM jsonb_array_elements(m.columns) WITH ORDINALITY AS x(c, n)
                   WHERE (c->>'system')::boolean
                      OR NOT lower(c->>'field') = ANY (ARRAY(SELECT lower(f) FROM unnest(coalesce(p_absent_fields, '{}')) f)));

    SELECT string_agg(format('%I', c->>'column'), ', '),
           string_agg(sfsync._conv_sql(c->>'sf_type', format('NULLIF(s.%I, '''')', c->>'column')), ', '),
           string_agg(format('t.%I', c->>'column'), ', ')
      INTO v_cols, v_conv, v_tcols
      FROM jsonb_array_elements(m.columns) c;
    IF m.columns @> '[{"column": "isdeleted"}]' THEN
        v_deleted := sfsync._conv_sql('boolean', 'NULLIF(s.isdeleted, '''')') || ' IS TRUE';
    END IF;
    IF m.columns @> '[{"column": "systemmodstamp"}]' THEN
        v_stamp := sfsync._conv_sql('datetime', 'NULLIF(s.systemmodstamp, '''')');
    END IF;
    SELECT c INTO v_upsert FROM jsonb_array_elements(m.columns) c
     WHERE c->>'column' = (SELECT c2->>'column' FROM jsonb_array_elements(m.columns) c2
                            WHERE lower(c2->>'field') = lower(m.upsert_field) AND c2->>'relationship' IS NULL);
    IF v_upsert IS NOT NULL THEN
        v_upsert_match := format('(t.sfid IS NULL AND t.%I = %s)', v_upsert->>'column',
                                 sfsync._conv_sql(v_upsert->>'sf_type', format('NULLIF(s.%I, '''')', v_upsert->>'column')));
    END IF;
    v_active := format('EXISTS (SELECT 1 FROM sfsync.change c WHERE c.mapping_id = %s AND c.record_id = t.id)', m.id);
    IF p_read_started IS NOT NULL THEN
        -- deletes archived since the read began (archived_at is indexed; a DELETE is archived when it completes)
        v_not_deleted_since := format(
            'NOT EXISTS (SELECT 1 FROM sfsync.change_archive a
                          WHERE a.archived_at >= %L::timestamptz AND a.mapping_id = %s AND a.action = ''DELETE''
                            AND a.state IN (''SUCCESS'', ''IGNORED'') AND a.sfid = s.sfid)',
            p_read_started, m.id);
    END IF;

    -- every record needs an Id
    EXECUTE format('SELECT count(*) FROM %s s WHERE NULLIF(s.sfid, '''') IS NULL', v_stage) INTO v_count;
    IF v_count > 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'not_null_violation',
            MESSAGE = format('%s staged %s record(s) have no Id', v_count, m.object_name);
    END IF;

    -- The statements below convert every value as they go. If one fails, the block is rolled back and
    -- _explain_bad_value finds the record and field to name in the error.
    BEGIN
        -- one version per record, the latest (a hashed check first: duplicates are rare)
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s s GROUP BY s.sfid HAVING count(*) > 1)', v_stage) INTO v_dupes;
        IF v_dupes THEN
            EXECUTE format('DELETE FROM %1$s s WHERE s.ctid NOT IN (
                                SELECT DISTINCT ON (s.sfid) s.ctid FROM %1$s s ORDER BY s.sfid, %2$s DESC NULLS LAST, s.ctid DESC)',
                           v_stage, v_stamp);
        END IF;

        -- rows with queued or in-flight local changes: merged field by field under the conflict policy
        FOR v_row IN EXECUTE format(
            'SELECT t.id AS record_id, to_jsonb(t) AS local, to_jsonb(x) AS incoming, %4$s AS deleted
               FROM %1$s s
               JOIN %2$s t ON t.sfid = s.sfid OR %5$s
               CROSS JOIN LATERAL (SELECT %3$s) x
              WHERE %6$s',
            v_stage, v_target,
            (SELECT string_agg(sfsync._conv_sql(c->>'sf_type', format('NULLIF(s.%I, '''')', c->>'column')) || ' AS ' || quote_ident(c->>'column'), ', ')
               FROM jsonb_array_elements(m.columns) c),
            v_deleted, v_upsert_match, v_active)
        LOOP
            v_conflicts := v_conflicts + sfsync._merge_protected_row(m, v_target::regclass, v_row.record_id, v_row.local,
                                                                     v_row.incoming, v_row.deleted);
            v_updated := v_updated + 1;
        END LOOP;

        -- deleted in Salesforce
        IF v_deleted <> 'false' AND NOT m.keep_deleted THEN
            EXECUTE format('DELETE FROM %s t USING %s s WHERE t.sfid = s.sfid AND %s AND NOT %s',
                           v_target, v_stage, v_deleted, v_active);
            GET DIAGNOSTICS v_count = ROW_COUNT;
            v_deleted_rows := v_deleted_rows + v_count;
        END IF;

        -- matched by sfid: update when something differs (and never with an older version)
        EXECUTE format(
            'UPDATE %1$s t SET (%3$s, _hc_lastop, _hc_err) = (%4$s, ''SYNCED'', NULL)
               FROM %2$s s
              WHERE t.sfid = s.sfid AND NOT %5$s AND (%6$s OR NOT (%7$s))
                AND (t.systemmodstamp IS NULL OR %8$s IS NULL OR %8$s >= t.systemmodstamp)
                AND ((%9$s) IS DISTINCT FROM (%4$s) OR t._hc_lastop IS DISTINCT FROM ''SYNCED'' OR t._hc_err IS NOT NULL)',
            v_target, v_stage, v_cols, v_conv, v_active, m.keep_deleted::text, v_deleted,
            CASE WHEN v_stamp LIKE 'NULL%' THEN 'NULL::timestamp' ELSE v_stamp END, v_tcols);
        GET DIAGNOSTICS v_count = ROW_COUNT;
        v_updated := v_updated + v_count;

        -- matched by the upsert field: a local row whose insert reached Salesforce but whose sfid has not
        -- come back (and which has no queued change any more)
        IF v_upsert IS NOT NULL THEN
            EXECUTE format(
                'UPDATE %1$s t SET (%3$s, _hc_lastop, _hc_err) = (%4$s, ''SYNCED'', NULL)
                   FROM %2$s s
                  WHERE %5$s AND NOT %6$s AND (%7$s OR NOT (%8$s))
                    AND NOT EXISTS (SELECT 1 FROM %1$s t2 WHERE t2.sfid = s.sfid)',
                v_target, v_stage, v_cols, v_conv, v_upsert_match, v_active, m.keep_deleted::text, v_deleted);
            GET DIAGNOSTICS v_count = ROW_COUNT;
            v_updated := v_updated + v_count;
        END IF;

        -- new records (anti-joins, each of which can be hashed); not a record whose row was deleted
        -- locally and whose DELETE is still queued or in flight, or reached Salesforce after the read
        -- began: a version read from before the delete would bring the row back until the delete
        -- itself was read in turn
        EXECUTE format(
            'INSERT INTO %1$s (%3$s, _hc_lastop)
             SELECT %4$s, ''SYNCED'' FROM %2$s s
              WHERE NOT EXISTS (SELECT 1 FROM %1$s t WHERE t.sfid = s.sfid)
                AND NOT EXISTS (SELECT 1 FROM %1$s t WHERE %5$s)
                AND NOT EXISTS (SELECT 1 FROM sfsync.change c
                                 WHERE c.mapping_id = %8$s AND c.action = ''DELETE'' AND c.sfid = s.sfid)
                AND %9$s
                AND (%6$s OR NOT (%7$s))',
            v_target, v_stage, v_cols, v_conv, v_upsert_match, m.keep_deleted::text, v_deleted, m.id,
            v_not_deleted_since);
        GET DIAGNOSTICS v_inserted = ROW_COUNT;
    EXCEPTION WHEN data_exception THEN
        PERFORM sfsync._explain_bad_value(m, v_stage);
        RAISE;
    END;

    IF p_mode = 'reload' THEN
        EXECUTE format(
            'DELETE FROM %1$s t WHERE t.sfid IS NOT NULL AND NOT %3$s
                AND coalesce(t._hc_lastop, ''SYNCED'') = ''SYNCED''
                AND NOT EXISTS (SELECT 1 FROM %2$s s WHERE s.sfid = t.sfid)',
            v_target, v_stage, v_active);
        GET DIAGNOSTICS v_count = ROW_COUNT;
        v_deleted_rows := v_deleted_rows + v_count;
    END IF;

    IF v_conflicts > 0 THEN
        PERFORM sfsync._archive_finished();
    END IF;
    EXECUTE format('SELECT max(%s) FROM %s s', v_stamp, v_stage) INTO v_hwm;
    UPDATE sfsync.mapping
       SET hwm = greatest(hwm, v_hwm AT TIME ZONE 'UTC'), last_read_at = now()
     WHERE id = m.id;
    RETURN jsonb_build_object('inserted', v_inserted, 'updated', v_updated, 'deleted', v_deleted_rows,
                              'conflicts', v_conflicts, 'hwm', v_hwm AT TIME ZONE 'UTC');
END
$$;
COMMENT ON FUNCTION sfsync._merge_stage(bigint, text, text[], timestamptz) IS
    'sfsync (sidecar): merges the session''s staging table into the mapping''s table (apply or reload)';

-- One incoming record for a row that has queued or in-flight local changes. For each mapped field
-- the local changes touch: an incoming value equal to the local one, or equal to the value before the
-- local change (Salesforce has not seen it yet, e.g. the read-back of our own earlier write), is no
-- conflict; anything else is a conflict, resolved by the mapping's policy and logged. Fields the local
-- changes do not touch take the incoming value. Only the mapping's own columns are written: a
-- column users added (a generated one, say) keeps what it has. Returns the number of conflicts.
CREATE FUNCTION sfsync._merge_protected_row(p_mapping sfsync.mapping, p_table regclass, p_record bigint,
                                            p_local jsonb, p_incoming jsonb, p_deleted boolean)
    RETURNS integer
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_col jsonb;
    v_name text;
    v_new jsonb := p_local;
    v_in jsonb;
    v_pending jsonb;
    v_base jsonb;
    v_first_action text;
    v_change_id bigint;
    v_conflicts integer := 0;
BEGIN
    IF p_deleted AND NOT p_mapping.keep_deleted THEN
        -- deleted in Salesforce: the row goes; queued changes to it can no longer be sent
        INSERT INTO sfsync.conflict (mapping_id, record_id, sfid, field, column_name, local_value, incoming_value,
                                     policy, change_id)
        SELECT p_mapping.id, p_record, p_incoming->>'sfid', 'IsDeleted', 'isdeleted', 'false', 'true',
               'deleted_in_salesforce', min(c.id)
          FROM sfsync.change c WHERE c.mapping_id = p_mapping.id AND c.record_id = p_record;
        UPDATE sfsync.change SET state = 'IGNORED', processed_at = now(), updated_at = now(),
                                 sf_message = 'the record was deleted in Salesforce'
         WHERE mapping_id = p_mapping.id AND record_id = p_record AND state = 'NEW';
        EXECUTE format('DELETE FROM %s WHERE id = $1', p_table) USING p_record;
        RETURN 1;
    END IF;

    FOR v_col IN SELECT c FROM jsonb_array_elements(p_mapping.columns) c LOOP
        v_name := v_col->>'column';
        CONTINUE WHEN NOT p_incoming ? v_name;   -- a field Salesforce did not send
        v_in := coalesce(p_incoming->v_name, 'null');
        IF (v_col->>'system')::boolean THEN
            v_new := jsonb_set(v_new, ARRAY[v_name], CASE WHEN v_name = 'sfid' THEN coalesce(NULLIF(p_local->'sfid', 'null'), v_in) ELSE v_in END);
            CONTINUE;
        END IF;
        SELECT c."values"->v_name INTO v_pending FROM sfsync.change c
         WHERE c.mapping_id = p_mapping.id AND c.record_id = p_record AND c."values" ? v_name
         ORDER BY c.id DESC LIMIT 1;
        IF NOT FOUND THEN
            v_new := jsonb_set(v_new, ARRAY[v_name], v_in);
            CONTINUE;
        END IF;
        SELECT c.old->v_name, c.action, c.id INTO v_base, v_first_action, v_change_id FROM sfsync.change c
         WHERE c.mapping_id = p_mapping.id AND c.record_id = p_record AND c."values" ? v_name
         ORDER BY c.id LIMIT 1;
        IF v_in = v_pending OR (v_first_action = 'UPDATE' AND v_in = coalesce(v_base, 'null')) THEN
            CONTINUE;
        END IF;
        v_conflicts := v_conflicts + 1;
        -- the same Salesforce version read again (polls overlap) is the same conflict, logged once
        INSERT INTO sfsync.conflict (mapping_id, record_id, sfid, field, column_name, local_value, incoming_value,
                                     policy, change_id)
        SELECT p_mapping.id, p_record, coalesce(p_local->>'sfid', p_incoming->>'sfid'), v_col->>'field', v_name,
               v_pending, v_in, p_mapping.conflict, v_change_id
         WHERE NOT EXISTS (SELECT 1 FROM sfsync.conflict k
                            WHERE k.mapping_id = p_mapping.id AND k.record_id = p_record AND k.column_name = v_name
                              AND k.change_id IS NOT DISTINCT FROM v_change_id AND k.incoming_value = v_in
                              AND k.local_value IS NOT DISTINCT FROM v_pending);
        IF p_mapping.conflict = 'salesforce_wins' THEN
            v_new := jsonb_set(v_new, ARRAY[v_name], v_in);
            UPDATE sfsync.change SET "values" = "values" - v_name, updated_at = now()
             WHERE mapping_id = p_mapping.id AND record_id = p_record AND state = 'NEW' AND "values" ? v_name;
        END IF;
    END LOOP;

    -- a queued update left with nothing to send is folded into Salesforce's version
    UPDATE sfsync.change SET state = 'MERGED', processed_at = now(), updated_at = now(),
                             sf_message = 'superseded by the Salesforce value (conflict policy salesforce_wins)'
     WHERE mapping_id = p_mapping.id AND record_id = p_record AND state = 'NEW'
       AND action = 'UPDATE' AND "values" = '{}';
    v_new := jsonb_set(v_new, '{_hc_lastop}',
                       CASE WHEN EXISTS (SELECT 1 FROM sfsync.change c WHERE c.mapping_id = p_mapping.id
                                            AND c.record_id = p_record AND c.state IN ('NEW', 'PENDING'))
                            THEN '"PENDING"'::jsonb ELSE '"SYNCED"'::jsonb END);
    EXECUTE format('UPDATE %1$s t SET (%2$s) = (SELECT %2$s FROM jsonb_populate_record(NULL::%1$s, $1)) WHERE t.id = $2',
                   p_table,
                   (SELECT string_agg(quote_ident(c->>'column'), ', ')
                      FROM jsonb_array_elements(p_mapping.columns || '[{"column": "_hc_lastop"}]') c
                     WHERE c->>'column' <> 'id'))
      USING v_new, p_record;
    RETURN v_conflicts;
END
$$;
COMMENT ON FUNCTION sfsync._merge_protected_row(sfsync.mapping, regclass, bigint, jsonb, jsonb, boolean) IS
    'sfsync: merges one incoming record into a row with queued or in-flight changes, field by field under the conflict policy';

-- Applies records as the REST API returns them (query/queryAll, Collections retrieve): a JSON array
-- of objects with "Id" and the mapped fields (relationship fields nested, e.g. "Account": {"Ext_Id__c": ..}).
-- p_read_started: when the read began, as for sfsync._merge_stage.
CREATE FUNCTION sfsync._apply_records(p_mapping bigint, p_records jsonb, p_mode text DEFAULT 'apply',
                                      p_absent_fields text[] DEFAULT NULL,
                                      p_read_started timestamptz DEFAULT NULL)
    RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET sfsync.origin = 'salesforce'
    AS $$
DECLARE
    v_columns jsonb;
    v_stage jsonb;
    v_bad text;
BEGIN
    -- a sidecar acts only on the mappings of its own schema
    PERFORM sfsync._check_scope(p_mapping);
    IF jsonb_typeof(p_records) IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('records must be a JSON array, not %s', coalesce(jsonb_typeof(p_records), 'NULL'));
    END IF;
    SELECT string_agg(ord::text, ', ') INTO v_bad FROM jsonb_array_elements(p_records) WITH ORDINALITY AS r(rec, ord)
     WHERE jsonb_typeof(rec) <> 'object' OR jsonb_typeof(rec->'Id') IS DISTINCT FROM 'string';
    IF v_bad IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('records at positions %s are not objects with a string "Id"', v_bad);
    END IF;
    SELECT columns INTO v_columns FROM sfsync.mapping WHERE id = p_mapping;
    IF v_columns IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('mapping %s does not exist or has no table yet', p_mapping);
    END IF;
    v_stage := sfsync._create_stage(p_mapping);
    EXECUTE format('INSERT INTO %s (%s) SELECT %s FROM jsonb_array_elements($1) r',
                   v_stage->>'table',
                   (SELECT string_agg(quote_ident(c->>'column'), ', ') FROM jsonb_array_elements(v_columns) c),
                   (SELECT string_agg(format('r #>> %L', (SELECT array_agg(p) FROM jsonb_array_elements_text(c->'path') p)), ', ')
                      FROM jsonb_array_elements(v_columns) c))
      USING p_records;
    -- fields no record carries at all were not queried (e.g. removed in Salesforce): leave them alone
    IF p_absent_fields IS NULL THEN
        p_absent_fields := ARRAY(
            SELECT c->>'field' FROM jsonb_array_elements(v_columns) c
             WHERE NOT (c->>'system')::boolean
               AND jsonb_array_length(p_records) > 0
               AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(p_records) r WHERE r ? (c->'path'->>0)));
    END IF;
    RETURN sfsync._merge_stage(p_mapping, p_mode, p_absent_fields, p_read_started);
END
$$;
COMMENT ON FUNCTION sfsync._apply_records(bigint, jsonb, text, text[], timestamptz) IS
    'sfsync (sidecar): applies Salesforce records (REST JSON) to the mapping''s table, with the same rules as a staged load';

-- Records deleted in Salesforce (getDeleted, CDC DELETE events, records that left the filter).
-- Rows go, or are marked isdeleted with keep_deleted (p_hard forces removal: e.g. left the filter).
CREATE FUNCTION sfsync._delete_records(p_mapping bigint, p_sfids text[], p_hard boolean DEFAULT false)
    RETURNS bigint
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET sfsync.origin = 'salesforce'
    AS $$
DECLARE
    m sfsync.mapping;
    v_table regclass;
    v_count bigint;
BEGIN
    -- a sidecar acts only on the mappings of its own schema
    PERFORM sfsync._check_scope(p_mapping);
    SELECT * INTO m FROM sfsync.mapping WHERE id = p_mapping;
    IF NOT FOUND OR m.columns IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('mapping %s does not exist or has no table yet', p_mapping);
    END IF;
    v_table := sfsync._mapped_table(m);
    IF v_table IS NULL THEN
        RETURN 0;
    END IF;
    EXECUTE format(
        'UPDATE sfsync.change c SET state = ''IGNORED'', processed_at = now(), updated_at = now(),
                sf_message = ''the record was deleted in Salesforce''
           FROM %s t WHERE t.sfid = ANY ($1) AND c.mapping_id = %s AND c.record_id = t.id AND c.state = ''NEW''',
        v_table, m.id) USING p_sfids;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    IF v_count > 0 THEN
        PERFORM sfsync._archive_finished();
    END IF;
    IF m.keep_deleted AND NOT p_hard AND m.columns @> '[{"column": "isdeleted"}]' THEN
        EXECUTE format('UPDATE %s SET isdeleted = true, _hc_lastop = ''SYNCED'' WHERE sfid = ANY ($1) AND isdeleted IS NOT TRUE',
                       v_table) USING p_sfids;
    ELSE
        EXECUTE format('DELETE FROM %s WHERE sfid = ANY ($1)', v_table) USING p_sfids;
    END IF;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    UPDATE sfsync.mapping SET last_read_at = now() WHERE id = m.id;
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION sfsync._delete_records(bigint, text[], boolean) IS
    'sfsync (sidecar): removes rows whose records were deleted in Salesforce (or marks them with keep_deleted)';

-- Echoes of the writer's own changes --------------------------------------------------------------

-- Which of p_sfids of a mapping the writer may still be completing: records with a claimed change,
-- or NULL among them while an insert without an sfid is in flight (its record's id is not known yet).
CREATE FUNCTION sfsync._in_flight(p_mapping bigint, p_sfids text[])
    RETURNS SETOF text
    LANGUAGE plpgsql
    STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    PERFORM sfsync._check_scope(p_mapping);
    RETURN QUERY
        SELECT DISTINCT c.sfid::text FROM sfsync.change c
         WHERE c.mapping_id = p_mapping AND c.state = 'PENDING'
           AND (c.sfid = ANY (p_sfids) OR (c.sfid IS NULL AND c.action = 'INSERT'));
END
$$;
COMMENT ON FUNCTION sfsync._in_flight(bigint, text[]) IS
    'sfsync (sidecar): which records of a mapping have a change being written right now';
