-- sfsync 0.1.0 → 0.2.0 (`ALTER EXTENSION sfsync UPDATE`).
--
-- Every change to the extension's SQL made during the 0.2.0 cycle lands here as well as in the
-- sources under sql/ and src/: the upgrade test (tests/tests/upgrade.rs) installs 0.1.0, upgrades it
-- and compares the catalogs with a fresh 0.2.0 install, so a change missing here fails it.
-- sql/sfsync--0.1.0.sql is the frozen install script of 0.1.0 and is never edited.

\echo Use "ALTER EXTENSION sfsync UPDATE" to load this file. \quit

-- ============================================================================================
-- Security (issue 16): sfsync's definer code runs as the NOLOGIN role sfsync_owner instead of the
-- installing superuser, acts only on relations it created or adopted (checked by oid, owner and
-- kind), keeps sfid and row ids out of applications' reach, records results one by one when the
-- database refuses one, and refuses bad input where it is given. The ownership changes are at the
-- end of this script (they must see every function).

DO $roles$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'sfsync_owner') THEN
        BEGIN
            CREATE ROLE sfsync_owner NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
    END IF;
END
$roles$;
COMMENT ON ROLE sfsync_owner IS 'sfsync: owns sfsync''s catalog and the mapped tables; its SECURITY DEFINER functions run as it (never grant it to anyone)';

ALTER TABLE sfsync.mapping ADD COLUMN table_oid oid;

-- One mapping per object and schema whatever the case of the name: 0.1.0 let `Account` and
-- `ACCOUNT` both be mapped; such a pair must be resolved before upgrading.
DO $duplicates$
DECLARE
    v_pairs text;
BEGIN
    SELECT string_agg(format('%s in schema %s', names, schema_name), '; ') INTO v_pairs
      FROM (SELECT schema_name, string_agg(quote_literal(object_name), ' and ' ORDER BY id) AS names
              FROM sfsync.mapping GROUP BY schema_name, lower(object_name) HAVING count(*) > 1) d;
    IF v_pairs IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'unique_violation',
            MESSAGE = format('sfsync 0.2.0 maps an object once per schema, whatever the case of its name, but these mappings map the same object: %s', v_pairs),
            HINT = 'drop one of each pair with sfsync.drop_mapping, then run ALTER EXTENSION sfsync UPDATE again';
    END IF;
END
$duplicates$;
CREATE UNIQUE INDEX mapping_object_name_idx ON sfsync.mapping (schema_name, lower(object_name));

-- New signatures: the mapped table is passed checked, as a regclass.
DROP FUNCTION sfsync._drop_triggers(text, text, text[]);
DROP FUNCTION sfsync._merge_protected_row(sfsync.mapping, bigint, jsonb, jsonb, boolean);

-- Why sfsync must not act on a relation, or NULL when it may: sfsync acts only on ordinary tables
-- owned by sfsync_owner (those it created, or that a superuser handed over to it), never on a view,
-- or on a table of a role that could put code of its own on the path of sfsync's functions.
CREATE OR REPLACE FUNCTION sfsync._foreign_relation(p_relation regclass)
    RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT CASE
               WHEN c.relkind <> 'r' THEN
                   format('it is a %s, not a table',
                          CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view'
                                         WHEN 'f' THEN 'foreign table' WHEN 'p' THEN 'partitioned table'
                                         ELSE 'relation of kind ' || c.relkind::text END)
               WHEN c.relowner <> (SELECT r.oid FROM pg_roles r WHERE r.rolname = 'sfsync_owner') THEN
                   format('it is owned by %s, not by sfsync_owner', pg_get_userbyid(c.relowner))
           END
      FROM pg_class c
     WHERE c.oid = p_relation
$$;
COMMENT ON FUNCTION sfsync._foreign_relation(regclass) IS
    'sfsync: why sfsync must not act on a relation (not an ordinary table owned by sfsync_owner), or NULL';

-- The mapped table of a mapping, checked (by oid, owner and kind, never trusted by name): the
-- relation its schema and table name resolve to must pass sfsync._foreign_relation and be the one
-- recorded when sfsync installed it (table_oid), unless that one is gone (after a dump and restore
-- oids change: the owner check alone decides). Anything else, such as a view put in the table's place, raises
-- insufficient_privilege, or with p_strict false gives NULL (for the queue's hot paths, which then
-- leave the table alone). NULL when nothing has the name (not installed yet, or dropped by hand).
CREATE OR REPLACE FUNCTION sfsync._mapped_table(p_mapping sfsync.mapping, p_strict boolean DEFAULT true)
    RETURNS regclass
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_table regclass := to_regclass(format('%I.%I', p_mapping.schema_name, p_mapping.table_name));
    v_problem text;
BEGIN
    IF v_table IS NULL THEN
        RETURN NULL;
    END IF;
    v_problem := sfsync._foreign_relation(v_table);
    -- the table sfsync installed still exists under another name (renamed, and something else took
    -- its name); after a restore the recorded oid may name an unrelated relation, which is no reason
    -- to refuse: only a table carrying this mapping's capture trigger counts
    IF v_problem IS NULL AND p_mapping.table_oid IS NOT NULL AND p_mapping.table_oid <> v_table
       AND EXISTS (SELECT 1 FROM pg_trigger t
                    WHERE t.tgrelid = p_mapping.table_oid AND t.tgname = 'sfsync_capture'
                      AND split_part(encode(t.tgargs, 'escape'), '\000', 1) = p_mapping.id::text) THEN
        v_problem := format('the table sfsync installed is now %s', p_mapping.table_oid::regclass);
    END IF;
    IF v_problem IS NOT NULL AND NOT p_strict THEN
        RETURN NULL;
    ELSIF v_problem IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = format('%s is not the table of the %s mapping: %s', v_table, p_mapping.object_name, v_problem),
            HINT = 'sfsync acts only on the tables it created or adopted (tables owned by sfsync_owner)';
    END IF;
    RETURN v_table;
END
$$;
COMMENT ON FUNCTION sfsync._mapped_table(sfsync.mapping, boolean) IS
    'sfsync: the mapping''s table, checked by oid, owner and kind; raises (or NULL when not strict) for anything else';

-- Refuses, when a mapping is created, a schema or table sfsync must not or could not use: Postgres'
-- and sfsync's own schemas, the names of sfsync's views, an existing relation sfsync may not adopt
-- (see sfsync._foreign_relation), and a schema where sfsync_owner may not create the table.
CREATE OR REPLACE FUNCTION sfsync._check_target(p_schema text, p_table text)
    RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_relation regclass;
    v_problem text;
BEGIN
    IF p_schema IN ('sfsync', 'information_schema') OR p_schema LIKE 'pg\_%' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('schema %L is reserved; mapped tables need their own schema', p_schema);
    END IF;
    IF p_table IN ('_trigger_log', '_trigger_log_archive') THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('table name %L is taken by sfsync''s view of the queue in every mapped schema', p_table),
            HINT = 'choose another table with options.table';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_namespace n WHERE n.nspname = p_schema) THEN
        RETURN;   -- sfsync creates it
    END IF;
    IF NOT has_schema_privilege('sfsync_owner', p_schema, 'USAGE') THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = format('sfsync may not use schema %I', p_schema),
            HINT = format('map into a schema sfsync creates (a new name), or a superuser runs GRANT USAGE, CREATE ON SCHEMA %I TO sfsync_owner', p_schema);
    END IF;
    v_relation := to_regclass(format('%I.%I', p_schema, p_table));
    IF v_relation IS NOT NULL THEN
        v_problem := sfsync._foreign_relation(v_relation);
        IF v_problem IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
                MESSAGE = format('%s already exists and sfsync may not adopt it: %s', v_relation, v_problem),
                HINT = format('choose another table with options.table; to hand a Heroku Connect table over to sfsync, a superuser runs ALTER TABLE %s OWNER TO sfsync_owner', v_relation);
        END IF;
    ELSIF NOT has_schema_privilege('sfsync_owner', p_schema, 'CREATE') THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = format('sfsync may not create tables in schema %I', p_schema),
            HINT = format('map into a schema sfsync creates (a new name), or a superuser runs GRANT USAGE, CREATE ON SCHEMA %I TO sfsync_owner', p_schema);
    END IF;
END
$$;
COMMENT ON FUNCTION sfsync._check_target(text, text) IS
    'sfsync: refuses at create_mapping a schema or table sfsync must not or could not use';

-- Validates options.indexes: {"<Field>": {"unique": true|false}, ...} naming mapped fields.
CREATE OR REPLACE FUNCTION sfsync._check_indexes(p_indexes jsonb, p_fields text[])
    RETURNS jsonb
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_field text;
    v_index jsonb;
BEGIN
    IF p_indexes IS NULL THEN
        RETURN '{}';
    END IF;
    IF jsonb_typeof(p_indexes) <> 'object' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('option indexes must be a JSON object like {"Email": {"unique": false}}, not %s', p_indexes);
    END IF;
    FOR v_field, v_index IN SELECT key, value FROM jsonb_each(p_indexes) LOOP
        IF NOT lower(v_field) = ANY (ARRAY(SELECT lower(f) FROM unnest(p_fields) f)) THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('option indexes names %L, which is not in the field list', v_field);
        END IF;
        PERFORM sfsync._check_options(v_index, '{"unique": "boolean"}', format('option indexes.%s', v_field));
        IF jsonb_typeof(v_index->'unique') = 'null' THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('option indexes.%s key "unique" must be true or false, not null', v_field);
        END IF;
    END LOOP;
    RETURN p_indexes;
END
$$;
COMMENT ON FUNCTION sfsync._check_indexes(jsonb, text[]) IS
    'sfsync: validates options.indexes ({"Field": {"unique": bool}} naming mapped fields)';

-- Drops the named triggers of a mapped table where they exist.
CREATE OR REPLACE FUNCTION sfsync._drop_triggers(p_table regclass, p_triggers text[])
    RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_trigger text;
BEGIN
    FOR v_trigger IN SELECT t.tgname FROM pg_trigger t
                      WHERE t.tgrelid = p_table AND t.tgname = ANY (p_triggers) LOOP
        EXECUTE format('DROP TRIGGER %I ON %s', v_trigger, p_table);
    END LOOP;
END
$$;
COMMENT ON FUNCTION sfsync._drop_triggers(regclass, text[]) IS
    'sfsync: drops the named triggers of a mapped table where they exist';

-- (Re)creates the capture triggers of a mapping with a new configuration version, so every backend's
-- trigger cache reloads the column plan.
CREATE OR REPLACE FUNCTION sfsync._install_triggers(p_mapping bigint)
    RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    m sfsync.mapping;
    v_table regclass;
BEGIN
    UPDATE sfsync.mapping SET config_version = config_version + 1, updated_at = now()
     WHERE id = p_mapping RETURNING * INTO m;
    v_table := sfsync._mapped_table(m);
    IF m.access = 'read_write' THEN
        -- one trigger queues each write: updates in the BEFORE trigger that marks the row PENDING
        -- (its third argument), inserts and deletes after the row is written (src/capture)
        EXECUTE format('CREATE OR REPLACE TRIGGER sfsync_capture AFTER INSERT OR DELETE ON %s '
                       'FOR EACH ROW EXECUTE FUNCTION sfsync._capture(%L, %L)',
                       v_table, m.id, m.config_version);
        EXECUTE format('CREATE OR REPLACE TRIGGER sfsync_status BEFORE INSERT OR UPDATE ON %s '
                       'FOR EACH ROW EXECUTE FUNCTION sfsync._mark_pending(%L, %L, %L)',
                       v_table, m.id, m.config_version, 'capture_updates');
        EXECUTE format('CREATE OR REPLACE TRIGGER sfsync_truncate BEFORE TRUNCATE ON %s '
                       'FOR EACH STATEMENT EXECUTE FUNCTION sfsync._refuse_truncate()', v_table);
    ELSE
        EXECUTE format('CREATE OR REPLACE TRIGGER sfsync_capture AFTER INSERT OR UPDATE OR DELETE ON %s '
                       'FOR EACH ROW EXECUTE FUNCTION sfsync._capture(%L, %L)',
                       v_table, m.id, m.config_version);
        PERFORM sfsync._drop_triggers(v_table, ARRAY['sfsync_status', 'sfsync_truncate']);
    END IF;
END
$$;
COMMENT ON FUNCTION sfsync._install_triggers(bigint) IS
    'sfsync: (re)creates a mapping''s capture triggers with a new configuration version';

