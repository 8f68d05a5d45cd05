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
