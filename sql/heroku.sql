-- Heroku Connect compatibility: import and export of the mapping configuration JSON (version 1).

-- Creates or changes the mappings described by a Heroku Connect export. sfsync's own options ride
-- along under config.sfsync. Returns the ids of the created or changed mappings.
CREATE FUNCTION sfsync.import_config(config jsonb, schema text DEFAULT 'salesforce')
    RETURNS SETOF bigint
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_entry jsonb;
    v_config jsonb;
    v_object text;
    v_fields text[];
    v_options jsonb;
    v_existing sfsync.mapping;
    v_current text[];
    v_pos integer := 0;
BEGIN
    IF jsonb_typeof(config) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', MESSAGE = 'config must be a JSON object';
    END IF;
    IF config->'version' IS DISTINCT FROM '1' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('unsupported Heroku Connect config version %s (only version 1 exists)', coalesce(config->>'version', 'NULL'));
    END IF;
    IF jsonb_typeof(config->'mappings') IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', MESSAGE = 'config.mappings must be a JSON array';
    END IF;
    FOR v_entry IN SELECT e FROM jsonb_array_elements(config->'mappings') e LOOP
        v_pos := v_pos + 1;
        v_object := v_entry->>'object_name';
        v_config := v_entry->'config';
        IF v_object IS NULL OR jsonb_typeof(v_config) IS DISTINCT FROM 'object' THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('mapping #%s needs "object_name" and a "config" object', v_pos);
        END IF;
        IF jsonb_typeof(v_config->'fields') IS DISTINCT FROM 'object' THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('mapping %s: config.fields must be an object of field names', v_object);
        END IF;
        -- Id, IsDeleted and SystemModstamp are always mapped by sfsync
        v_fields := ARRAY(SELECT k FROM jsonb_object_keys(v_config->'fields') k
                           WHERE lower(k) NOT IN ('id', 'isdeleted', 'systemmodstamp') ORDER BY k);
        v_options := jsonb_strip_nulls(jsonb_build_object(
            'schema', import_config.schema,
            'upsert_field', v_config->'upsert_field',
            'poll_seconds', v_config->'sf_polling_seconds',
            'streaming', v_config->'sf_notify_enabled',
            'indexes', (SELECT jsonb_object_agg(k, v) FROM jsonb_each(coalesce(v_config->'indexes', '{}')) AS i(k, v)
                         WHERE lower(k) NOT IN ('id', 'systemmodstamp'))))
            || coalesce(v_config->'sfsync', '{}');
        SELECT * INTO v_existing FROM sfsync.mapping
         WHERE schema_name = import_config.schema AND lower(object_name) = lower(v_object);
        IF NOT FOUND THEN
            RETURN NEXT sfsync.create_mapping(v_object, v_fields, coalesce(v_config->>'access', 'read_only'), v_options);
        ELSE
            v_current := ARRAY(SELECT lower(f) FROM unnest(v_existing.fields) f);
            PERFORM sfsync.alter_mapping(v_object,
                jsonb_strip_nulls(jsonb_build_object(
                    'add_fields', (SELECT jsonb_agg(f) FROM unnest(v_fields) f WHERE NOT lower(f) = ANY (v_current)),
                    'drop_fields', (SELECT jsonb_agg(f) FROM unnest(v_existing.fields) f
                                     WHERE NOT lower(f) = ANY (ARRAY(SELECT lower(x) FROM unnest(v_fields) x))),
                    'access', v_config->'access')
                    || (v_options - 'schema' - 'indexes' - 'describe' - 'parents' - 'table')),
                import_config.schema);
            RETURN NEXT v_existing.id;
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION sfsync.import_config(jsonb, text) IS
    'Creates or changes mappings from a Heroku Connect mapping export (version 1); sfsync options may ride along under config.sfsync.';

-- The schema's mappings as a Heroku Connect mapping export (version 1), with sfsync's own options
-- under config.sfsync, so import_config(export_config()) recreates them.
CREATE FUNCTION sfsync.export_config(schema text DEFAULT 'salesforce')
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