-- This session's staging table of a mapping, checked: sfsync._merge_stage runs as sfsync_owner and
-- reads and deletes from it, so it must be the table _create_stage made (owned by sfsync_owner in this
-- session's temporary schema, no triggers, no rules), never a relation the sidecar's role put under
-- that name. NULL when there is none.
CREATE OR REPLACE FUNCTION sfsync._stage_table(p_mapping bigint)
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

-- Writes the results of one mapping's claimed changes into its table: the sfid of inserts,
-- _hc_lastop and _hc_err (the part of _complete_changes that touches the mapped table).
CREATE OR REPLACE FUNCTION sfsync._record_results(p_mapping sfsync.mapping, p_table regclass, p_results sfsync._result[])
    RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    -- rows are locked in id order, the order application transactions are most likely to use too
    EXECUTE format('SELECT 1 FROM %s t WHERE t.id = ANY ($1) ORDER BY t.id FOR UPDATE', p_table)
      USING ARRAY(SELECT s.record_id FROM unnest(p_results) s);
    -- without an upsert field the reader may already have stored our insert as a row of its own:
    -- that copy goes, the application's row keeps its id
    EXECUTE format(
        'DELETE FROM %1$s t USING unnest($1) s
          WHERE s.mapping_id = %2$s AND s.outcome = ''SUCCESS'' AND s.sfid IS NOT NULL
            AND t.sfid = s.sfid AND t.id <> s.record_id
            AND NOT EXISTS (SELECT 1 FROM sfsync.change c WHERE c.mapping_id = %2$s AND c.record_id = t.id)',
        p_table, p_mapping.id) USING p_results;
    EXECUTE format(
        'UPDATE %1$s t
            SET sfid = coalesce(o.sfid, t.sfid),
                _hc_lastop = CASE WHEN o.lastop <> ''FAILED'' AND EXISTS (
                                      SELECT 1 FROM sfsync.change c
                                       WHERE c.mapping_id = %2$s AND c.record_id = t.id
                                         AND c.state IN (''NEW'', ''PENDING'')) THEN ''PENDING''
                                  -- an update of a row whose insert failed created the record
                                  WHEN o.lastop = ''UPDATED'' AND t.sfid IS NULL AND o.sfid IS NOT NULL
                                       THEN ''INSERTED''
                                  ELSE o.lastop END,
                _hc_err = o.err
           FROM (SELECT s.record_id,
                        max(s.sfid) FILTER (WHERE s.outcome = ''SUCCESS'') AS sfid,
                        CASE WHEN bool_or(s.outcome = ''FAILED'') THEN ''FAILED''
                             WHEN bool_or(s.action = ''INSERT'') THEN ''INSERTED''
                             ELSE ''UPDATED'' END AS lastop,
                        (array_agg(jsonb_build_object(
                                       ''code'', coalesce(s.error->>''code'', ''UNKNOWN_ERROR''),
                                       ''message'', coalesce(s.error->>''message'', ''''),
                                       ''fields'', coalesce(s.error->''fields'', ''[]''),
                                       ''at'', now())::text ORDER BY s.id DESC)
                            FILTER (WHERE s.outcome = ''FAILED''))[1] AS err
                   FROM unnest($1) s
                  WHERE s.outcome IN (''SUCCESS'', ''FAILED'')
                  GROUP BY s.record_id) o
          WHERE t.id = o.record_id',
        p_table, p_mapping.id) USING p_results;
END
$$;
COMMENT ON FUNCTION sfsync._record_results(sfsync.mapping, regclass, sfsync._result[]) IS
    'sfsync: writes claimed changes'' results into the mapped table (sfid, _hc_lastop, _hc_err)';

-- _record_results for the results of one record, on its own: when the database refuses them, the
-- record's changes end FAILED with the database's error (Salesforce's answer is kept in sf_error) and
-- the row is marked FAILED where that can still be written.
CREATE OR REPLACE FUNCTION sfsync._record_results_of(p_mapping sfsync.mapping, p_table regclass, p_results sfsync._result[])
    RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_error jsonb;
BEGIN
    PERFORM sfsync._record_results(p_mapping, p_table, p_results);
EXCEPTION
    WHEN serialization_failure OR deadlock_detected OR lock_not_available THEN
        RAISE;
    WHEN OTHERS THEN
        v_error := jsonb_build_object('code', 'SFSYNC_DATABASE_ERROR', 'sqlstate', SQLSTATE,
                                      'message', format('recording Salesforce''s answer in %s failed: %s', p_table, SQLERRM),
                                      'fields', '[]'::jsonb);
        UPDATE sfsync.change c
           SET state = 'FAILED', sf_result = 'SFSYNC_DATABASE_ERROR', sf_message = v_error->>'message',
               sf_error = v_error || jsonb_build_object('salesforce', jsonb_build_object('outcome', s.outcome, 'sfid', s.sfid, 'error', s.error)),
               updated_at = now()
          FROM unnest(p_results) s
         WHERE c.id = s.id;
        BEGIN
            EXECUTE format('UPDATE %s SET _hc_lastop = ''FAILED'', _hc_err = $2 WHERE id = $1', p_table)
              USING p_results[1].record_id, (v_error || jsonb_build_object('at', now()))::text;
        EXCEPTION WHEN OTHERS THEN
            NULL;   -- the row refuses every write: the queue entry keeps the error
        END;
END
$$;
COMMENT ON FUNCTION sfsync._record_results_of(sfsync.mapping, regclass, sfsync._result[]) IS
    'sfsync: _record_results for one record; when the database refuses them the record''s changes end FAILED with its error';

-- Refuses an archive retention shorter than a day: the archive holds the FAILED changes an operator
-- still has to look at, and a negative or tiny retention would erase them at once.
CREATE OR REPLACE FUNCTION sfsync._check_retention(p_retention interval)
    RETURNS interval
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF p_retention IS NULL OR p_retention < interval '1 day' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('the archive retention must be at least 1 day, not %s', coalesce(p_retention::text, 'NULL'));
    END IF;
    RETURN p_retention;
END
$$;
COMMENT ON FUNCTION sfsync._check_retention(interval) IS
    'sfsync: refuses an archive retention shorter than one day';

-- One incoming record for a row that has queued or in-flight local changes. For each mapped field
-- the local changes touch: an incoming value equal to the local one, or equal to the value before the
-- local change (Salesforce has not seen it yet, e.g. the read-back of our own earlier write), is no
-- conflict; anything else is a conflict, resolved by the mapping's policy and logged. Fields the local
-- changes do not touch take the incoming value. Only the mapping's own columns are written: a
-- column users added (a generated one, say) keeps what it has. Returns the number of conflicts.
CREATE OR REPLACE FUNCTION sfsync._merge_protected_row(p_mapping sfsync.mapping, p_table regclass, p_record bigint,
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

-- Queues the current values of a row again (Heroku Connect's hc_capture_*_from_row): an INSERT of
-- every insertable non-null column when the row has no sfid, otherwise an UPDATE of p_columns.
CREATE OR REPLACE FUNCTION sfsync._recapture_row(p_mapping sfsync.mapping, p_record bigint, p_columns text[])
    RETURNS bigint
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_table regclass;
    v_row jsonb;
    v_action text;
    v_values jsonb;
    v_id bigint;
BEGIN
    v_table := sfsync._mapped_table(p_mapping);
    IF v_table IS NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE format('SELECT to_jsonb(t) FROM %s t WHERE t.id = $1', v_table) INTO v_row USING p_record;
    IF v_row IS NULL THEN
        RETURN NULL;
    END IF;
    IF v_row->>'sfid' IS NULL THEN
        v_action := 'INSERT';
        SELECT jsonb_object_agg(c->>'column', v_row->(c->>'column')) INTO v_values
          FROM jsonb_array_elements(p_mapping.columns) c
         WHERE (c->>'insertable')::boolean AND jsonb_typeof(v_row->(c->>'column')) <> 'null';
    ELSE
        v_action := 'UPDATE';
        SELECT jsonb_object_agg(c->>'column', v_row->(c->>'column')) INTO v_values
          FROM jsonb_array_elements(p_mapping.columns) c
         WHERE (c->>'updatable')::boolean AND (c->>'column') = ANY (p_columns);
    END IF;
    IF v_values IS NULL THEN
        RETURN NULL;
    END IF;
    INSERT INTO sfsync.change (mapping_id, record_id, sfid, action, "values", state)
    VALUES (p_mapping.id, p_record, v_row->>'sfid', v_action, v_values, 'NEW')
    RETURNING id INTO v_id;
    EXECUTE format('UPDATE %s SET _hc_lastop = ''PENDING'', _hc_err = NULL WHERE id = $1', v_table) USING p_record;
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION sfsync._recapture_row(sfsync.mapping, bigint, text[]) IS
    'sfsync: queues a row''s current values again (retry of failed changes)';

-- <schema>._trigger_log and <schema>._trigger_log_archive: read-only views with Heroku Connect's column
-- names over sfsync.change / sfsync.change_archive, for tools written against Heroku Connect.
CREATE OR REPLACE FUNCTION sfsync._ensure_trigger_log_views(p_schema text)
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


-- Parents before children across claims and sidecars (a child waits for the queued or in-flight
-- change that gives its parent the external id it refers to), and the missing-parent lookup the
-- sidecar may make as an sfsync_agent member.

-- Relationship columns of read-write mappings that refer to a parent by external id
-- (`account__ext_id__c` for `Account.Ext_Id__c`), with the parent's mapping in the same schema and
-- the parent's column holding that external id. A child change carrying such a value depends on
-- any queued change of the parent that sets it.
CREATE OR REPLACE FUNCTION sfsync._parent_links(p_mappings bigint[])
    RETURNS TABLE (mapping_id bigint, column_name text, parent_mapping_id bigint, parent_column text)
    LANGUAGE sql
    STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT m.id, c->>'column', p.id, pc->>'column'
      FROM sfsync.mapping m
     CROSS JOIN LATERAL jsonb_array_elements(coalesce(m.columns, '[]')) c
     CROSS JOIN LATERAL jsonb_array_elements_text(coalesce(c->'reference_to', '[]')) target
      JOIN sfsync.mapping p ON p.schema_name = m.schema_name AND lower(p.object_name) = lower(target)
                           AND p.access = 'read_write'
     CROSS JOIN LATERAL jsonb_array_elements(coalesce(p.columns, '[]')) pc
     WHERE m.id = ANY (p_mappings)
       AND c->>'relationship' IS NOT NULL
       AND lower(pc->>'field') = lower(c->'path'->>1)
       AND pc->>'relationship' IS NULL
$$;
COMMENT ON FUNCTION sfsync._parent_links(bigint[]) IS
    'sfsync: relationship columns of the given mappings and the parent mapping column holding the external id they refer to';

-- Claims up to p_batch records' worth of changes for one sidecar. A record is handed out only when
-- its earliest unfinished change is claimable (NEW and due, or PENDING with an expired lease), and then
-- with all of its queued changes so the sidecar can merge them. Claimed changes become PENDING under
-- one fresh lease token. Changes of paused mappings stay queued. Only the changes of the session's
-- schema are looked at (sfsync._protocol_scope): a sidecar never claims another org's change.
-- Parents before children: a record whose change refers to a parent by an external id that an
-- earlier unfinished change of the parent's mapping sets (an insert, or an update giving the parent
-- that external id) waits until that change has finished, unless the parent's change is handed out in
-- the same claim (the sidecar then orders the two). This holds across claims and across sidecars.
CREATE OR REPLACE FUNCTION sfsync._claim_changes(p_batch integer DEFAULT 200, p_lease_seconds integer DEFAULT 60,
                                      p_mapping bigint DEFAULT NULL)
    RETURNS TABLE (change_id bigint, mapping_id bigint, record_id bigint, action text, sfid varchar,
                   "values" jsonb, old jsonb, record jsonb, attempts integer, lease_token uuid,
                   created_at timestamptz)
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    -- The queue is walked in id order through its primary key and every other lookup is by key. A
    -- freshly filled queue has no statistics yet, and the planner would then sort the whole queue:
    -- these settings leave it only the index paths.
    SET enable_seqscan = off
    SET enable_bitmapscan = off
    SET enable_sort = off
    AS $$
DECLARE
    -- rounds of heads looked at when children had to wait (each round walks on from the last)
    c_max_rounds CONSTANT integer := 8;
    v_token uuid := gen_random_uuid();
    v_scope text := sfsync._protocol_scope();
    -- the mappings whose changes may be claimed: in the session's schema and not paused
    v_active bigint[];
    v_claimed sfsync.change[];
    v_mapping sfsync.mapping;
    v_table regclass;
    v_rows jsonb := '{}';
    v_part jsonb;
    v_round integer := 0;
    v_after bigint := 0;
    v_wanted integer := p_batch;
    v_heads bigint[];
    v_members bigint[];
    v_member_heads bigint[];
    v_waiting bigint[];
    v_take bigint[] := '{}';
    v_links_of bigint[];
    v_needs jsonb;
    v_providers jsonb;
    v_more bigint[];
BEGIN
    IF p_batch IS NULL OR p_batch < 1 OR p_lease_seconds IS NULL OR p_lease_seconds < 1 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('batch and lease must be positive (got %s and %s)', p_batch, p_lease_seconds);
    END IF;
    IF p_mapping IS NOT NULL THEN
        PERFORM sfsync._check_scope(p_mapping);
    END IF;
    v_active := ARRAY(SELECT m.id FROM sfsync.mapping m
                       WHERE m.state <> 'PAUSED' AND (v_scope IS NULL OR m.schema_name = v_scope)
                         AND (p_mapping IS NULL OR m.id = p_mapping));
    -- mappings whose changes can depend on a parent's queued change
    v_links_of := ARRAY(SELECT DISTINCT l.mapping_id
                          FROM sfsync._parent_links(ARRAY(SELECT m.id FROM sfsync.mapping m
                                                           WHERE m.access = 'read_write'
                                                             AND m.id = ANY (v_active))) l);

    LOOP
        v_round := v_round + 1;
        -- the first claimable change of each record that has no earlier unfinished change
        v_heads := ARRAY(
            SELECT c.id
              FROM sfsync.change c
             WHERE c.id > v_after
               AND c.mapping_id = ANY (v_active)
               AND ((c.state = 'NEW' AND (c.not_before IS NULL OR c.not_before <= now()))
                    OR (c.state = 'PENDING' AND c.lease_until < now()))
               AND NOT EXISTS (SELECT 1 FROM sfsync.change e
                                WHERE e.mapping_id = c.mapping_id AND e.record_id = c.record_id AND e.id < c.id)
             ORDER BY c.id
             LIMIT v_wanted
               FOR UPDATE OF c SKIP LOCKED);
        EXIT WHEN cardinality(v_heads) = 0;
        v_after := v_heads[cardinality(v_heads)];

        -- each head with the record's later changes, found through the record index
        SELECT array_agg(f.id ORDER BY f.id), array_agg(h.id ORDER BY f.id)
          INTO v_members, v_member_heads
          FROM sfsync.change h
         CROSS JOIN LATERAL (SELECT e.id FROM sfsync.change e
                              WHERE e.mapping_id = h.mapping_id AND e.record_id = h.record_id AND e.id >= h.id
                                AND (e.state = 'NEW' OR (e.state = 'PENDING' AND e.lease_until < now()))) f
         WHERE h.id = ANY (v_heads);

        v_waiting := '{}';
        IF EXISTS (SELECT 1 FROM sfsync.change h WHERE h.id = ANY (v_heads) AND h.mapping_id = ANY (v_links_of)) THEN
            -- what the children among them refer to: (head, change, parent mapping, parent column, key)
            SELECT jsonb_agg(jsonb_build_array(m.head, e.id, l.parent_mapping_id, l.parent_column,
                                               lower(e."values"->>l.column_name)))
              INTO v_needs
              FROM unnest(v_members, v_member_heads) m(id, head)
              JOIN sfsync.change e ON e.id = m.id
              JOIN sfsync._parent_links(v_links_of) l ON l.mapping_id = e.mapping_id
             WHERE e."values"->>l.column_name IS NOT NULL;
            IF v_needs IS NOT NULL THEN
                -- unfinished changes of those parents, before the children, that set such a key:
                -- one walk of the queue's head in id order
                SELECT jsonb_agg(jsonb_build_array(p.id, p.mapping_id, k.parent_column,
                                                   lower(p."values"->>k.parent_column)))
                  INTO v_providers
                  FROM (SELECT q.id, q.mapping_id, q."values" FROM sfsync.change q
                         WHERE q.id < (SELECT max((n->>1)::bigint) FROM jsonb_array_elements(v_needs) n)
                           AND q.mapping_id IN (SELECT DISTINCT (n->>2)::bigint FROM jsonb_array_elements(v_needs) n)
                           AND q.state IN ('NEW', 'PENDING')
                         ORDER BY q.id) p
                  JOIN (SELECT DISTINCT (n->>2)::bigint AS parent_mapping_id, n->>3 AS parent_column
                          FROM jsonb_array_elements(v_needs) n) k ON k.parent_mapping_id = p.mapping_id
                 WHERE p."values"->>k.parent_column IS NOT NULL
                   AND lower(p."values"->>k.parent_column) IN (SELECT n->>4 FROM jsonb_array_elements(v_needs) n);
                -- a child waits while such a provider is not handed out with it; a waiting record's
                -- changes are not handed out either, which can make others wait in turn
                LOOP
                    v_more := ARRAY(
                        SELECT DISTINCT (n->>0)::bigint
                          FROM jsonb_array_elements(v_needs) n
                          JOIN jsonb_array_elements(coalesce(v_providers, '[]')) p
                            ON (p->>1)::bigint = (n->>2)::bigint AND p->>2 = n->>3 AND p->>3 = n->>4
                           AND (p->>0)::bigint < (n->>1)::bigint
                         WHERE (n->>0)::bigint <> ALL (v_waiting)
                           AND (p->>0)::bigint <> ALL (v_take)
                           AND ((p->>0)::bigint <> ALL (v_members)
                                OR (SELECT m.head FROM unnest(v_members, v_member_heads) m(id, head)
                                     WHERE m.id = (p->>0)::bigint) = ANY (v_waiting)));
                    EXIT WHEN cardinality(v_more) = 0;
                    v_waiting := v_waiting || v_more;
                END LOOP;
            END IF;
        END IF;

        v_take := v_take || ARRAY(SELECT m.id FROM unnest(v_members, v_member_heads) m(id, head)
                                   WHERE m.head <> ALL (v_waiting));
        v_wanted := v_wanted - (cardinality(v_heads) - cardinality(v_waiting));
        EXIT WHEN cardinality(v_waiting) = 0 OR v_wanted <= 0 OR v_round >= c_max_rounds;
    END LOOP;

    WITH claimed AS (
        UPDATE sfsync.change c
           SET state = 'PENDING', attempts = c.attempts + 1, lease_token = v_token,
               lease_until = now() + make_interval(secs => p_lease_seconds), updated_at = now()
         WHERE c.id = ANY (v_take)
        RETURNING c.*
    )
    SELECT array_agg(claimed ORDER BY claimed.id) INTO v_claimed FROM claimed;
    IF v_claimed IS NULL THEN
        RETURN;
    END IF;

    -- the current row of each claimed record, for merging and for re-sending failed inserts
    FOR v_mapping IN SELECT * FROM sfsync.mapping m
                      WHERE m.id = ANY (ARRAY(SELECT DISTINCT k.mapping_id FROM unnest(v_claimed) k)) LOOP
        v_table := sfsync._mapped_table(v_mapping, false);
        CONTINUE WHEN v_table IS NULL;
        EXECUTE format('SELECT jsonb_object_agg(t.id::text, to_jsonb(t)) FROM %s t WHERE t.id = ANY ($1)', v_table)
           INTO v_part
          USING ARRAY(SELECT k.record_id FROM unnest(v_claimed) k WHERE k.mapping_id = v_mapping.id);
        v_rows := v_rows || jsonb_build_object(v_mapping.id::text, coalesce(v_part, '{}'));
    END LOOP;

    -- v_claimed is in id order already
    RETURN QUERY
        SELECT k.id, k.mapping_id, k.record_id, k.action,
               coalesce(k.sfid, (v_rows->(k.mapping_id::text)->(k.record_id::text)->>'sfid'))::varchar,
               k."values", k.old, v_rows->(k.mapping_id::text)->(k.record_id::text), k.attempts, k.lease_token,
               k.created_at
          FROM unnest(v_claimed) k;
END
$$;
COMMENT ON FUNCTION sfsync._claim_changes(integer, integer, bigint) IS
    'sfsync (sidecar): claims queued changes under a lease, parents before the children that refer to them; returns them with the current row of each record';

-- Whether a parent that a child refers to by external id is still on its way to Salesforce: a row of
-- the parent's mapping (in the child's schema) holds that external id and has a change queued or in
-- flight. The writer asks when Salesforce refuses a child for a missing parent: such a child is tried
-- again shortly instead of failing.
CREATE OR REPLACE FUNCTION sfsync._parent_pending(p_mapping bigint, p_object text, p_field text, p_value text)
    RETURNS boolean
    LANGUAGE plpgsql
    STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_parent sfsync.mapping;
    v_table regclass;
    v_column text;
    v_pending boolean;
BEGIN
    PERFORM sfsync._check_scope(p_mapping);
    SELECT p.* INTO v_parent
      FROM sfsync.mapping m JOIN sfsync.mapping p ON p.schema_name = m.schema_name
     WHERE m.id = p_mapping AND lower(p.object_name) = lower(p_object);
    IF NOT FOUND OR p_value IS NULL THEN
        RETURN false;
    END IF;
    SELECT c->>'column' INTO v_column FROM jsonb_array_elements(coalesce(v_parent.columns, '[]')) c
     WHERE lower(c->>'field') = lower(p_field) AND c->>'relationship' IS NULL
     LIMIT 1;
    v_table := sfsync._mapped_table(v_parent, false);
    IF v_column IS NULL OR v_table IS NULL THEN
        RETURN false;
    END IF;
    -- through the parent mapping's queued changes (few), not a scan of its table (many rows)
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM sfsync.change c JOIN %s t ON t.id = c.record_id
                                    WHERE c.mapping_id = $2 AND lower(t.%I::text) = lower($1))',
                   v_table, v_column)
       INTO v_pending USING p_value, v_parent.id;
    RETURN v_pending;
END
$$;
COMMENT ON FUNCTION sfsync._parent_pending(bigint, text, text, text) IS
    'sfsync (sidecar): whether the parent a child refers to by external id has a change queued or in flight';

REVOKE ALL ON FUNCTION sfsync._parent_links(bigint[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION sfsync._parent_pending(bigint, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sfsync._parent_pending(bigint, text, text, text) TO sfsync_agent;


-- ============================================================================================
-- Several orgs in one database: every protocol call is scoped to the schema its session is bound
-- to, and each schema is bound to one Salesforce org (sfsync.org), checked when a sidecar opens its
-- session.

CREATE TABLE sfsync.org (
    schema_name text PRIMARY KEY,
    -- the 18-character id of the Organization the schema's records come from and go to
    org_id      text NOT NULL CHECK (org_id ~ '^00D[0-9A-Za-z]{12}[0-9A-Z]{3}$'),
    bound_at    timestamptz NOT NULL DEFAULT now(),
    -- the login role that bound it (a sidecar on first contact or rebind, or an admin)
    bound_by    text NOT NULL
);
COMMENT ON TABLE sfsync.org IS
    'sfsync: the Salesforce org each schema is bound to; a sidecar logged in to another org is refused';
SELECT pg_catalog.pg_extension_config_dump('sfsync.org', '');

-- The session binding lives in backend memory (src/session.rs).
CREATE FUNCTION sfsync."_bind_session"(
	"schema" TEXT /* & str */
) RETURNS TEXT /* String */
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_bind_session_wrapper';

CREATE FUNCTION sfsync."_session_schema"() RETURNS TEXT /* Option < String > */
STRICT STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_session_schema_wrapper';


-- The 18-character form of a 15- or 18-character Salesforce id: the suffix encodes, per block of
-- five characters, which are upper case, so the id survives case-insensitive comparison. An
-- 18-character id whose suffix does not match its first 15 characters is refused.
CREATE OR REPLACE FUNCTION sfsync._id18(p_id text)
    RETURNS text
    LANGUAGE plpgsql
    IMMUTABLE
    STRICT
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    c_alphabet CONSTANT text := 'ABCDEFGHIJKLMNOPQRSTUVWXYZ012345';
    v_suffix text := '';
    v_bits integer;
BEGIN
    IF p_id !~ '^[0-9A-Za-z]{15}([0-9A-Za-z]{3})?$' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('%L is not a Salesforce id (15 or 18 letters and digits)', p_id);
    END IF;
    FOR v_block IN 0..2 LOOP
        v_bits := 0;
        FOR v_char IN 0..4 LOOP
            IF substr(p_id, v_block * 5 + v_char + 1, 1) ~ '[A-Z]' THEN
                v_bits := v_bits | (1 << v_char);
            END IF;
        END LOOP;
        v_suffix := v_suffix || substr(c_alphabet, v_bits + 1, 1);
    END LOOP;
    IF length(p_id) = 18 AND upper(substr(p_id, 16)) <> v_suffix THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('%L is not a Salesforce id: its last three characters should be %s', p_id, v_suffix);
    END IF;
    RETURN left(p_id, 15) || v_suffix;
END
$$;
COMMENT ON FUNCTION sfsync._id18(text) IS 'sfsync: the 18-character form of a 15- or 18-character Salesforce id';

-- An organization id in its 18-character form, or a clear error.
CREATE OR REPLACE FUNCTION sfsync._org_id(p_org_id text)
    RETURNS text
    LANGUAGE plpgsql
    IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF p_org_id IS NULL OR left(p_org_id, 3) <> '00D' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('%s is not a Salesforce organization id (organization ids start with 00D)',
                             coalesce(quote_literal(p_org_id), 'NULL'));
    END IF;
    RETURN sfsync._id18(p_org_id);
END
$$;
COMMENT ON FUNCTION sfsync._org_id(text) IS 'sfsync: checks an organization id and returns its 18-character form';

-- The schema the calling session may act on in the queue protocol: the one it is bound to. An
-- unbound session of a sidecar's role (a member of sfsync_agent) is refused: a sidecar opens its
-- session first. Other unbound sessions (a superuser's maintenance, an admin whose create_mapping
-- installs a table) get NULL: every schema; what they may call at all is decided by the grants.
CREATE OR REPLACE FUNCTION sfsync._protocol_scope()
    RETURNS text
    LANGUAGE plpgsql
    STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_schema text := sfsync._session_schema();
BEGIN
    IF v_schema IS NULL
       AND NOT coalesce((SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = session_user), false)
       AND pg_has_role(session_user, 'sfsync_agent', 'MEMBER') THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = 'this session is not bound to a schema',
            HINT = 'A sidecar calls sfsync._open_session(schema, org_id) before it speaks the queue protocol.';
    END IF;
    RETURN v_schema;
END
$$;
COMMENT ON FUNCTION sfsync._protocol_scope() IS
    'sfsync: the schema this session may act on (NULL: every schema, for unbound sessions that are not a sidecar''s)';

-- Refuses a protocol call about a mapping of another schema than the session's. A mapping that does
-- not exist (dropped while a sidecar worked on it) passes: each caller keeps its own answer to that.
-- Security definer: it must see every mapping, also from the sidecar's own (invoker) calls such as
-- _create_stage, where row-level security would hide the other schemas' mappings.
CREATE OR REPLACE FUNCTION sfsync._check_scope(p_mapping bigint)
    RETURNS void
    LANGUAGE plpgsql
    STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_scope text := sfsync._protocol_scope();
BEGIN
    IF v_scope IS NOT NULL
       AND EXISTS (SELECT 1 FROM sfsync.mapping m WHERE m.id = p_mapping AND m.schema_name <> v_scope) THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = format('mapping %s belongs to another schema than this session''s (%I)', p_mapping, v_scope);
    END IF;
END
$$;
COMMENT ON FUNCTION sfsync._check_scope(bigint) IS
    'sfsync: refuses a protocol call about a mapping outside the session''s schema';

-- Records that p_schema belongs to org p_org_id (inserting or replacing the binding); returns the
-- org id it was bound to before (NULL on first contact).
CREATE OR REPLACE FUNCTION sfsync._set_binding(p_schema text, p_org_id text)
    RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_before text;
BEGIN
    SELECT o.org_id INTO v_before FROM sfsync.org o WHERE o.schema_name = p_schema FOR UPDATE;
    INSERT INTO sfsync.org (schema_name, org_id, bound_by) VALUES (p_schema, p_org_id, session_user)
        ON CONFLICT (schema_name) DO UPDATE SET org_id = excluded.org_id, bound_at = now(), bound_by = excluded.bound_by
        WHERE sfsync.org.org_id <> excluded.org_id;
    RETURN v_before;
END
$$;
COMMENT ON FUNCTION sfsync._set_binding(text, text) IS 'sfsync: binds a schema to an org, returning the org it was bound to';

-- A sidecar's first call on a new connection. Checks the org the sidecar logged in to against the
-- org bound to the schema and binds the session to the schema. On first contact the org is bound.
-- Another org is refused (a wrong SFSYNC_LOGIN_URL or credentials, a refreshed sandbox) unless
-- p_rebind: the explicit `sfsync-sidecar rebind`, which moves the schema to the new org.
CREATE OR REPLACE FUNCTION sfsync._open_session(p_schema text, p_org_id text, p_rebind boolean DEFAULT false)
    RETURNS TABLE (schema_name text, org_id text, bound_at timestamptz, previous_org_id text)
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_org text := sfsync._org_id(p_org_id);
    v_bound sfsync.org;
    v_previous text;
BEGIN
    PERFORM sfsync._check_identifier(p_schema, 'schema');
    -- two sidecars making first contact at once: the row lock orders them
    PERFORM pg_advisory_xact_lock(hashtext('sfsync.org'), hashtext(p_schema));
    SELECT * INTO v_bound FROM sfsync.org o WHERE o.schema_name = p_schema;
    IF FOUND AND v_bound.org_id <> v_org AND NOT p_rebind THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('schema %I is bound to Salesforce org %s, but this sidecar logged in to org %s',
                             p_schema, v_bound.org_id, v_org),
            HINT = 'Check SFSYNC_LOGIN_URL, the credentials and SFSYNC_SCHEMA. If the schema really moved to that org (a refreshed sandbox), run `sfsync-sidecar rebind`.';
    END IF;
    IF NOT FOUND OR v_bound.org_id <> v_org THEN
        v_previous := sfsync._set_binding(p_schema, v_org);
    ELSE
        v_previous := v_bound.org_id;
    END IF;
    PERFORM sfsync._bind_session(p_schema);
    RETURN QUERY SELECT o.schema_name, o.org_id, o.bound_at, v_previous FROM sfsync.org o WHERE o.schema_name = p_schema;
END
$$;
COMMENT ON FUNCTION sfsync._open_session(text, text, boolean) IS
    'sfsync (sidecar): checks the org a sidecar logged in to against its schema''s binding and binds the session to that schema';

-- The org a schema is bound to (no row before first contact); for `sfsync-sidecar check`.
CREATE OR REPLACE FUNCTION sfsync._org_binding(p_schema text)
    RETURNS TABLE (org_id text, bound_at timestamptz)
    LANGUAGE sql
    STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT o.org_id, o.bound_at FROM sfsync.org o WHERE o.schema_name = p_schema
$$;
COMMENT ON FUNCTION sfsync._org_binding(text) IS 'sfsync (sidecar): the org a schema is bound to, if any';

CREATE OR REPLACE FUNCTION sfsync.bind_org(org_id text, schema text DEFAULT 'salesforce')
    RETURNS text
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    PERFORM sfsync._check_identifier(bind_org.schema, 'schema');
    PERFORM pg_advisory_xact_lock(hashtext('sfsync.org'), hashtext(bind_org.schema));
    RETURN sfsync._set_binding(bind_org.schema, sfsync._org_id(bind_org.org_id));
END
$$;
COMMENT ON FUNCTION sfsync.bind_org(text, text) IS
    'Binds a schema to a Salesforce org (15- or 18-character id) before first contact or after the org changed; returns the org it was bound to (NULL if none). Sidecars of that schema logged in to another org are refused.';


-- Control wake-ups name their schema: a new signature, and every caller replaced.
DROP FUNCTION sfsync._notify_control(text, bigint);
-- Tells the sidecars of a schema that a mapping (or every mapping of the schema) needs attention
-- (they also poll, so this is only a wake-up). Sidecars of other schemas ignore it.
CREATE FUNCTION sfsync._notify_control(p_op text, p_mapping bigint, p_schema text)
    RETURNS void
    LANGUAGE sql
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT pg_notify('sfsync_control',
                     json_build_object('op', p_op, 'mapping', p_mapping, 'schema', p_schema)::text)
$$;

-- How often the sidecar reconciles a mapping with Salesforce: every minute at most, every year at least.
CREATE FUNCTION sfsync._check_reconcile_seconds(p_seconds integer)
    RETURNS integer
    LANGUAGE plpgsql
    IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF p_seconds IS NULL OR p_seconds NOT BETWEEN 60 AND 31536000 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('reconcile_seconds must be between 60 and 31536000 (a year), not %s', coalesce(p_seconds::text, 'NULL'));
    END IF;
    RETURN p_seconds;
END
$$;
COMMENT ON FUNCTION sfsync._check_reconcile_seconds(integer) IS
    'sfsync: the reconcile_seconds option, or an error unless it is between 60 and 31536000';

-- Creates a mapping. Without options.describe it waits in state NEW for the sidecar to describe the
-- object and create the table; with it, the table is created now.
CREATE OR REPLACE FUNCTION sfsync.create_mapping(object_name text, fields text[], access text DEFAULT 'read_only',
                                      options jsonb DEFAULT '{}')
    RETURNS bigint
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_options jsonb := coalesce(options, '{}');
    v_schema text;
    v_table text;
    v_upsert text;
    v_read_only text[];
    v_poll integer;
    v_reconcile integer;
    v_formula_refresh integer;
    v_conflict text;
    v_filter text;
    v_id bigint;
BEGIN
    PERFORM sfsync._check_options(v_options, '{"schema": "string", "table": "string", "upsert_field": "string",
        "poll_seconds": "number", "streaming": "boolean", "filter": "string", "read_only_fields": "array",
        "conflict": "string", "keep_deleted": "boolean", "describe": "object", "parents": "object",
        "indexes": "object", "reconcile_seconds": "number", "fresh_formulas": "boolean",
        "formula_refresh_seconds": "number"}', 'option');
    PERFORM sfsync._check_api_name(create_mapping.object_name, 'object');
    PERFORM sfsync._check_fields(fields);
    v_schema := sfsync._check_identifier(coalesce(v_options->>'schema', 'salesforce'), 'schema');
    v_table := sfsync._check_identifier(coalesce(v_options->>'table', lower(create_mapping.object_name)), 'table');
    v_upsert := v_options->>'upsert_field';
    v_read_only := sfsync._text_array(v_options->'read_only_fields', 'option read_only_fields');
    v_poll := coalesce(sfsync._int_option(v_options->'poll_seconds', 'option poll_seconds'), 60);
    v_reconcile := sfsync._check_reconcile_seconds(
        coalesce(sfsync._int_option(v_options->'reconcile_seconds', 'option reconcile_seconds'), 21600));
    v_formula_refresh := sfsync._check_formula_refresh_seconds(
        coalesce(sfsync._int_option(v_options->'formula_refresh_seconds', 'option formula_refresh_seconds'), 3600));
    v_conflict := coalesce(v_options->>'conflict', 'salesforce_wins');
    v_filter := v_options->>'filter';
    PERFORM sfsync._check_mapping_settings(fields, create_mapping.access, v_upsert, v_read_only, v_poll,
                                           v_conflict, v_filter);
    PERFORM sfsync._check_indexes(v_options->'indexes', fields);
    PERFORM sfsync._check_target(v_schema, v_table);

    BEGIN
        INSERT INTO sfsync.mapping (schema_name, object_name, table_name, fields, access, upsert_field,
                                    poll_seconds, streaming, filter, read_only_fields, conflict, keep_deleted,
                                    indexes, reconcile_seconds, fresh_formulas, formula_refresh_seconds)
        VALUES (v_schema, create_mapping.object_name, v_table, fields, create_mapping.access, v_upsert,
                v_poll, coalesce((v_options->>'streaming')::boolean, false), v_filter, v_read_only,
                v_conflict, coalesce((v_options->>'keep_deleted')::boolean, false),
                sfsync._check_indexes(v_options->'indexes', fields), v_reconcile,
                coalesce((v_options->>'fresh_formulas')::boolean, true), v_formula_refresh)
        RETURNING id INTO v_id;
    EXCEPTION WHEN unique_violation THEN
        -- the same object (API names are case-insensitive) or the same table, in this schema
        RAISE EXCEPTION USING ERRCODE = 'duplicate_object',
            MESSAGE = format('a mapping for %L (table %I.%I) already exists', create_mapping.object_name, v_schema, v_table),
            HINT = 'use sfsync.alter_mapping to change it, or sfsync.drop_mapping first';
    END;

    IF v_options ? 'describe' THEN
        PERFORM sfsync._install_mapping(v_id, v_options->'describe', v_options->'parents');
    END IF;
    PERFORM sfsync._notify_control('create', v_id, v_schema);
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION sfsync.create_mapping(text, text[], text, jsonb) IS
    'Maps a Salesforce object to a Postgres table. access: read_only | read_write. options: schema, table, upsert_field, poll_seconds, streaming, filter, read_only_fields, conflict, keep_deleted, indexes, reconcile_seconds, fresh_formulas, formula_refresh_seconds, describe. Returns the mapping id.';

-- Changes a mapping. Schema changes happen now when the stored describe knows every field; new
-- columns are back-filled by the sidecar.
CREATE OR REPLACE FUNCTION sfsync.alter_mapping(object_name text, changes jsonb, schema text DEFAULT 'salesforce')
    RETURNS void
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    m sfsync.mapping;
    v_changes jsonb := coalesce(changes, '{}');
    v_fields text[];
    v_add text[];
    v_drop text[];
    v_field text;
    v_known text[];
    v_reconcile boolean := false;
BEGIN
    PERFORM sfsync._check_options(v_changes, '{"add_fields": "array", "drop_fields": "array", "access": "string",
        "upsert_field": "string", "poll_seconds": "number", "streaming": "boolean", "filter": "string",
        "read_only_fields": "array", "conflict": "string", "keep_deleted": "boolean", "reconcile_seconds": "number",
        "fresh_formulas": "boolean", "formula_refresh_seconds": "number"}',
        'alter_mapping change');
    m := sfsync._mapping_for_update(alter_mapping.object_name, alter_mapping.schema);

    v_add := sfsync._check_fields(sfsync._text_array(v_changes->'add_fields', 'add_fields'), 'add_fields');
    v_drop := sfsync._check_fields(sfsync._text_array(v_changes->'drop_fields', 'drop_fields'), 'drop_fields');
    v_fields := m.fields;
    FOREACH v_field IN ARRAY v_drop LOOP
        IF NOT lower(v_field) = ANY (ARRAY(SELECT lower(f) FROM unnest(v_fields) f)) THEN
            RAISE EXCEPTION USING ERRCODE = 'undefined_column',
                MESSAGE = format('drop_fields names %L, which the mapping of %s does not have', v_field, m.object_name);
        END IF;
        IF lower(v_field) = lower(coalesce(v_changes->>'upsert_field', m.upsert_field)) THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('cannot drop %L: it is the upsert field', v_field);
        END IF;
        v_fields := ARRAY(SELECT f FROM unnest(v_fields) f WHERE lower(f) <> lower(v_field));
        m.read_only_fields := ARRAY(SELECT f FROM unnest(m.read_only_fields) f WHERE lower(f) <> lower(v_field));
    END LOOP;
    FOREACH v_field IN ARRAY v_add LOOP
        IF lower(v_field) = ANY (ARRAY(SELECT lower(f) FROM unnest(v_fields) f)) THEN
            RAISE EXCEPTION USING ERRCODE = 'duplicate_column',
                MESSAGE = format('add_fields names %L, which is already mapped', v_field);
        END IF;
        v_fields := v_fields || v_field;
    END LOOP;

    m.fields := v_fields;
    m.access := coalesce(v_changes->>'access', m.access);
    IF v_changes ? 'upsert_field' THEN m.upsert_field := v_changes->>'upsert_field'; END IF;
    m.poll_seconds := coalesce(sfsync._int_option(v_changes->'poll_seconds', 'poll_seconds'), m.poll_seconds);
    m.streaming := coalesce((v_changes->>'streaming')::boolean, m.streaming);
    m.reconcile_seconds := sfsync._check_reconcile_seconds(
        coalesce(sfsync._int_option(v_changes->'reconcile_seconds', 'reconcile_seconds'), m.reconcile_seconds));
    m.fresh_formulas := coalesce((v_changes->>'fresh_formulas')::boolean, m.fresh_formulas);
    m.formula_refresh_seconds := sfsync._check_formula_refresh_seconds(
        coalesce(sfsync._int_option(v_changes->'formula_refresh_seconds', 'formula_refresh_seconds'), m.formula_refresh_seconds));
    IF v_changes ? 'filter' THEN
        -- the table holds what the old filter selected: a reconciliation reads the records the new
        -- one adds and removes the rows it drops (requested here, so it happens even when no
        -- sidecar is running now)
        v_reconcile := m.columns IS NOT NULL AND m.filter IS DISTINCT FROM (v_changes->>'filter');
        m.filter := v_changes->>'filter';
    END IF;
    IF v_changes ? 'read_only_fields' THEN
        m.read_only_fields := sfsync._text_array(v_changes->'read_only_fields', 'read_only_fields');
    END IF;
    m.conflict := coalesce(v_changes->>'conflict', m.conflict);
    m.keep_deleted := coalesce((v_changes->>'keep_deleted')::boolean, m.keep_deleted);
    PERFORM sfsync._check_mapping_settings(m.fields, m.access, m.upsert_field, m.read_only_fields,
                                           m.poll_seconds, m.conflict, m.filter);

    UPDATE sfsync.mapping
       SET fields = m.fields, access = m.access, upsert_field = m.upsert_field, poll_seconds = m.poll_seconds,
           streaming = m.streaming, filter = m.filter, read_only_fields = m.read_only_fields,
           conflict = m.conflict, keep_deleted = m.keep_deleted, reconcile_seconds = m.reconcile_seconds,
           fresh_formulas = m.fresh_formulas, formula_refresh_seconds = m.formula_refresh_seconds,
           updated_at = now(),
           reconcile_requested_at = CASE WHEN v_reconcile THEN now() ELSE reconcile_requested_at END
     WHERE id = m.id;

    IF m.columns IS NOT NULL THEN
        v_known := ARRAY(SELECT lower(f->>'name') FROM jsonb_array_elements(m.describe->'fields') f);
        IF (SELECT bool_and(lower(split_part(f, '.', 1)) = ANY (v_known) OR f LIKE '%.%')
              FROM unnest(v_add) f) IS NOT FALSE THEN
            PERFORM sfsync._install_mapping(m.id, m.describe);
        ELSE
            -- a field the stored describe does not know: the sidecar describes the object again
            UPDATE sfsync.mapping
               SET describe_requested = true,
                   state_detail = format('waiting for the sidecar to describe %s again (new fields: %s)',
                                         m.object_name, array_to_string(v_add, ', '))
             WHERE id = m.id;
        END IF;
    END IF;
    PERFORM sfsync._notify_control('alter', m.id, m.schema_name);
END
$$;
COMMENT ON FUNCTION sfsync.alter_mapping(text, jsonb, text) IS
    'Changes a mapping. changes keys: add_fields, drop_fields, access, upsert_field, poll_seconds, streaming, filter, read_only_fields, conflict, keep_deleted, reconcile_seconds, fresh_formulas, formula_refresh_seconds.';

-- Removes a mapping; its queued changes are archived as IGNORED. The table stays unless drop_table.
CREATE OR REPLACE FUNCTION sfsync.drop_mapping(object_name text, drop_table boolean DEFAULT false,
                                    schema text DEFAULT 'salesforce')
    RETURNS void
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    -- see _install_mapping
    SET lock_timeout = '5s'
    AS $$
DECLARE
    m sfsync.mapping;
    v_table regclass;
BEGIN
    m := sfsync._mapping_for_update(drop_mapping.object_name, drop_mapping.schema);
    BEGIN
        v_table := sfsync._mapped_table(m);
    EXCEPTION WHEN insufficient_privilege THEN
        -- another relation has the table's name: it is not sfsync's to drop or change
        IF drop_table THEN
            RAISE;
        END IF;
        RAISE NOTICE '%; left as it is', SQLERRM;
    END;
    UPDATE sfsync.change SET state = 'IGNORED', processed_at = now(), updated_at = now(),
                             sf_message = 'the mapping was dropped'
     WHERE mapping_id = m.id;
    PERFORM sfsync._archive_finished();
    IF v_table IS NOT NULL THEN
        IF drop_table THEN
            EXECUTE format('DROP TABLE %s', v_table);
        ELSE
            PERFORM sfsync._drop_triggers(v_table, ARRAY['sfsync_capture', 'sfsync_status', 'sfsync_truncate']);
        END IF;
    END IF;
    DELETE FROM sfsync.mapping WHERE id = m.id;
    PERFORM sfsync._notify_control('drop', m.id, m.schema_name);
END
$$;
COMMENT ON FUNCTION sfsync.drop_mapping(text, boolean, text) IS
    'Removes a mapping and its capture triggers; queued changes are archived as IGNORED; drop_table also drops the table.';

-- Asks the sidecar to re-read everything. Row ids stay; rows without sfid or with pending changes
-- are never deleted by the reload.
CREATE OR REPLACE FUNCTION sfsync.reload(object_name text, schema text DEFAULT 'salesforce')
    RETURNS void
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    m sfsync.mapping;
BEGIN
    m := sfsync._mapping_for_update(reload.object_name, reload.schema);
    UPDATE sfsync.mapping SET reload_requested = true, reload_requested_at = now(), updated_at = now() WHERE id = m.id;
    PERFORM sfsync._notify_control('reload', m.id, m.schema_name);
END
$$;
COMMENT ON FUNCTION sfsync.reload(text, text) IS
    'Re-reads every record of the object from Salesforce (done by the sidecar); row ids are kept.';

-- Pauses one mapping (or every mapping of the schema): no reading, no writing; changes keep queueing.
CREATE OR REPLACE FUNCTION sfsync.pause(object_name text DEFAULT NULL, schema text DEFAULT 'salesforce')
    RETURNS integer
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_count integer;
BEGIN
    IF pause.object_name IS NOT NULL THEN
        PERFORM sfsync._mapping_for_update(pause.object_name, pause.schema);
    END IF;
    UPDATE sfsync.mapping
       SET paused_state = state, state = 'PAUSED', updated_at = now()
     WHERE schema_name = pause.schema AND state <> 'PAUSED'
       AND (pause.object_name IS NULL OR lower(mapping.object_name) = lower(pause.object_name));
    GET DIAGNOSTICS v_count = ROW_COUNT;
    PERFORM sfsync._notify_control('pause', NULL, pause.schema);
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION sfsync.pause(text, text) IS
    'Pauses a mapping (or all mappings of the schema when object_name is NULL): local changes keep queueing and are sent on resume.';

CREATE OR REPLACE FUNCTION sfsync.resume(object_name text DEFAULT NULL, schema text DEFAULT 'salesforce')
    RETURNS integer
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_count integer;
BEGIN
    IF resume.object_name IS NOT NULL THEN
        PERFORM sfsync._mapping_for_update(resume.object_name, resume.schema);
    END IF;
    UPDATE sfsync.mapping
       SET state = coalesce(paused_state, 'SYNCED'), paused_state = NULL, updated_at = now()
     WHERE schema_name = resume.schema AND state = 'PAUSED'
       AND (resume.object_name IS NULL OR lower(mapping.object_name) = lower(resume.object_name));
    GET DIAGNOSTICS v_count = ROW_COUNT;
    PERFORM sfsync._notify_control('resume', NULL, resume.schema);
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION sfsync.resume(text, text) IS 'Resumes paused mappings; queued changes are then sent.';


-- Extends the lease of every change held under p_token (of the session's schema); returns how many
-- are still held.
CREATE OR REPLACE FUNCTION sfsync._renew_leases(p_token uuid, p_lease_seconds integer DEFAULT 60)
    RETURNS integer
    LANGUAGE sql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    WITH scope AS (SELECT sfsync._protocol_scope() AS schema_name),
    renewed AS (
        UPDATE sfsync.change c SET lease_until = now() + make_interval(secs => p_lease_seconds), updated_at = now()
          FROM scope
         WHERE c.lease_token = p_token AND c.state = 'PENDING'
           AND (scope.schema_name IS NULL
                OR c.mapping_id IN (SELECT m.id FROM sfsync.mapping m WHERE m.schema_name = scope.schema_name))
        RETURNING 1
    )
    SELECT count(*)::integer FROM renewed
$$;
COMMENT ON FUNCTION sfsync._renew_leases(uuid, integer) IS
    'sfsync (sidecar): extends the lease of the changes held under a token while a call is in flight';

-- Records what Salesforce said about claimed changes. p_results: JSON array of
--   {"id", "token", "outcome": "SUCCESS"|"FAILED"|"MERGED"|"IGNORED"|"RETRY",
--    "sfid", "error": {"code","message","fields"}, "retry_after_seconds"}.
-- Results whose token no longer holds the change's lease are ignored (fencing), and so are results
-- about changes of another schema than the session's (a sidecar cannot complete another org's
-- change, and learns nothing about it). SUCCESS writes the
-- sfid of inserts into the row and sets _hc_lastop INSERTED/UPDATED; FAILED stores Salesforce's error
-- on the entry and in _hc_err; RETRY releases the change with a backoff, or fails it after
-- p_max_attempts. Finished entries are archived. Returns {"applied": n, "ignored": [ids]}.
CREATE OR REPLACE FUNCTION sfsync._complete_changes(p_results jsonb, p_max_attempts integer DEFAULT 10)
    RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    -- lookups by key only: see _claim_changes
    SET enable_seqscan = off
    SET enable_bitmapscan = off
    SET sfsync.origin = 'salesforce'
    AS $$
DECLARE
    v_mapping sfsync.mapping;
    v_results sfsync._result[];
    v_ignored jsonb;
    v_bad text;
    v_also_finished bigint[];
    v_scope text := sfsync._protocol_scope();
    v_table regclass;
    v_mine sfsync._result[];
    v_record bigint;
BEGIN
    IF jsonb_typeof(p_results) IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('results must be a JSON array, not %s', coalesce(jsonb_typeof(p_results), 'NULL'));
    END IF;
    SELECT string_agg(r::text, ', ') INTO v_bad FROM jsonb_array_elements(p_results) r
     WHERE jsonb_typeof(r) <> 'object' OR jsonb_typeof(r->'id') IS DISTINCT FROM 'number'
        OR jsonb_typeof(r->'token') IS DISTINCT FROM 'string'
        OR coalesce(r->>'outcome', '') NOT IN ('SUCCESS', 'FAILED', 'MERGED', 'IGNORED', 'RETRY')
        OR (r ? 'error' AND jsonb_typeof(r->'error') NOT IN ('object', 'null'));
    IF v_bad IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('each result needs a numeric "id", a string "token" and an "outcome" of SUCCESS, FAILED, MERGED, IGNORED or RETRY ("error" must be an object); bad results: %s', v_bad);
    END IF;

    -- only results whose token still holds the lease count (fencing); the changes are locked so a
    -- concurrent re-claim after lease expiry waits and then sees them finished
    SELECT array_agg(ROW(r.id, r.token,
                         CASE WHEN r.outcome = 'RETRY' AND c.attempts >= p_max_attempts THEN 'FAILED' ELSE r.outcome END,
                         r.sfid, r.error, r.retry_after_seconds, c.mapping_id, c.record_id, c.action,
                         c.attempts)::sfsync._result ORDER BY r.id)
      INTO v_results
      FROM (SELECT c.* FROM sfsync.change c
             WHERE c.id = ANY (ARRAY(SELECT (e->>'id')::bigint FROM jsonb_array_elements(p_results) e))
               AND (v_scope IS NULL
                    OR c.mapping_id IN (SELECT m.id FROM sfsync.mapping m WHERE m.schema_name = v_scope))
             ORDER BY c.id
               FOR UPDATE) c
      JOIN (SELECT * FROM jsonb_to_recordset(p_results)
              AS x(id bigint, token uuid, outcome text, sfid text, error jsonb, retry_after_seconds double precision)) r
        ON c.id = r.id AND c.state = 'PENDING' AND c.lease_token = r.token;
    v_results := coalesce(v_results, '{}');
    v_ignored := coalesce((SELECT jsonb_agg(r->'id') FROM jsonb_array_elements(p_results) r
                            WHERE (r->>'id')::bigint NOT IN (SELECT s.id FROM unnest(v_results) s)),
                          '[]');

    -- transient failures: back off and try again later
    UPDATE sfsync.change c
       SET state = 'NEW', lease_token = NULL, lease_until = NULL, updated_at = now(),
           sf_result = s.error->>'code', sf_message = s.error->>'message', sf_error = s.error,
           not_before = now() + make_interval(secs => coalesce(s.retry_after_seconds,
                                 least(300, power(2, c.attempts)) * (0.5 + random() / 2)))
      FROM unnest(v_results) s
     WHERE c.id = s.id AND s.outcome = 'RETRY';

    UPDATE sfsync.change c
       SET state = s.outcome, processed_at = now(), processed_tx = pg_current_xact_id(), updated_at = now(),
           lease_until = NULL,
           sfid = coalesce(s.sfid, c.sfid),
           sf_result = CASE WHEN s.outcome = 'FAILED' THEN coalesce(s.error->>'code', 'UNKNOWN_ERROR') END,
           sf_message = CASE WHEN s.outcome = 'FAILED' THEN
                                 coalesce(s.error->>'message', 'Salesforce rejected the change')
                             ELSE s.error->>'message' END,
           sf_error = CASE WHEN s.outcome = 'FAILED' THEN s.error END
      FROM unnest(v_results) s
     WHERE c.id = s.id AND s.outcome <> 'RETRY';

    -- an insert that reached Salesforce gives its sfid to the record's later changes (a DELETE or
    -- UPDATE queued while the insert was in flight)
    UPDATE sfsync.change c SET sfid = s.sfid, updated_at = now()
      FROM unnest(v_results) s
     WHERE s.outcome = 'SUCCESS' AND s.sfid IS NOT NULL AND c.mapping_id = s.mapping_id
       AND c.record_id = s.record_id AND c.state IN ('NEW', 'PENDING') AND c.sfid IS NULL;
    -- an insert that failed for good: a DELETE queued behind it has nothing to delete
    WITH ignored AS (
        UPDATE sfsync.change c SET state = 'IGNORED', processed_at = now(), updated_at = now(),
                                   sf_message = 'the insert of this row failed: nothing to delete'
          FROM unnest(v_results) s
         WHERE s.outcome = 'FAILED' AND s.action = 'INSERT' AND c.mapping_id = s.mapping_id
           AND c.record_id = s.record_id AND c.state = 'NEW' AND c.action = 'DELETE' AND c.sfid IS NULL
        RETURNING c.id
    )
    SELECT array_agg(id) INTO v_also_finished FROM ignored;

    -- the rows: sfid, _hc_lastop, _hc_err. A result the database refuses to record (a row's own
    -- constraint or trigger, an sfid another row already holds) must not roll back the others, or the
    -- batch would be claimed and sent again every lease: then each record is recorded on its own and
    -- the refused one ends FAILED with the database's error.
    FOR v_mapping IN SELECT * FROM sfsync.mapping
                      WHERE id IN (SELECT DISTINCT s.mapping_id FROM unnest(v_results) s
                                    WHERE s.outcome IN ('SUCCESS', 'FAILED')) LOOP
        v_table := sfsync._mapped_table(v_mapping, false);
        CONTINUE WHEN v_table IS NULL;
        v_mine := ARRAY(SELECT s FROM unnest(v_results) s
                         WHERE s.mapping_id = v_mapping.id AND s.outcome IN ('SUCCESS', 'FAILED'));
        BEGIN
            PERFORM sfsync._record_results(v_mapping, v_table, v_mine);
        EXCEPTION
            WHEN serialization_failure OR deadlock_detected OR lock_not_available THEN
                RAISE;   -- transient: the whole call fails and the sidecar sends the results again
            WHEN OTHERS THEN
                FOR v_record IN SELECT DISTINCT s.record_id FROM unnest(v_mine) s ORDER BY 1 LOOP
                    PERFORM sfsync._record_results_of(v_mapping, v_table,
                        ARRAY(SELECT s FROM unnest(v_mine) s WHERE s.record_id = v_record));
                END LOOP;
        END;
        UPDATE sfsync.mapping SET last_write_at = now() WHERE id = v_mapping.id;
    END LOOP;

    PERFORM sfsync._archive_finished(ARRAY(SELECT s.id FROM unnest(v_results) s WHERE s.outcome <> 'RETRY')
                                     || coalesce(v_also_finished, '{}'));
    RETURN jsonb_build_object('applied', cardinality(v_results), 'ignored', v_ignored);
END
$$;
COMMENT ON FUNCTION sfsync._complete_changes(jsonb, integer) IS
    'sfsync (sidecar): records Salesforce''s per-record results for claimed changes (fenced by lease token)';

-- Sidecar housekeeping: deletes archived changes older than the retention, of the session's schema
-- (and those whose mapping no longer exists, which belong to no schema).
CREATE OR REPLACE FUNCTION sfsync._purge_archive(p_retention interval DEFAULT '31 days')
    RETURNS bigint
    LANGUAGE sql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    WITH scope AS (SELECT sfsync._protocol_scope() AS schema_name),
    purged AS (
        DELETE FROM sfsync.change_archive a
         USING scope
         WHERE a.archived_at < now() - sfsync._check_retention(p_retention)
           AND (scope.schema_name IS NULL
                OR NOT EXISTS (SELECT 1 FROM sfsync.mapping m WHERE m.id = a.mapping_id AND m.schema_name <> scope.schema_name))
        RETURNING 1
    )
    SELECT count(*) FROM purged
$$;
COMMENT ON FUNCTION sfsync._purge_archive(interval) IS 'sfsync (sidecar): purges archived changes older than the retention';

-- The staging table of a mapping in this session: one text column per mapped column, in plan order.
-- The sidecar COPYs Salesforce data (Bulk API CSV) into it, then calls sfsync._merge_stage. Returns
-- {"table": ..., "columns": [...], "fields": [...]} (fields: the SOQL names, in the same order).
-- Created as sfsync_owner, which the calling role may only insert into: it can put no trigger or
-- rule on it for _merge_stage to run.
CREATE OR REPLACE FUNCTION sfsync._create_stage(p_mapping bigint)
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

-- The merge learns when its read began (p_read_started, below): the two functions gain a parameter.
DROP FUNCTION sfsync._apply_records(bigint, jsonb, text, text[]);
DROP FUNCTION sfsync._merge_stage(bigint, text, text[]);

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
GRANT EXECUTE ON FUNCTION
    sfsync._merge_stage(bigint, text, text[], timestamptz),
    sfsync._apply_records(bigint, jsonb, text, text[], timestamptz)
    TO sfsync_agent;

-- Records deleted in Salesforce (getDeleted, CDC DELETE events, records that left the filter).
-- Rows go, or are marked isdeleted with keep_deleted (p_hard forces removal: e.g. left the filter).
CREATE OR REPLACE FUNCTION sfsync._delete_records(p_mapping bigint, p_sfids text[], p_hard boolean DEFAULT false)
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

-- Creates or alters a mapping's table from a Salesforce describe (the sidecar calls this after
-- describing the object; create_mapping calls it when options.describe is given). Returns the plan.
CREATE OR REPLACE FUNCTION sfsync._install_mapping(p_mapping bigint, p_describe jsonb, p_parents jsonb DEFAULT NULL)
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

-- Sidecar: moves a mapping through its states (NEW → DESCRIBING → LOADING → SYNCED, ERROR, ...).
CREATE OR REPLACE FUNCTION sfsync._set_state(p_mapping bigint, p_state text, p_detail text DEFAULT NULL)
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
CREATE OR REPLACE FUNCTION sfsync._set_progress(p_mapping bigint, p_expected bigint, p_done bigint)
    RETURNS void
    LANGUAGE sql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT sfsync._check_scope(p_mapping);
    UPDATE sfsync.mapping SET load_expected = p_expected, load_done = p_done, updated_at = now() WHERE id = p_mapping
$$;
COMMENT ON FUNCTION sfsync._set_progress(bigint, bigint, bigint) IS 'sfsync (sidecar): records load progress';

-- Sidecar: takes or renews the reading lease of a mapping. Returns true when p_owner holds it.
CREATE OR REPLACE FUNCTION sfsync._acquire_reader(p_mapping bigint, p_owner text, p_lease_seconds integer DEFAULT 30)
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
CREATE OR REPLACE FUNCTION sfsync._release_reader(p_mapping bigint, p_owner text)
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

-- Sidecar: stores the reader's position: the high-water mark, the CDC replay id, and how far the
-- getDeleted sweep has covered (NULL keeps a stored value).
CREATE OR REPLACE FUNCTION sfsync._set_reader_position(p_mapping bigint, p_hwm timestamptz DEFAULT NULL,
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
CREATE OR REPLACE FUNCTION sfsync._finish_reload(p_mapping bigint, p_requested_at timestamptz DEFAULT NULL)
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
CREATE OR REPLACE FUNCTION sfsync._finish_backfill(p_mapping bigint, p_fields text[])
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


-- Per mapping of the session's schema (every mapping, so drained ones read zero): changes waiting
-- (NEW) and being written (PENDING), and the age of the oldest of them; for the sidecar's gauges.
CREATE OR REPLACE FUNCTION sfsync._queue_depth()
    RETURNS TABLE (mapping_id bigint, schema_name text, object_name text, queued bigint, in_flight bigint,
                   oldest_age_seconds double precision)
    LANGUAGE sql
    STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    -- the scope once per call, not per row
    WITH scope AS (SELECT sfsync._protocol_scope() AS schema_name)
    SELECT m.id, m.schema_name, m.object_name,
           count(c.id) FILTER (WHERE c.state = 'NEW'), count(c.id) FILTER (WHERE c.state = 'PENDING'),
           coalesce(extract(epoch FROM now() - min(c.created_at)), 0)::float8
      FROM scope
      JOIN sfsync.mapping m ON scope.schema_name IS NULL OR m.schema_name = scope.schema_name
      LEFT JOIN sfsync.change c ON c.mapping_id = m.id AND c.state IN ('NEW', 'PENDING')
     GROUP BY m.id, m.schema_name, m.object_name
     ORDER BY m.schema_name, m.object_name
$$;
COMMENT ON FUNCTION sfsync._queue_depth() IS
    'sfsync (sidecar): queued and in-flight changes per mapping of the session''s schema, and the oldest one''s age';

-- Queued work per mapping of the session's schema that Bulk API 2.0 could carry: INSERTs whose
-- values carry the mapping's upsert column (p_mappings paired with p_upsert_columns, as the sidecar
-- plans them), and UPDATEs and DELETEs of records that have an sfid.
CREATE OR REPLACE FUNCTION sfsync._backlog(p_mappings bigint[], p_upsert_columns text[])
    RETURNS TABLE (mapping_id bigint, creates_with_external_id bigint, changes_by_id bigint)
    LANGUAGE sql
    STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    -- the scope once per call, not per row
    WITH scope AS (SELECT sfsync._protocol_scope() AS schema_name)
    SELECT c.mapping_id,
           count(*) FILTER (WHERE c.action = 'INSERT' AND u.upsert_column IS NOT NULL
                              AND jsonb_typeof(c."values" -> u.upsert_column) <> 'null'),
           count(*) FILTER (WHERE c.action <> 'INSERT' AND c.sfid IS NOT NULL)
      FROM scope
      JOIN sfsync.mapping m ON scope.schema_name IS NULL OR m.schema_name = scope.schema_name
      JOIN sfsync.change c ON c.mapping_id = m.id
      LEFT JOIN unnest(p_mappings, p_upsert_columns) AS u(mapping_id, upsert_column) ON u.mapping_id = c.mapping_id
     WHERE c.state = 'NEW'
     GROUP BY c.mapping_id
$$;
COMMENT ON FUNCTION sfsync._backlog(bigint[], text[]) IS
    'sfsync (sidecar): queued changes per mapping of the session''s schema that Bulk API 2.0 could carry';

-- Which of p_sfids of a mapping the writer may still be completing: records with a claimed change,
-- or NULL among them while an insert without an sfid is in flight (its record's id is not known yet).
CREATE OR REPLACE FUNCTION sfsync._in_flight(p_mapping bigint, p_sfids text[])
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


-- status() gains the org each schema is bound to (a new result column: dropped and created again).
DROP FUNCTION sfsync.status();
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


-- Privileges: the sidecar no longer reads the queue tables; it sees its own schema's mappings.
REVOKE ALL ON FUNCTION sfsync._bind_session(text), sfsync._session_schema(), sfsync._id18(text),
    sfsync._org_id(text), sfsync._protocol_scope(), sfsync._check_scope(bigint), sfsync._set_binding(text, text),
    sfsync._open_session(text, text, boolean), sfsync._org_binding(text), sfsync.bind_org(text, text),
    sfsync._notify_control(text, bigint, text), sfsync._queue_depth(), sfsync._backlog(bigint[], text[]),
    sfsync._in_flight(bigint, text[]), sfsync.status() FROM PUBLIC;
REVOKE ALL ON sfsync.org FROM PUBLIC;
REVOKE SELECT ON sfsync.change, sfsync.change_archive, sfsync.conflict FROM sfsync_agent;
REVOKE EXECUTE ON FUNCTION sfsync._archive_finished(bigint[]), sfsync.export_config(text) FROM sfsync_agent;
GRANT SELECT ON sfsync.org TO sfsync_admin;
ALTER TABLE sfsync.mapping ENABLE ROW LEVEL SECURITY;
CREATE POLICY mapping_admin ON sfsync.mapping FOR SELECT TO sfsync_admin USING (true);
CREATE POLICY mapping_agent ON sfsync.mapping FOR SELECT TO sfsync_agent
    USING (schema_name = sfsync._session_schema());
GRANT EXECUTE ON FUNCTION sfsync.status(), sfsync.bind_org(text, text) TO sfsync_admin;
GRANT EXECUTE ON FUNCTION
    sfsync.status(),
    sfsync._session_schema(),
    sfsync._check_scope(bigint),
    sfsync._open_session(text, text, boolean),
    sfsync._org_binding(text),
    sfsync._queue_depth(),
    sfsync._backlog(bigint[], text[]),
    sfsync._in_flight(bigint, text[])
    TO sfsync_agent;

-- Backups keep the id sequences (issue 15). 0.1.0 registered only the catalog tables with
-- pg_extension_config_dump, so pg_dump left out the state of their id sequences and a restored
-- database started them at 1 again: the next mapping, queued change or conflict collided with a
-- restored id. Registering the sequences makes pg_dump emit their setval (see sql/bootstrap.sql).
SELECT pg_catalog.pg_extension_config_dump('sfsync.mapping_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('sfsync.change_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('sfsync.conflict_id_seq', '');

-- ============================================================================================
-- A DELETE of a row that has no sfid yet (called by the capture trigger as sfsync_owner):
--   its INSERT is still queued, never sent → the INSERT and later updates become IGNORED, nothing is sent;
--   its INSERT is in flight, or was sent before and came back to the queue (a lost answer, a crash:
--   the record may exist) → the DELETE is queued behind it and gets the sfid when the INSERT completes;
--   its INSERT failed earlier  → nothing exists in Salesforce: recorded as IGNORED.
CREATE OR REPLACE FUNCTION sfsync._capture_unsynced_delete(p_mapping bigint, p_record bigint, p_old jsonb)
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

-- ============================================================================================
-- sidecar credentials (issue 16)
-- A sidecar's refresh token after Salesforce rotated it (Connected App "Refresh Token Rotation": each
-- use of a refresh token returns a new one and retires the one used), one row per schema. Without it
-- a restarted sidecar would present its configured token, which rotation has retired: it could not
-- log in again. rotated_from is the SHA-256 (hex) of the CONFIGURED refresh token the chain of
-- rotations started from, whichever link of the chain refresh_token is: a token is only handed back
-- to a sidecar still configured with that token, so an operator who configures a new one is never
-- overridden by an old rotated one.
-- No privileges for anyone but its owner: reached only through the two functions below, by a
-- session bound to the schema. Deliberately not registered with pg_extension_config_dump: pg_dump
-- leaves its rows out, so a restored backup never resurrects a (since revoked) refresh token.
CREATE TABLE sfsync.credential (
    schema_name   text PRIMARY KEY,
    rotated_from  text NOT NULL,
    refresh_token text NOT NULL,
    rotated_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE sfsync.credential IS
    'sfsync: the latest rotated Salesforce refresh token of each schema''s sidecar (owner only; not in backups)';

-- Saves p_token as the session schema's refresh token, replacing the one saved before. The caller
-- passes the SHA-256 (hex) of the refresh token in its configuration, also when p_token replaces a
-- token that was itself rotated: rotated_from always names the configured start of the chain. The
-- messages never repeat the token.
CREATE FUNCTION sfsync._save_refresh_token(p_configured_sha256 text, p_token text)
    RETURNS void
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    -- only the schema the session is bound to, never one the caller names (superusers too)
    v_schema text := sfsync._session_schema();
BEGIN
    IF v_schema IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = 'this session is not bound to a schema: refresh tokens are kept per schema',
            HINT = 'A sidecar calls sfsync._open_session(schema, org_id) first.';
    END IF;
    IF p_configured_sha256 IS NULL OR p_configured_sha256 !~ '^[0-9a-f]{64}$' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'the configured refresh token''s hash must be 64 lower-case hex digits (SHA-256)';
    END IF;
    IF p_token IS NULL OR p_token = '' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'the refresh token to save is empty';
    END IF;
    INSERT INTO sfsync.credential (schema_name, rotated_from, refresh_token)
    VALUES (v_schema, p_configured_sha256, p_token)
        ON CONFLICT (schema_name) DO UPDATE
       SET rotated_from = excluded.rotated_from, refresh_token = excluded.refresh_token, rotated_at = now();
END
$$;
COMMENT ON FUNCTION sfsync._save_refresh_token(text, text) IS
    'sfsync (sidecar): saves the rotated refresh token of the session''s schema, rotated from the configured token with this SHA-256';

-- The session schema's saved refresh token, only if its chain started from the configured token
-- whose SHA-256 (hex) the caller passes; NULL otherwise (none saved, or the configuration names
-- another token: that one is used).
CREATE FUNCTION sfsync._saved_refresh_token(p_configured_sha256 text)
    RETURNS text
    LANGUAGE plpgsql
    STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    -- only the schema the session is bound to, never one the caller names (superusers too)
    v_schema text := sfsync._session_schema();
BEGIN
    IF v_schema IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = 'this session is not bound to a schema: refresh tokens are kept per schema',
            HINT = 'A sidecar calls sfsync._open_session(schema, org_id) first.';
    END IF;
    RETURN (SELECT c.refresh_token FROM sfsync.credential c
             WHERE c.schema_name = v_schema AND c.rotated_from = p_configured_sha256);
END
$$;
COMMENT ON FUNCTION sfsync._saved_refresh_token(text) IS
    'sfsync (sidecar): the saved refresh token of the session''s schema if it was rotated from the configured token with this SHA-256';

-- Privileges as in sql/grants.sql: nothing for PUBLIC (the REVOKE also makes the table's owner-only
-- ACL explicit, as a fresh install's REVOKE ALL ON ALL TABLES does), the two functions for sidecars.
REVOKE ALL ON sfsync.credential FROM PUBLIC;
REVOKE ALL ON FUNCTION sfsync._save_refresh_token(text, text), sfsync._saved_refresh_token(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    sfsync._save_refresh_token(text, text),
    sfsync._saved_refresh_token(text)
    TO sfsync_agent;

-- ============================================================================================
-- Reconciliation (issue 18): per mapping, how often it runs, when it last finished, an open
-- request; the history table and the functions the sidecar compares and repairs with
-- (sql/reconcile.sql, as on a fresh install).
ALTER TABLE sfsync.mapping
    ADD COLUMN reconcile_seconds integer NOT NULL DEFAULT 21600 CHECK (reconcile_seconds BETWEEN 60 AND 31536000),
    ADD COLUMN last_reconciled_at timestamptz,
    ADD COLUMN reconcile_requested_at timestamptz;

-- Reconciliation: the sidecar compares a mapping's table with its Salesforce object and repairs the
-- difference (records missing locally, rows whose record is gone or left the filter, rows older than
-- their record). It counts both sides over SystemModstamp ranges first and reads records only where
-- the counts differ. These functions give it the local side; sfsync.reconciliation keeps the history.

CREATE TABLE sfsync.reconciliation (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    mapping_id  bigint NOT NULL,
    -- why it ran: the mapping's schedule (reconcile_seconds), sfsync.reconcile(), or a read position
    -- older than what Salesforce keeps (getDeleted's or CDC's retention)
    reason      text NOT NULL CHECK (reason IN ('schedule', 'requested', 'retention')),
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    api_calls   integer,
    -- per kind: {"missing": n, "vanished": n, "stale": n}
    found       jsonb,
    repaired    jsonb,
    -- drift not repaired because the row has a queued or in-flight local change
    skipped     bigint,
    error       text
);
-- at most one reconciliation runs per mapping
CREATE UNIQUE INDEX reconciliation_running_idx ON sfsync.reconciliation (mapping_id) WHERE finished_at IS NULL;
CREATE INDEX reconciliation_mapping_idx ON sfsync.reconciliation (mapping_id, started_at);
COMMENT ON TABLE sfsync.reconciliation IS
    'sfsync: every reconciliation of a mapping with Salesforce: when and why it ran, the API calls it spent, the drift it found and repaired per kind (missing, vanished, stale)';
SELECT pg_catalog.pg_extension_config_dump('sfsync.reconciliation', '');
SELECT pg_catalog.pg_extension_config_dump('sfsync.reconciliation_id_seq', '');

-- Asks the sidecar to reconcile a mapping soon; returns at once.
CREATE FUNCTION sfsync.reconcile(object_name text, schema text DEFAULT 'salesforce')
    RETURNS void
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    m sfsync.mapping;
BEGIN
    m := sfsync._mapping_for_update(reconcile.object_name, reconcile.schema);
    UPDATE sfsync.mapping SET reconcile_requested_at = now(), updated_at = now() WHERE id = m.id;
    PERFORM sfsync._notify_control('reconcile', m.id, m.schema_name);
END
$$;
COMMENT ON FUNCTION sfsync.reconcile(text, text) IS
    'Compares the mapped table with its Salesforce object and repairs the drift (done by the sidecar soon; see sfsync.reconciliation and status()).';

-- The mapped table of a mapping for reconciliation, checked; raises unless it has the columns the
-- comparison needs.
CREATE FUNCTION sfsync._reconcile_table(p_mapping bigint)
    RETURNS regclass
    LANGUAGE plpgsql
    STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    m sfsync.mapping;
    v_table regclass;
BEGIN
    PERFORM sfsync._check_scope(p_mapping);
    SELECT * INTO m FROM sfsync.mapping WHERE id = p_mapping;
    IF NOT FOUND OR m.columns IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('mapping %s does not exist or has no table yet', p_mapping);
    END IF;
    v_table := sfsync._mapped_table(m);
    IF v_table IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_table',
            MESSAGE = format('the table %I.%I of mapping %s does not exist', m.schema_name, m.table_name, p_mapping);
    END IF;
    IF NOT m.columns @> '[{"column": "systemmodstamp"}]' THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_column',
            MESSAGE = format('the mapping of %s has no systemmodstamp column to reconcile by', m.object_name);
    END IF;
    RETURN v_table;
END
$$;
COMMENT ON FUNCTION sfsync._reconcile_table(bigint) IS
    'sfsync: the checked table of a mapping to reconcile (it must have systemmodstamp)';

-- The rows a reconciliation compares: with an sfid, and (under keep_deleted) not marked isdeleted.
CREATE FUNCTION sfsync._reconcile_scope(p_mapping bigint)
    RETURNS text
    LANGUAGE sql
    STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT CASE WHEN columns @> '[{"column": "isdeleted"}]' THEN 't.sfid IS NOT NULL AND t.isdeleted IS NOT TRUE'
                ELSE 't.sfid IS NOT NULL' END
      FROM sfsync.mapping WHERE id = p_mapping
$$;
COMMENT ON FUNCTION sfsync._reconcile_scope(bigint) IS
    'sfsync: the SQL condition on a mapped table (alias t) selecting the rows a reconciliation compares with Salesforce';

-- Splits the rows whose systemmodstamp lies in [p_from, p_to) (NULL: unbounded) into about p_buckets
-- ranges of equal size and counts each. Bounds are SOQL datetime literals (UTC, whole seconds);
-- the first range starts at p_from and the last ends at p_to, so together they cover it all.
CREATE FUNCTION sfsync._reconcile_buckets(p_mapping bigint, p_buckets integer,
                                          p_from text DEFAULT NULL, p_to text DEFAULT NULL)
    RETURNS TABLE (lower_bound text, upper_bound text, row_count bigint)
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_table regclass := sfsync._reconcile_table(p_mapping);
    v_cuts timestamp[];
    v_counts bigint[];
    v_from timestamp := p_from::timestamptz AT TIME ZONE 'UTC';
    v_to timestamp := p_to::timestamptz AT TIME ZONE 'UTC';
    v_range text;
    i integer;
BEGIN
    IF p_buckets IS NULL OR p_buckets NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('buckets must be between 1 and 1000, not %s', coalesce(p_buckets::text, 'NULL'));
    END IF;
    v_range := format('%s AND t.systemmodstamp IS NOT NULL AND ($1 IS NULL OR t.systemmodstamp >= $1) AND ($2 IS NULL OR t.systemmodstamp < $2)',
                      sfsync._reconcile_scope(p_mapping));
    -- cut points: the distinct quantiles, in whole seconds (SOQL datetime literals have no fraction)
    EXECUTE format(
        'SELECT array(SELECT DISTINCT date_trunc(''second'', q) FROM unnest(
             (SELECT percentile_disc(array(SELECT g::float8 / $3 FROM generate_series(1, $3 - 1) g))
                     WITHIN GROUP (ORDER BY t.systemmodstamp) FROM %s t WHERE %s)) q
          WHERE ($1 IS NULL OR q > $1) ORDER BY 1)',
        v_table, v_range)
      INTO v_cuts USING v_from, v_to, p_buckets;
    v_cuts := coalesce(v_cuts, '{}');
    -- one pass: the number of rows below each cut (width_bucket numbers the ranges 0..n)
    EXECUTE format(
        'SELECT array(SELECT coalesce(c.n, 0) FROM generate_series(0, cardinality($3)) b
                        LEFT JOIN (SELECT width_bucket(t.systemmodstamp, $3) AS b, count(*) AS n
                                     FROM %s t WHERE %s GROUP BY 1) c USING (b)
                       ORDER BY b)',
        v_table, v_range)
      INTO v_counts USING v_from, v_to, v_cuts;
    FOR i IN 0 .. cardinality(v_cuts) LOOP
        lower_bound := to_char(CASE WHEN i = 0 THEN v_from ELSE v_cuts[i] END, 'YYYY-MM-DD"T"HH24:MI:SS"Z"');
        upper_bound := to_char(CASE WHEN i = cardinality(v_cuts) THEN v_to ELSE v_cuts[i + 1] END, 'YYYY-MM-DD"T"HH24:MI:SS"Z"');
        row_count := v_counts[i + 1];
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION sfsync._reconcile_buckets(bigint, integer, text, text) IS
    'sfsync (sidecar): splits a mapping''s rows in a SystemModstamp range into ranges of about equal size, with the rows in each';

-- The rows whose systemmodstamp lies in [p_from, p_to) (NULL: unbounded), or with p_sfids the rows
-- of those sfids whatever their stamp (also none): sfid, stamp (a SOQL datetime literal with
-- milliseconds) and whether a local change is queued or in flight.
CREATE FUNCTION sfsync._reconcile_rows(p_mapping bigint, p_from text DEFAULT NULL, p_to text DEFAULT NULL,
                                       p_sfids text[] DEFAULT NULL)
    RETURNS TABLE (sfid text, systemmodstamp text, queued boolean)
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_table regclass := sfsync._reconcile_table(p_mapping);
BEGIN
    RETURN QUERY EXECUTE format(
        'SELECT t.sfid::text, to_char(t.systemmodstamp, ''YYYY-MM-DD"T"HH24:MI:SS.MS"Z"''),
                EXISTS (SELECT 1 FROM sfsync.change c WHERE c.mapping_id = %s AND c.record_id = t.id)
           FROM %s t
          WHERE %s AND CASE WHEN $3 IS NOT NULL THEN t.sfid = ANY ($3)
                            ELSE t.systemmodstamp IS NOT NULL AND ($1 IS NULL OR t.systemmodstamp >= $1)
                                 AND ($2 IS NULL OR t.systemmodstamp < $2) END',
        p_mapping, v_table, sfsync._reconcile_scope(p_mapping))
      USING p_from::timestamptz AT TIME ZONE 'UTC', p_to::timestamptz AT TIME ZONE 'UTC', p_sfids;
END
$$;
COMMENT ON FUNCTION sfsync._reconcile_rows(bigint, text, text, text[]) IS
    'sfsync (sidecar): a mapping''s rows in a SystemModstamp range, or of given sfids: sfid, stamp, and whether a local change is queued';

-- Rows whose records no longer exist in Salesforce (or, with p_left_filter, no longer match the
-- mapping's filter): removed, or marked isdeleted under keep_deleted (a record that left the filter
-- is removed either way). Never a row with a queued or in-flight local change. Returns the count.
CREATE FUNCTION sfsync._remove_vanished(p_mapping bigint, p_sfids text[], p_left_filter boolean DEFAULT false)
    RETURNS bigint
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET sfsync.origin = 'salesforce'
    AS $$
DECLARE
    m sfsync.mapping;
    v_table regclass := sfsync._reconcile_table(p_mapping);
    v_count bigint;
BEGIN
    SELECT * INTO m FROM sfsync.mapping WHERE id = p_mapping;
    IF m.keep_deleted AND NOT p_left_filter AND m.columns @> '[{"column": "isdeleted"}]' THEN
        EXECUTE format('UPDATE %s t SET isdeleted = true, _hc_lastop = ''SYNCED''
                         WHERE t.sfid = ANY ($1) AND t.isdeleted IS NOT TRUE
                           AND NOT EXISTS (SELECT 1 FROM sfsync.change c WHERE c.mapping_id = %s AND c.record_id = t.id)',
                       v_table, m.id) USING p_sfids;
    ELSE
        EXECUTE format('DELETE FROM %s t WHERE t.sfid = ANY ($1)
                           AND NOT EXISTS (SELECT 1 FROM sfsync.change c WHERE c.mapping_id = %s AND c.record_id = t.id)',
                       v_table, m.id) USING p_sfids;
    END IF;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION sfsync._remove_vanished(bigint, text[], boolean) IS
    'sfsync (sidecar): removes (or marks isdeleted) rows whose records are gone from Salesforce or left the filter, never one with a queued change';

-- Starts a reconciliation of a mapping; an unfinished one left by a sidecar that stopped is closed
-- first (at most one runs per mapping). Returns its id.
CREATE FUNCTION sfsync._begin_reconcile(p_mapping bigint, p_reason text)
    RETURNS bigint
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_id bigint;
BEGIN
    IF p_reason IS NULL OR p_reason NOT IN ('schedule', 'requested', 'retention') THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('a reconciliation''s reason is schedule, requested or retention, not %s',
                             coalesce(quote_literal(p_reason), 'NULL'));
    END IF;
    PERFORM sfsync._reconcile_table(p_mapping);
    UPDATE sfsync.reconciliation SET finished_at = now(), error = 'interrupted: the sidecar stopped before it finished'
     WHERE mapping_id = p_mapping AND finished_at IS NULL;
    INSERT INTO sfsync.reconciliation (mapping_id, reason) VALUES (p_mapping, p_reason) RETURNING id INTO v_id;
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION sfsync._begin_reconcile(bigint, text) IS
    'sfsync (sidecar): records the start of a reconciliation of a mapping and returns its id';

-- Records what a reconciliation found and repaired (or its error). A request (sfsync.reconcile) made
-- before it started is served by it; one made later stays for the next.
CREATE FUNCTION sfsync._finish_reconcile(p_id bigint, p_api_calls integer, p_found jsonb, p_repaired jsonb,
                                         p_skipped bigint, p_error text DEFAULT NULL)
    RETURNS void
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r sfsync.reconciliation;
BEGIN
    SELECT * INTO r FROM sfsync.reconciliation WHERE id = p_id;
    IF NOT FOUND OR r.finished_at IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('reconciliation %s does not exist or is finished', p_id);
    END IF;
    PERFORM sfsync._check_scope(r.mapping_id);
    UPDATE sfsync.reconciliation
       SET finished_at = now(), api_calls = p_api_calls, found = p_found, repaired = p_repaired,
           skipped = p_skipped, error = p_error
     WHERE id = p_id;
    UPDATE sfsync.mapping
       SET last_reconciled_at = CASE WHEN p_error IS NULL THEN now() ELSE last_reconciled_at END,
           reconcile_requested_at = CASE WHEN p_error IS NULL AND reconcile_requested_at <= r.started_at THEN NULL
                                         ELSE reconcile_requested_at END
     WHERE id = r.mapping_id;
END
$$;
COMMENT ON FUNCTION sfsync._finish_reconcile(bigint, integer, jsonb, jsonb, bigint, text) IS
    'sfsync (sidecar): records the outcome of a reconciliation and clears the request it served';

-- privileges as in sql/grants.sql (the REVOKEs make the ACLs explicit, as a fresh install's do)
REVOKE ALL ON sfsync.reconciliation FROM PUBLIC;
REVOKE ALL ON SEQUENCE sfsync.reconciliation_id_seq FROM PUBLIC;
GRANT SELECT ON sfsync.reconciliation TO sfsync_admin;
GRANT EXECUTE ON FUNCTION sfsync.reconcile(text, text) TO sfsync_admin;
GRANT EXECUTE ON FUNCTION
    sfsync._reconcile_buckets(bigint, integer, text, text),
    sfsync._reconcile_rows(bigint, text, text, text[]),
    sfsync._remove_vanished(bigint, text[], boolean),
    sfsync._begin_reconcile(bigint, text),
    sfsync._finish_reconcile(bigint, integer, jsonb, jsonb, bigint, text)
    TO sfsync_agent;

-- ============================================================================================
-- Fresh formula and roll-up fields (issue 19): per mapping, whether to keep fields Salesforce
-- computes from other records fresh, how often to re-read those on TODAY()/NOW(), what the sidecar
-- learned they depend on and what keeping them fresh cost; the option check (sql/mapping.sql) and the
-- functions the sidecar watches and refreshes with (sql/formulas.sql, as on a fresh install).
ALTER TABLE sfsync.mapping
    ADD COLUMN fresh_formulas boolean NOT NULL DEFAULT true,
    ADD COLUMN formula_refresh_seconds integer NOT NULL DEFAULT 3600 CHECK (formula_refresh_seconds BETWEEN 60 AND 604800),
    ADD COLUMN dependencies jsonb,
    ADD COLUMN formula_api_calls bigint NOT NULL DEFAULT 0,
    ADD COLUMN formula_rows_refreshed bigint NOT NULL DEFAULT 0,
    ADD COLUMN formulas_refreshed_at timestamptz;

-- The mapping option formula_refresh_seconds (how often fields on TODAY()/NOW() are re-read).
CREATE FUNCTION sfsync._check_formula_refresh_seconds(p_seconds integer)
    RETURNS integer
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF p_seconds IS NULL OR p_seconds NOT BETWEEN 60 AND 604800 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('formula_refresh_seconds must be between 60 and 604800 (a week), not %s', coalesce(p_seconds::text, 'NULL'));
    END IF;
    RETURN p_seconds;
END
$$;
COMMENT ON FUNCTION sfsync._check_formula_refresh_seconds(integer) IS
    'sfsync: the formula_refresh_seconds option, or an error unless it is between 60 and 604800';

-- Fresh formula and roll-up fields: a cross-object formula (Account.Industry shown on Contact) or a
-- roll-up summary (the sum of an invoice's lines) changes in Salesforce without its own record's
-- SystemModstamp moving, so neither polling nor change events bring the new value. The sidecar learns
-- which mapped fields depend on other records (sfsync._set_dependencies), watches those records (for a
-- parent mapped in the same schema, through its table: sfsync._changed_rows) and re-reads the
-- dependent values, which sfsync._refresh_fields applies; sfsync._count_formula_calls keeps what it
-- costs apart from the rest of the sync.

-- Stores what the sidecar learned from the describe and the Tooling API: the mapped fields that
-- depend on other records or on the clock, and the records to watch for them (the shape is
-- sfsync_protocol::Dependencies). NULL forgets it.
CREATE FUNCTION sfsync._set_dependencies(p_mapping bigint, p_dependencies jsonb)
    RETURNS void
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    -- a sidecar acts only on the mappings of its own schema
    PERFORM sfsync._check_scope(p_mapping);
    IF p_dependencies IS NOT NULL AND (jsonb_typeof(p_dependencies) <> 'object'
                                       OR jsonb_typeof(p_dependencies->'fields') IS DISTINCT FROM 'array') THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'dependencies must be a JSON object with a "fields" array';
    END IF;
    UPDATE sfsync.mapping SET dependencies = p_dependencies
     WHERE id = p_mapping AND dependencies IS DISTINCT FROM p_dependencies;
END
$$;
COMMENT ON FUNCTION sfsync._set_dependencies(bigint, jsonb) IS
    'sfsync (sidecar): stores the mapped fields that depend on other records, and what to watch for them';

-- Rows of a mapping's table whose systemmodstamp is at or after p_since, oldest first: how the
-- sidecar sees which records of a parent object mapped in the same schema changed, without asking
-- Salesforce (the parent's own reader keeps its table current).
CREATE FUNCTION sfsync._changed_rows(p_mapping bigint, p_since timestamptz, p_limit integer DEFAULT 10000)
    RETURNS TABLE (sfid text, systemmodstamp timestamptz)
    LANGUAGE plpgsql
    STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET TimeZone = 'UTC'
    AS $$
DECLARE
    m sfsync.mapping;
    v_table text;
BEGIN
    PERFORM sfsync._check_scope(p_mapping);
    SELECT * INTO m FROM sfsync.mapping mm WHERE mm.id = p_mapping;
    IF NOT FOUND OR m.columns IS NULL OR NOT m.columns @> '[{"column": "systemmodstamp"}]' THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('mapping %s does not exist or has no table with a systemmodstamp column', p_mapping);
    END IF;
    v_table := sfsync._mapped_table(m);
    IF v_table IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY EXECUTE format(
        'SELECT t.sfid::text, t.systemmodstamp AT TIME ZONE ''UTC'' FROM %s t
          WHERE t.systemmodstamp >= ($1 AT TIME ZONE ''UTC'') AND t.sfid IS NOT NULL
          ORDER BY t.systemmodstamp LIMIT $2', v_table)
        USING p_since, greatest(coalesce(p_limit, 10000), 1);
END
$$;
COMMENT ON FUNCTION sfsync._changed_rows(bigint, timestamptz, integer) IS
    'sfsync (sidecar): sfid and systemmodstamp of a mapping''s rows changed since a time, oldest first';

-- Applies re-read values of fields Salesforce computes (formulas, roll-ups) to the rows of their
-- records. Records are REST JSON objects with "Id", "SystemModstamp" and the re-read fields. Only
-- columns Salesforce computes are written (neither insertable nor updatable, not sfsync's own), so a
-- queued local change to the same row is never touched, and only rows at the very version read (same
-- systemmodstamp): a row whose record changed since is brought whole by its own read. No row is
-- inserted or deleted, the read position does not move, and capture does not see the update.
-- Returns the rows whose values changed.
CREATE FUNCTION sfsync._refresh_fields(p_mapping bigint, p_records jsonb)
    RETURNS bigint
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET sfsync.origin = 'salesforce'
    SET TimeZone = 'UTC'
    AS $$
DECLARE
    m sfsync.mapping;
    v_target text;
    v_columns jsonb;
    v_set text;
    v_new text;
    v_old text;
    v_same_version text := 'true';
    v_count bigint;
BEGIN
    PERFORM sfsync._check_scope(p_mapping);
    IF jsonb_typeof(p_records) IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('records must be a JSON array, not %s', coalesce(jsonb_typeof(p_records), 'NULL'));
    END IF;
    IF EXISTS (SELECT 1 FROM jsonb_array_elements(p_records) r
                WHERE jsonb_typeof(r) <> 'object' OR jsonb_typeof(r->'Id') IS DISTINCT FROM 'string') THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'records must be objects with a string "Id"';
    END IF;
    SELECT * INTO m FROM sfsync.mapping WHERE id = p_mapping;
    IF NOT FOUND OR m.columns IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('mapping %s does not exist or has no table yet', p_mapping);
    END IF;
    v_target := sfsync._mapped_table(m);
    IF v_target IS NULL THEN
        RETURN 0;
    END IF;
    -- the computed columns some record carries
    SELECT jsonb_agg(c ORDER BY n) INTO v_columns
      FROM jsonb_array_elements(m.columns) WITH ORDINALITY AS x(c, n)
     WHERE NOT coalesce((c->>'system')::boolean, false)
       AND NOT coalesce((c->>'insertable')::boolean, false)
       AND NOT coalesce((c->>'updatable')::boolean, false)
       AND c->>'relationship' IS NULL
       AND EXISTS (SELECT 1 FROM jsonb_array_elements(p_records) r WHERE r ? (c->'path'->>0));
    IF v_columns IS NULL THEN
        RETURN 0;
    END IF;
    SELECT string_agg(format('%I', c->>'column'), ', '),
           string_agg(sfsync._conv_sql(c->>'sf_type',
                          format('(r #>> %L)', (SELECT array_agg(p) FROM jsonb_array_elements_text(c->'path') p))), ', '),
           string_agg(format('t.%I', c->>'column'), ', ')
      INTO v_set, v_new, v_old
      FROM jsonb_array_elements(v_columns) c;
    IF m.columns @> '[{"column": "systemmodstamp"}]' THEN
        v_same_version := format('(t.systemmodstamp IS NULL OR NOT (r ? ''SystemModstamp'') OR t.systemmodstamp = %s)',
                                 sfsync._conv_sql('datetime', 'r->>''SystemModstamp'''));
    END IF;
    EXECUTE format(
        'UPDATE %1$s t SET (%2$s) = ROW(%3$s)
           FROM jsonb_array_elements($1) r
          WHERE t.sfid = r->>''Id'' AND %5$s AND ROW(%4$s) IS DISTINCT FROM ROW(%3$s)',
        v_target, v_set, v_new, v_old, v_same_version)
      USING p_records;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION sfsync._refresh_fields(bigint, jsonb) IS
    'sfsync (sidecar): applies re-read formula and roll-up values to the rows of their records, touching nothing else';

-- Counts what keeping dependent fields fresh cost: Salesforce API calls and rows whose values changed
-- (shown by status() apart from the rest of the sync).
CREATE FUNCTION sfsync._count_formula_calls(p_mapping bigint, p_calls bigint, p_rows bigint)
    RETURNS void
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    PERFORM sfsync._check_scope(p_mapping);
    IF coalesce(p_calls, -1) < 0 OR coalesce(p_rows, -1) < 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('calls and rows must be counts, not %s and %s', coalesce(p_calls::text, 'NULL'), coalesce(p_rows::text, 'NULL'));
    END IF;
    UPDATE sfsync.mapping
       SET formula_api_calls = formula_api_calls + p_calls,
           formula_rows_refreshed = formula_rows_refreshed + p_rows,
           formulas_refreshed_at = now()
     WHERE id = p_mapping;
END
$$;
COMMENT ON FUNCTION sfsync._count_formula_calls(bigint, bigint, bigint) IS
    'sfsync (sidecar): adds the API calls and refreshed rows of a dependent-field refresh to the mapping''s totals';

-- export_config carries the options 0.2.0 adds (reconcile_seconds, fresh_formulas,
-- formula_refresh_seconds) under config.sfsync, so import_config(export_config()) keeps them (as in
-- sql/heroku.sql)
-- The schema's mappings as a Heroku Connect mapping export (version 1), with sfsync's own options
-- under config.sfsync, so import_config(export_config()) recreates them.
CREATE OR REPLACE FUNCTION sfsync.export_config(schema text DEFAULT 'salesforce')
    RETURNS jsonb
    LANGUAGE sql
    STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT jsonb_build_object(
        'version', 1,
        'connection', jsonb_build_object('app_name', 'sfsync', 'schema_name', export_config.schema,
                                         'exported_at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"')),
        'mappings', coalesce(jsonb_agg(jsonb_build_object(
            'object_name', m.object_name,
            'config', jsonb_strip_nulls(jsonb_build_object(
                'access', m.access,
                'sf_notify_enabled', m.streaming,
                'sf_polling_seconds', m.poll_seconds,
                'sf_max_daily_api_calls', 30000,
                'fields', (SELECT jsonb_object_agg(f, '{}'::jsonb)
                             FROM unnest(ARRAY['Id', 'IsDeleted', 'SystemModstamp'] || m.fields) f),
                'indexes', jsonb_build_object('Id', jsonb_build_object('unique', true),
                                              'SystemModstamp', jsonb_build_object('unique', false))
                           || CASE WHEN m.upsert_field IS NOT NULL
                                   THEN jsonb_build_object(m.upsert_field, jsonb_build_object('unique', true))
                                   ELSE '{}' END
                           || m.indexes,
                'upsert_field', m.upsert_field,
                'sfsync', jsonb_strip_nulls(jsonb_build_object(
                    'filter', m.filter,
                    'read_only_fields', CASE WHEN cardinality(m.read_only_fields) > 0 THEN to_jsonb(m.read_only_fields) END,
                    'conflict', m.conflict,
                    'keep_deleted', m.keep_deleted,
                    'table', CASE WHEN m.table_name <> lower(m.object_name) THEN m.table_name END,
                    -- 0.2.0's options, when not at their defaults
                    'reconcile_seconds', CASE WHEN m.reconcile_seconds <> 21600 THEN m.reconcile_seconds END,
                    'fresh_formulas', CASE WHEN NOT m.fresh_formulas THEN false END,
                    'formula_refresh_seconds', CASE WHEN m.formula_refresh_seconds <> 3600 THEN m.formula_refresh_seconds END))))
            ) ORDER BY m.object_name), '[]'))
      FROM sfsync.mapping m
     WHERE m.schema_name = export_config.schema
$$;
COMMENT ON FUNCTION sfsync.export_config(text) IS
    'The schema''s mappings as a Heroku Connect mapping export (version 1), sfsync options under config.sfsync.';

-- privileges as in sql/grants.sql
REVOKE ALL ON FUNCTION
    sfsync._check_formula_refresh_seconds(integer),
    sfsync._set_dependencies(bigint, jsonb),
    sfsync._changed_rows(bigint, timestamptz, integer),
    sfsync._refresh_fields(bigint, jsonb),
    sfsync._count_formula_calls(bigint, bigint, bigint)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    sfsync._set_dependencies(bigint, jsonb),
    sfsync._changed_rows(bigint, timestamptz, integer),
    sfsync._refresh_fields(bigint, jsonb),
    sfsync._count_formula_calls(bigint, bigint, bigint)
    TO sfsync_agent;

-- ============================================================================================
-- Alerts and the dashboard (issue 20): read-only summaries of failures, conflicts and writes for the
-- sidecar's own schema (sql/monitoring.sql).

-- Monitoring: what the sidecar's alerts and dashboard read about the sync's health. The sidecar's role
-- may not read the change archive or the conflict log directly (they hold every schema's data), so
-- these security-definer functions answer for the session's own schema only (sfsync._protocol_scope;
-- an unbound administrator's session sees every schema). They only read.

-- Changes that failed after p_since, per mapping: how many, when, and the first few errors. The alerts
-- use it to say that changes failed, with counts and examples, without listing every one. A failed
-- change the user already retried (REQUEUED) still counts: it failed.
CREATE FUNCTION sfsync._failures_since(p_since timestamptz, p_per_mapping integer DEFAULT 3)
    RETURNS TABLE (mapping_id bigint, schema_name text, object_name text, failed bigint,
                   first_failed_at timestamptz, last_failed_at timestamptz, errors jsonb)
    LANGUAGE plpgsql
    STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF p_since IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed', MESSAGE = 'p_since must not be NULL';
    END IF;
    IF p_per_mapping IS NULL OR p_per_mapping < 0 OR p_per_mapping > 100 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('p_per_mapping must be between 0 and 100, not %s', coalesce(p_per_mapping::text, 'NULL'));
    END IF;
    RETURN QUERY
    WITH scope AS (SELECT sfsync._protocol_scope() AS schema_name),
    failure AS (
        SELECT a.id, a.mapping_id, a.sfid, a.record_id, a.action, a.sf_result, a.sf_message, a.sf_error,
               a.processed_at,
               row_number() OVER (PARTITION BY a.mapping_id ORDER BY a.processed_at, a.id) AS position
          FROM sfsync.change_archive a
         -- failures are archived in the transaction that records them: archived_at narrows the scan
         WHERE a.archived_at >= p_since AND a.processed_at > p_since
           AND a.state IN ('FAILED', 'REQUEUED') AND a.sf_result IS NOT NULL
    )
    SELECT m.id, m.schema_name, m.object_name, count(*),
           min(f.processed_at), max(f.processed_at),
           coalesce(jsonb_agg(jsonb_build_object(
                        'change_id', f.id, 'sfid', f.sfid, 'record_id', f.record_id, 'action', f.action,
                        'code', f.sf_result, 'message', f.sf_message, 'fields', f.sf_error->'fields')
                      ORDER BY f.position) FILTER (WHERE f.position <= p_per_mapping), '[]'::jsonb)
      FROM failure f
      JOIN sfsync.mapping m ON m.id = f.mapping_id
     CROSS JOIN scope
     WHERE scope.schema_name IS NULL OR m.schema_name = scope.schema_name
     GROUP BY m.id, m.schema_name, m.object_name
     ORDER BY m.schema_name, m.object_name;
END
$$;
COMMENT ON FUNCTION sfsync._failures_since(timestamptz, integer) IS
    'sfsync (sidecar): per mapping of the session''s schema, the changes that failed after p_since: count, first and last time, and the first p_per_mapping errors';

-- The changes still FAILED (neither retried nor ignored), newest first, optionally of one object or
-- with one Salesforce error code: the dashboard's error explorer.
CREATE FUNCTION sfsync._failed_changes(p_object text DEFAULT NULL, p_code text DEFAULT NULL,
                                       p_limit integer DEFAULT 500)
    RETURNS TABLE (change_id bigint, schema_name text, object_name text, table_name text, sfid text,
                   record_id bigint, action text, code text, message text, fields jsonb,
                   failed_at timestamptz, attempts integer)
    LANGUAGE plpgsql
    STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF p_limit IS NULL OR p_limit < 1 OR p_limit > 10000 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('p_limit must be between 1 and 10000, not %s', coalesce(p_limit::text, 'NULL'));
    END IF;
    RETURN QUERY
    WITH scope AS (SELECT sfsync._protocol_scope() AS schema_name)
    SELECT a.id, m.schema_name, m.object_name, m.table_name, a.sfid::text, a.record_id, a.action,
           a.sf_result, a.sf_message, a.sf_error->'fields', a.processed_at, a.attempts
      FROM sfsync.mapping m
     CROSS JOIN scope
      JOIN sfsync.change_archive a ON a.mapping_id = m.id AND a.state = 'FAILED'
     WHERE (scope.schema_name IS NULL OR m.schema_name = scope.schema_name)
       AND (p_object IS NULL OR lower(m.object_name) = lower(p_object))
       AND (p_code IS NULL OR a.sf_result = p_code)
     ORDER BY a.processed_at DESC NULLS LAST, a.id DESC
     LIMIT p_limit;
END
$$;
COMMENT ON FUNCTION sfsync._failed_changes(text, text, integer) IS
    'sfsync (sidecar): the changes of the session''s schema still FAILED, newest first, optionally of one object and with one error code';

-- The latest conflicts of one mapped object of the session's schema, newest first: incoming
-- Salesforce values that met a local change to the same field, and which side won.
CREATE FUNCTION sfsync._recent_conflicts(p_object text, p_limit integer DEFAULT 50)
    RETURNS TABLE (conflict_id bigint, sfid text, record_id bigint, field text, local_value jsonb,
                   incoming_value jsonb, policy text, resolved_at timestamptz)
    LANGUAGE plpgsql
    STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF p_object IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed', MESSAGE = 'p_object must not be NULL';
    END IF;
    IF p_limit IS NULL OR p_limit < 1 OR p_limit > 10000 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('p_limit must be between 1 and 10000, not %s', coalesce(p_limit::text, 'NULL'));
    END IF;
    RETURN QUERY
    WITH scope AS (SELECT sfsync._protocol_scope() AS schema_name)
    SELECT c.id, c.sfid::text, c.record_id, c.field, c.local_value, c.incoming_value, c.policy, c.resolved_at
      FROM sfsync.mapping m
     CROSS JOIN scope
      JOIN sfsync.conflict c ON c.mapping_id = m.id
     WHERE (scope.schema_name IS NULL OR m.schema_name = scope.schema_name)
       AND lower(m.object_name) = lower(p_object)
     ORDER BY c.resolved_at DESC, c.id DESC
     LIMIT p_limit;
END
$$;
COMMENT ON FUNCTION sfsync._recent_conflicts(text, integer) IS
    'sfsync (sidecar): the latest conflicts of one mapped object of the session''s schema, newest first';

-- Per minute since p_since (at most a day back): the changes written to Salesforce, those that
-- failed, and how long a written change took from its commit to Salesforce's answer (p50, p99). The
-- dashboard's charts; minutes without a finished change are absent.
CREATE FUNCTION sfsync._write_history(p_since timestamptz)
    RETURNS TABLE (minute timestamptz, written bigint, failed bigint,
                   latency_p50_ms double precision, latency_p99_ms double precision)
    LANGUAGE plpgsql
    STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_since timestamptz := greatest(p_since, now() - interval '1 day');
BEGIN
    IF p_since IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed', MESSAGE = 'p_since must not be NULL';
    END IF;
    RETURN QUERY
    WITH scope AS (SELECT sfsync._protocol_scope() AS schema_name)
    SELECT date_trunc('minute', a.processed_at) AS at_minute,
           count(*) FILTER (WHERE a.state = 'SUCCESS'),
           count(*) FILTER (WHERE a.state IN ('FAILED', 'REQUEUED')),
           (percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM a.processed_at - a.created_at))
                FILTER (WHERE a.state = 'SUCCESS') * 1000)::double precision,
           (percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM a.processed_at - a.created_at))
                FILTER (WHERE a.state = 'SUCCESS') * 1000)::double precision
      FROM sfsync.change_archive a
      JOIN sfsync.mapping m ON m.id = a.mapping_id
     CROSS JOIN scope
     -- changes are archived in the transaction that finishes them: archived_at narrows the scan
     WHERE a.archived_at >= v_since AND a.processed_at >= v_since
       AND a.state IN ('SUCCESS', 'FAILED', 'REQUEUED')
       AND (scope.schema_name IS NULL OR m.schema_name = scope.schema_name)
     GROUP BY at_minute
     ORDER BY at_minute;
END
$$;
COMMENT ON FUNCTION sfsync._write_history(timestamptz) IS
    'sfsync (sidecar): per minute since p_since (at most a day), changes of the session''s schema written to Salesforce and failed, with the commit-to-Salesforce latency (p50, p99, ms)';

-- privileges as in sql/grants.sql
REVOKE ALL ON FUNCTION
    sfsync._failures_since(timestamptz, integer),
    sfsync._failed_changes(text, text, integer),
    sfsync._recent_conflicts(text, integer),
    sfsync._write_history(timestamptz)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    sfsync._failures_since(timestamptz, integer),
    sfsync._failed_changes(text, text, integer),
    sfsync._recent_conflicts(text, integer),
    sfsync._write_history(timestamptz)
    TO sfsync_agent, sfsync_admin;

-- ============================================================================================
-- Security (issue 16), ownership: what grants.sql does on a fresh install (sfsync_owner owns the
-- catalog and the definer functions, and holds the rights they use), then the mapped schemas,
-- tables and views of 0.1.0, which sfsync_admin owned, are handed to sfsync_owner as 0.2.0 creates
-- them: sfsync_admin keeps using and granting them (WITH GRANT OPTION), their structure is
-- sfsync's. A schema another role owns (a Heroku Connect schema, say) stays its owner's and gives
-- sfsync_owner the right to create the tables of new mappings there.
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

DO $mapped$
DECLARE
    v_schema text;
    v_mapping record;
    v_view text;
BEGIN
    FOR v_schema IN SELECT DISTINCT m.schema_name FROM sfsync.mapping m
                     WHERE EXISTS (SELECT 1 FROM pg_namespace n WHERE n.nspname = m.schema_name) LOOP
        IF (SELECT n.nspowner FROM pg_namespace n WHERE n.nspname = v_schema) = 'sfsync_admin'::regrole THEN
            EXECUTE format('ALTER SCHEMA %I OWNER TO sfsync_owner', v_schema);
            EXECUTE format('GRANT USAGE ON SCHEMA %I TO sfsync_admin WITH GRANT OPTION', v_schema);
        ELSE
            EXECUTE format('GRANT USAGE, CREATE ON SCHEMA %I TO sfsync_owner', v_schema);
        END IF;
        FOREACH v_view IN ARRAY ARRAY['_trigger_log', '_trigger_log_archive'] LOOP
            IF (SELECT c.relkind FROM pg_class c WHERE c.oid = to_regclass(format('%I.%I', v_schema, v_view))) = 'v' THEN
                EXECUTE format('ALTER VIEW %I.%I OWNER TO sfsync_owner', v_schema, v_view);
                EXECUTE format('GRANT SELECT ON %I.%I TO sfsync_admin WITH GRANT OPTION', v_schema, v_view);
            END IF;
        END LOOP;
    END LOOP;
    -- only ordinary tables: anything else under a mapped table's name is refused from now on
    FOR v_mapping IN SELECT m.id, c.oid::regclass AS name
                       FROM sfsync.mapping m
                       JOIN pg_class c ON c.oid = to_regclass(format('%I.%I', m.schema_name, m.table_name))
                      WHERE c.relkind = 'r' LOOP
        EXECUTE format('ALTER TABLE %s OWNER TO sfsync_owner', v_mapping.name);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO sfsync_admin WITH GRANT OPTION', v_mapping.name);
        UPDATE sfsync.mapping SET table_oid = v_mapping.name WHERE id = v_mapping.id;
    END LOOP;
END
$mapped$;

-- The functions this script created are, as on a fresh install (grants.sql), not open to PUBLIC.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA sfsync FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sfsync.is_applying() TO PUBLIC;

-- Every function of sfsync has a comment (issue 16 added functions; 0.1.0 left some without).
COMMENT ON FUNCTION sfsync._check_options(jsonb, jsonb, text) IS
    'sfsync: raises unless an options object has only allowed keys with values of the right JSON type';
COMMENT ON FUNCTION sfsync._check_fields(text[], text) IS
    'sfsync: validates a field list (API names, no NULLs, no duplicates whatever the case)';
COMMENT ON FUNCTION sfsync._text_array(jsonb, text) IS
    'sfsync: a JSON array of strings as text[], or a clear error';
COMMENT ON FUNCTION sfsync._check_mapping_settings(text[], text, text, text[], integer, text, text) IS
    'sfsync: checks the mapping settings that depend on each other (access, upsert field, read-only fields, poll interval, conflict policy, filter)';
COMMENT ON FUNCTION sfsync._int_option(jsonb, text) IS
    'sfsync: a JSON number that must be a whole number, as integer';
COMMENT ON FUNCTION sfsync._mapping_for_update(text, text) IS
    'sfsync: the mapping row of (object, schema), locked, or an error naming what was not found';
COMMENT ON FUNCTION sfsync._notify_control(text, bigint, text) IS
    'sfsync: wakes the sidecars of a schema (NOTIFY sfsync_control) after a mapping changed';
COMMENT ON FUNCTION sfsync._conv_sql(text, text) IS
    'sfsync: SQL converting a text expression (REST JSON value or Bulk CSV cell) to the column type of a Salesforce field type';
COMMENT ON FUNCTION sfsync._explain_bad_value(sfsync.mapping, text) IS
    'sfsync: raises naming the record and field of the first staged value that does not convert';
COMMENT ON FUNCTION sfsync._column_plan(text, text[], jsonb, text[], text, boolean, jsonb) IS
    'sfsync: the column plan of a mapping from a Salesforce describe, or an error naming what is wrong';
COMMENT ON FUNCTION sfsync._check_api_name(text, text) IS
    'sfsync: the name, or an error unless it is a Salesforce API name';
COMMENT ON FUNCTION sfsync._check_filter(text) IS
    'sfsync: the filter, or an error unless it is a single SOQL WHERE condition';
COMMENT ON FUNCTION sfsync._check_identifier(text, text) IS
    'sfsync: the identifier, or an error when Postgres would truncate it (longer than 63 bytes)';
COMMENT ON FUNCTION sfsync._bind_session(text) IS
    'sfsync: binds this connection to a schema for its whole life (only _open_session calls it)';
COMMENT ON FUNCTION sfsync._session_schema() IS
    'sfsync: the schema this connection is bound to, or NULL';

-- Capture: one trigger queues each write of a read-write table (updates in the BEFORE trigger that
-- marks the row PENDING, inserts and deletes in the AFTER trigger); every installed mapping gets the
-- new trigger definitions.
COMMENT ON FUNCTION sfsync._capture() IS
    'sfsync capture trigger: queues inserted and deleted rows of a read-write table (and changed rows of a read-only one) into sfsync.change';
COMMENT ON FUNCTION sfsync._mark_pending() IS
    'sfsync status trigger: marks a row PENDING when a local change to it will be sent to Salesforce, and queues updates of a read-write table';
DO $triggers$
DECLARE
    m sfsync.mapping;
    v_table regclass;
BEGIN
    -- as _install_triggers does, but keeping each mapping's configuration version (the trigger cache
    -- stays valid: the column plan did not change)
    FOR m IN SELECT * FROM sfsync.mapping mm
              WHERE mm.columns IS NOT NULL AND mm.access = 'read_write' ORDER BY mm.id LOOP
        v_table := sfsync._mapped_table(m, false);
        CONTINUE WHEN v_table IS NULL;
        EXECUTE format('CREATE OR REPLACE TRIGGER sfsync_capture AFTER INSERT OR DELETE ON %s '
                       'FOR EACH ROW EXECUTE FUNCTION sfsync._capture(%L, %L)',
                       v_table, m.id, m.config_version);
        EXECUTE format('CREATE OR REPLACE TRIGGER sfsync_status BEFORE INSERT OR UPDATE ON %s '
                       'FOR EACH ROW EXECUTE FUNCTION sfsync._mark_pending(%L, %L, %L)',
                       v_table, m.id, m.config_version, 'capture_updates');
    END LOOP;
END
$triggers$;
