-- Mappings: create, alter, drop, reload, pause and resume, and the checks and DDL helpers they share
-- with installing a mapping from a describe (sfsync._install_mapping, in reader.sql).

-- Raises a clear error unless `p_options` only has keys of `p_allowed` with values of the right JSON type.
CREATE FUNCTION sfsync._check_options(p_options jsonb, p_allowed jsonb, p_what text)
    RETURNS void
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_key text;
    v_type text;
BEGIN
    IF jsonb_typeof(p_options) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('%s must be a JSON object, not %s', p_what, coalesce(jsonb_typeof(p_options), 'null'));
    END IF;
    FOR v_key, v_type IN SELECT key, jsonb_typeof(value) FROM jsonb_each(p_options) LOOP
        IF NOT p_allowed ? v_key THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('unknown %s key %L', p_what, v_key),
                HINT = format('allowed keys: %s', (SELECT string_agg(k, ', ' ORDER BY k) FROM jsonb_object_keys(p_allowed) k));
        END IF;
        IF v_type <> p_allowed->>v_key AND NOT (v_type = 'null' AND v_key NOT IN ('access', 'fields')) THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('%s key %L must be a JSON %s, not %s', p_what, v_key, p_allowed->>v_key, v_type);
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION sfsync._check_options(jsonb, jsonb, text) IS
    'sfsync: raises unless an options object has only allowed keys with values of the right JSON type';

-- Validates a list of field names: API names, no duplicates (case-insensitive).
CREATE FUNCTION sfsync._check_fields(p_fields text[], p_what text DEFAULT 'fields')
    RETURNS text[]
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_field text;
    v_seen text[] := '{}';
BEGIN
    IF p_fields IS NULL THEN
        RETURN '{}';
    END IF;
    FOREACH v_field IN ARRAY p_fields LOOP
        IF v_field IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed', MESSAGE = format('%s contains a NULL', p_what);
        END IF;
        PERFORM sfsync._check_api_name(v_field, 'field');
        IF lower(v_field) = ANY (v_seen) THEN
            RAISE EXCEPTION USING ERRCODE = 'duplicate_column',
                MESSAGE = format('duplicate field %L in %s', v_field, p_what);
        END IF;
        v_seen := v_seen || lower(v_field);
    END LOOP;
    RETURN p_fields;
END
$$;
COMMENT ON FUNCTION sfsync._check_fields(text[], text) IS
    'sfsync: validates a field list (API names, no NULLs, no duplicates whatever the case)';

-- JSON array of strings → text[] with a clear error for anything else.
CREATE FUNCTION sfsync._text_array(p_value jsonb, p_what text)
    RETURNS text[]
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF p_value IS NULL OR jsonb_typeof(p_value) = 'null' THEN
        RETURN '{}';
    END IF;
    IF jsonb_typeof(p_value) <> 'array'
       OR EXISTS (SELECT 1 FROM jsonb_array_elements(p_value) e WHERE jsonb_typeof(e) <> 'string') THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('%s must be a JSON array of strings, not %s', p_what, p_value);
    END IF;
    RETURN ARRAY(SELECT jsonb_array_elements_text(p_value));
END
$$;
COMMENT ON FUNCTION sfsync._text_array(jsonb, text) IS
    'sfsync: a JSON array of strings as text[], or a clear error';

-- Checks the mapping settings that depend on each other; raises naming the bad value.
CREATE FUNCTION sfsync._check_mapping_settings(p_fields text[], p_access text, p_upsert_field text,
                                               p_read_only_fields text[], p_poll_seconds integer,
                                               p_conflict text, p_filter text)
    RETURNS void
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_field text;
    v_lower text[] := ARRAY(SELECT lower(f) FROM unnest(p_fields) f);
BEGIN
    IF cardinality(p_fields) = 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', MESSAGE = 'fields must name at least one Salesforce field';
    END IF;
    IF p_access IS NULL OR p_access NOT IN ('read_only', 'read_write') THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('access must be ''read_only'' or ''read_write'', not %L', p_access);
    END IF;
    IF p_upsert_field IS NOT NULL THEN
        PERFORM sfsync._check_api_name(p_upsert_field, 'upsert field');
        IF NOT lower(p_upsert_field) = ANY (v_lower) THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('upsert_field %L is not in the field list', p_upsert_field);
        END IF;
    END IF;
    FOREACH v_field IN ARRAY p_read_only_fields LOOP
        PERFORM sfsync._check_api_name(v_field, 'field');
        IF NOT lower(v_field) = ANY (v_lower) THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('read_only_fields names %L, which is not in the field list', v_field);
        END IF;
    END LOOP;
    IF p_poll_seconds IS NULL OR p_poll_seconds NOT BETWEEN 1 AND 86400 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('poll_seconds must be between 1 and 86400, not %s', coalesce(p_poll_seconds::text, 'NULL'));
    END IF;
    IF p_conflict IS NULL OR p_conflict NOT IN ('salesforce_wins', 'postgres_wins') THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('conflict must be ''salesforce_wins'' or ''postgres_wins'', not %L', p_conflict);
    END IF;
    IF p_filter IS NOT NULL THEN
        PERFORM sfsync._check_filter(p_filter);
    END IF;
