-- The queue protocol the sidecar speaks (claim, renew, complete) and the user's retry/ignore.

-- Moves finished entries (anything but NEW and PENDING) from sfsync.change to sfsync.change_archive:
-- the given ones, or every finished entry when p_ids is NULL (a scan; for housekeeping).
CREATE FUNCTION sfsync._archive_finished(p_ids bigint[] DEFAULT NULL)
    RETURNS bigint
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_moved bigint;
BEGIN
    -- two statements, so the usual case (given ids) is an index lookup instead of a scan
    IF p_ids IS NULL THEN
        WITH moved AS (
            DELETE FROM sfsync.change WHERE state NOT IN ('NEW', 'PENDING') RETURNING *
        )
        INSERT INTO sfsync.change_archive (id, txid, mapping_id, record_id, sfid, action, "values", old, state,
                                           attempts, not_before, lease_until, lease_token, sf_result, sf_message,
                                           sf_error, created_at, updated_at, processed_at, processed_tx)
        SELECT id, txid, mapping_id, record_id, sfid, action, "values", old, state, attempts, not_before,
               lease_until, lease_token, sf_result, sf_message, sf_error, created_at, updated_at,
               processed_at, processed_tx
          FROM moved;
    ELSE
        WITH moved AS (
            DELETE FROM sfsync.change WHERE id = ANY (p_ids) AND state NOT IN ('NEW', 'PENDING') RETURNING *
        )
        INSERT INTO sfsync.change_archive (id, txid, mapping_id, record_id, sfid, action, "values", old, state,
                                           attempts, not_before, lease_until, lease_token, sf_result, sf_message,
                                           sf_error, created_at, updated_at, processed_at, processed_tx)
        SELECT id, txid, mapping_id, record_id, sfid, action, "values", old, state, attempts, not_before,
               lease_until, lease_token, sf_result, sf_message, sf_error, created_at, updated_at,
               processed_at, processed_tx
          FROM moved;
    END IF;
    GET DIAGNOSTICS v_moved = ROW_COUNT;
    RETURN v_moved;
END
$$;
COMMENT ON FUNCTION sfsync._archive_finished(bigint[]) IS 'sfsync: moves finished queue entries to sfsync.change_archive';

-- A sidecar's result for one claimed change, joined with the change it is about.
CREATE TYPE sfsync._result AS (
    id bigint, token uuid, outcome text, sfid text, error jsonb, retry_after_seconds double precision,
    mapping_id bigint, record_id bigint, action text, attempts integer
);

