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