END
$$;
COMMENT ON FUNCTION sfsync._check_mapping_settings(text[], text, text, text[], integer, text, text) IS
    'sfsync: checks the mapping settings that depend on each other (access, upsert field, read-only fields, poll interval, conflict policy, filter)';

-- JSON number that must be an integer.
CREATE FUNCTION sfsync._int_option(p_value jsonb, p_what text)
    RETURNS integer
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF p_value IS NULL THEN
        RETURN NULL;
    END IF;
    IF jsonb_typeof(p_value) <> 'number' OR (p_value::text)::numeric <> trunc((p_value::text)::numeric)
       OR abs((p_value::text)::numeric) > 2147483647 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('%s must be a whole number, not %s', p_what, p_value);
    END IF;
    RETURN (p_value::text)::integer;
END
$$;
COMMENT ON FUNCTION sfsync._int_option(jsonb, text) IS
    'sfsync: a JSON number that must be a whole number, as integer';

-- The mapping row for (schema, object), locked, or an error naming what was not found.
CREATE FUNCTION sfsync._mapping_for_update(p_object_name text, p_schema text)
    RETURNS sfsync.mapping
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_mapping sfsync.mapping;
BEGIN
    SELECT * INTO v_mapping FROM sfsync.mapping
     WHERE schema_name = p_schema AND lower(object_name) = lower(p_object_name)
       FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('no mapping for object %L in schema %L', p_object_name, p_schema),
            HINT = 'SELECT * FROM sfsync.status() lists the mappings';
    END IF;
    RETURN v_mapping;
END
$$;
COMMENT ON FUNCTION sfsync._mapping_for_update(text, text) IS
    'sfsync: the mapping row of (object, schema), locked, or an error naming what was not found';

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
COMMENT ON FUNCTION sfsync._notify_control(text, bigint, text) IS
    'sfsync: wakes the sidecars of a schema (NOTIFY sfsync_control) after a mapping changed';

-- Why sfsync must not act on a relation, or NULL when it may: sfsync acts only on ordinary tables
-- owned by sfsync_owner (those it created, or that a superuser handed over to it), never on a view,
-- or on a table of a role that could put code of its own on the path of sfsync's functions.
CREATE FUNCTION sfsync._foreign_relation(p_relation regclass)
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
CREATE FUNCTION sfsync._mapped_table(p_mapping sfsync.mapping, p_strict boolean DEFAULT true)
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
CREATE FUNCTION sfsync._check_target(p_schema text, p_table text)
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
CREATE FUNCTION sfsync._check_indexes(p_indexes jsonb, p_fields text[])
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
CREATE FUNCTION sfsync._drop_triggers(p_table regclass, p_triggers text[])
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
CREATE FUNCTION sfsync._install_triggers(p_mapping bigint)
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

-- Creates a mapping. Without options.describe it waits in state NEW for the sidecar to describe the
-- object and create the table; with it, the table is created now.
CREATE FUNCTION sfsync.create_mapping(object_name text, fields text[], access text DEFAULT 'read_only',
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
CREATE FUNCTION sfsync.alter_mapping(object_name text, changes jsonb, schema text DEFAULT 'salesforce')
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
CREATE FUNCTION sfsync.drop_mapping(object_name text, drop_table boolean DEFAULT false,
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
CREATE FUNCTION sfsync.reload(object_name text, schema text DEFAULT 'salesforce')
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
CREATE FUNCTION sfsync.pause(object_name text DEFAULT NULL, schema text DEFAULT 'salesforce')
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

CREATE FUNCTION sfsync.resume(object_name text DEFAULT NULL, schema text DEFAULT 'salesforce')
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

-- The functions written in Rust (src/plan.rs, src/names.rs, src/soql_check.rs) that this file relies on.
COMMENT ON FUNCTION sfsync._column_plan(text, text[], jsonb, text[], text, boolean, jsonb) IS
    'sfsync: the column plan of a mapping from a Salesforce describe, or an error naming what is wrong';
COMMENT ON FUNCTION sfsync._check_api_name(text, text) IS
    'sfsync: the name, or an error unless it is a Salesforce API name';
COMMENT ON FUNCTION sfsync._check_filter(text) IS
    'sfsync: the filter, or an error unless it is a single SOQL WHERE condition';