-- Relationship columns of read-write mappings that refer to a parent by external id
-- (`account__ext_id__c` for `Account.Ext_Id__c`), with the parent's mapping in the same schema and
-- the parent's column holding that external id. A child change carrying such a value depends on
-- any queued change of the parent that sets it.
CREATE FUNCTION sfsync._parent_links(p_mappings bigint[])
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
CREATE FUNCTION sfsync._claim_changes(p_batch integer DEFAULT 200, p_lease_seconds integer DEFAULT 60,
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
CREATE FUNCTION sfsync._parent_pending(p_mapping bigint, p_object text, p_field text, p_value text)
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

-- Extends the lease of every change held under p_token (of the session's schema); returns how many
-- are still held.
CREATE FUNCTION sfsync._renew_leases(p_token uuid, p_lease_seconds integer DEFAULT 60)
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

-- Writes the results of one mapping's claimed changes into its table: the sfid of inserts,
-- _hc_lastop and _hc_err (the part of _complete_changes that touches the mapped table).
CREATE FUNCTION sfsync._record_results(p_mapping sfsync.mapping, p_table regclass, p_results sfsync._result[])
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
CREATE FUNCTION sfsync._record_results_of(p_mapping sfsync.mapping, p_table regclass, p_results sfsync._result[])
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

-- Records what Salesforce said about claimed changes. p_results: JSON array of
--   {"id", "token", "outcome": "SUCCESS"|"FAILED"|"MERGED"|"IGNORED"|"RETRY",
--    "sfid", "error": {"code","message","fields"}, "retry_after_seconds"}.
-- Results whose token no longer holds the change's lease are ignored (fencing), and so are results
-- about changes of another schema than the session's (a sidecar cannot complete another org's
-- change, and learns nothing about it). SUCCESS writes the
-- sfid of inserts into the row and sets _hc_lastop INSERTED/UPDATED; FAILED stores Salesforce's error
-- on the entry and in _hc_err; RETRY releases the change with a backoff, or fails it after
-- p_max_attempts. Finished entries are archived. Returns {"applied": n, "ignored": [ids]}.
CREATE FUNCTION sfsync._complete_changes(p_results jsonb, p_max_attempts integer DEFAULT 10)
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

-- Queues the current values of a row again (Heroku Connect's hc_capture_*_from_row): an INSERT of
-- every insertable non-null column when the row has no sfid, otherwise an UPDATE of p_columns.
CREATE FUNCTION sfsync._recapture_row(p_mapping sfsync.mapping, p_record bigint, p_columns text[])
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

-- Sends failed changes again with the rows' current values. Returns the new change ids.
CREATE FUNCTION sfsync.retry(change_ids bigint[])
    RETURNS SETOF bigint
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET sfsync.origin = 'salesforce'
    AS $$
DECLARE
    v_id bigint;
    v_change sfsync.change_archive;
    v_mapping sfsync.mapping;
    v_new bigint;
BEGIN
    IF change_ids IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed', MESSAGE = 'change_ids must not be NULL';
    END IF;
    PERFORM sfsync._archive_finished();
    FOREACH v_id IN ARRAY change_ids LOOP
        SELECT * INTO v_change FROM sfsync.change_archive WHERE id = v_id FOR UPDATE;
        IF NOT FOUND THEN
            IF EXISTS (SELECT 1 FROM sfsync.change WHERE id = v_id) THEN
                RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
                    MESSAGE = format('change %s is still queued; only FAILED changes can be retried', v_id);
            END IF;
            RAISE EXCEPTION USING ERRCODE = 'undefined_object', MESSAGE = format('no change with id %s', v_id);
        END IF;
        IF v_change.state <> 'FAILED' THEN
            RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
                MESSAGE = format('change %s is %s; only FAILED changes can be retried', v_id, v_change.state);
        END IF;
        SELECT * INTO v_mapping FROM sfsync.mapping WHERE id = v_change.mapping_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'undefined_object',
                MESSAGE = format('change %s belongs to a mapping that no longer exists', v_id);
        END IF;
        IF v_change.action = 'DELETE' THEN
            INSERT INTO sfsync.change (mapping_id, record_id, sfid, action, old, state)
            VALUES (v_change.mapping_id, v_change.record_id, v_change.sfid, 'DELETE', v_change.old, 'NEW')
            RETURNING id INTO v_new;
        ELSE
            v_new := sfsync._recapture_row(v_mapping, v_change.record_id,
                                           ARRAY(SELECT jsonb_object_keys(coalesce(v_change."values", '{}'))));
        END IF;
        UPDATE sfsync.change_archive SET state = 'REQUEUED', updated_at = now() WHERE id = v_id;
        IF v_new IS NOT NULL THEN
            RETURN NEXT v_new;
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION sfsync.retry(bigint[]) IS
    'Queues FAILED changes again with the rows'' current values (a fixed row is sent as it is now); returns the new change ids.';

CREATE FUNCTION sfsync.retry_failed(object_name text DEFAULT NULL, schema text DEFAULT 'salesforce')
    RETURNS SETOF bigint
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_ids bigint[];
BEGIN
    IF retry_failed.object_name IS NOT NULL THEN
        PERFORM sfsync._mapping_for_update(retry_failed.object_name, retry_failed.schema);
    END IF;
    PERFORM sfsync._archive_finished();
    -- one retry per record: the latest failure of each
    v_ids := ARRAY(
        SELECT DISTINCT ON (a.mapping_id, a.record_id) a.id
          FROM sfsync.change_archive a
          JOIN sfsync.mapping m ON m.id = a.mapping_id
         WHERE a.state = 'FAILED' AND m.schema_name = retry_failed.schema
           AND (retry_failed.object_name IS NULL OR lower(m.object_name) = lower(retry_failed.object_name))
         ORDER BY a.mapping_id, a.record_id, a.id DESC);
    UPDATE sfsync.change_archive a SET state = 'REQUEUED', updated_at = now()
      FROM sfsync.mapping m
     WHERE m.id = a.mapping_id AND a.state = 'FAILED' AND m.schema_name = retry_failed.schema
       AND (retry_failed.object_name IS NULL OR lower(m.object_name) = lower(retry_failed.object_name))
       AND a.id <> ALL (v_ids);
    RETURN QUERY SELECT sfsync.retry(v_ids);
END
$$;
COMMENT ON FUNCTION sfsync.retry_failed(text, text) IS
    'Retries every FAILED change of a mapping (or of all mappings in the schema) with the rows'' current values.';

-- Gives up on changes: queued or failed changes become IGNORED and are never sent.
CREATE FUNCTION sfsync.ignore(change_ids bigint[])
    RETURNS integer
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_id bigint;
    v_state text;
BEGIN
    IF change_ids IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed', MESSAGE = 'change_ids must not be NULL';
    END IF;
    FOREACH v_id IN ARRAY change_ids LOOP
        SELECT state INTO v_state FROM sfsync.change WHERE id = v_id FOR UPDATE;
        IF FOUND THEN
            IF v_state = 'PENDING' THEN
                RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
                    MESSAGE = format('change %s is being written to Salesforce right now and cannot be ignored', v_id);
            END IF;
            UPDATE sfsync.change SET state = 'IGNORED', processed_at = now(), updated_at = now(),
                                     sf_message = coalesce(sf_message, 'ignored by the user')
             WHERE id = v_id;
            PERFORM sfsync._archive_finished(ARRAY[v_id]);
            CONTINUE;
        END IF;
        SELECT state INTO v_state FROM sfsync.change_archive WHERE id = v_id FOR UPDATE;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'undefined_object', MESSAGE = format('no change with id %s', v_id);
        END IF;
        IF v_state <> 'FAILED' THEN
            RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
                MESSAGE = format('change %s is %s; only queued or FAILED changes can be ignored', v_id, v_state);
        END IF;
        UPDATE sfsync.change_archive SET state = 'IGNORED', updated_at = now() WHERE id = v_id;
    END LOOP;
    RETURN cardinality(change_ids);
END
$$;
COMMENT ON FUNCTION sfsync.ignore(bigint[]) IS 'Marks queued or FAILED changes IGNORED: they are never sent.';

-- Refuses an archive retention shorter than a day: the archive holds the FAILED changes an operator
-- still has to look at, and a negative or tiny retention would erase them at once.
CREATE FUNCTION sfsync._check_retention(p_retention interval)
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

-- Sidecar housekeeping: deletes archived changes older than the retention, of the session's schema
-- (and those whose mapping no longer exists, which belong to no schema).
CREATE FUNCTION sfsync._purge_archive(p_retention interval DEFAULT '31 days')
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

-- Per mapping of the session's schema (every mapping, so drained ones read zero): changes waiting
-- (NEW) and being written (PENDING), and the age of the oldest of them; for the sidecar's gauges.
CREATE FUNCTION sfsync._queue_depth()
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
CREATE FUNCTION sfsync._backlog(p_mappings bigint[], p_upsert_columns text[])
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
