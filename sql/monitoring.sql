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
