-- sfsync 0.1.0 → 0.2.0 (`ALTER EXTENSION sfsync UPDATE`).
--
-- Every change to the extension's SQL made during the 0.2.0 cycle lands here as well as in the
-- sources under sql/ and src/: the upgrade test (tests/tests/upgrade.rs) installs 0.1.0, upgrades it
-- and compares the catalogs with a fresh 0.2.0 install, so a change missing here fails it.
-- sql/sfsync--0.1.0.sql is the frozen install script of 0.1.0 and is never edited.

\echo Use "ALTER EXTENSION sfsync UPDATE" to load this file. \quit

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
-- one fresh lease token. Changes of paused mappings stay queued.
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
    v_paused bigint[];
    v_claimed sfsync.change[];
    v_mapping sfsync.mapping;
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
    v_paused := ARRAY(SELECT m.id FROM sfsync.mapping m WHERE m.state = 'PAUSED');
    -- mappings whose changes can depend on a parent's queued change
    v_links_of := ARRAY(SELECT DISTINCT l.mapping_id
                          FROM sfsync._parent_links(ARRAY(SELECT m.id FROM sfsync.mapping m
                                                           WHERE m.access = 'read_write')) l);

    LOOP
        v_round := v_round + 1;
        -- the first claimable change of each record that has no earlier unfinished change
        v_heads := ARRAY(
            SELECT c.id
              FROM sfsync.change c
             WHERE c.id > v_after
               AND (p_mapping IS NULL OR c.mapping_id = p_mapping)
               AND c.mapping_id <> ALL (v_paused)
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
        CONTINUE WHEN to_regclass(format('%I.%I', v_mapping.schema_name, v_mapping.table_name)) IS NULL;
        EXECUTE format('SELECT jsonb_object_agg(t.id::text, to_jsonb(t)) FROM %I.%I t WHERE t.id = ANY ($1)',
                       v_mapping.schema_name, v_mapping.table_name)
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
    v_column text;
    v_pending boolean;
BEGIN
    SELECT p.* INTO v_parent
      FROM sfsync.mapping m JOIN sfsync.mapping p ON p.schema_name = m.schema_name
     WHERE m.id = p_mapping AND lower(p.object_name) = lower(p_object);
    IF NOT FOUND OR p_value IS NULL THEN
        RETURN false;
    END IF;
    SELECT c->>'column' INTO v_column FROM jsonb_array_elements(coalesce(v_parent.columns, '[]')) c
     WHERE lower(c->>'field') = lower(p_field) AND c->>'relationship' IS NULL
     LIMIT 1;
    IF v_column IS NULL OR to_regclass(format('%I.%I', v_parent.schema_name, v_parent.table_name)) IS NULL THEN
        RETURN false;
    END IF;
    -- through the parent mapping's queued changes (few), not a scan of its table (many rows)
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM sfsync.change c JOIN %I.%I t ON t.id = c.record_id
                                    WHERE c.mapping_id = $2 AND lower(t.%I::text) = lower($1))',
                   v_parent.schema_name, v_parent.table_name, v_column)
       INTO v_pending USING p_value, v_parent.id;
    RETURN v_pending;
END
$$;
COMMENT ON FUNCTION sfsync._parent_pending(bigint, text, text, text) IS
    'sfsync (sidecar): whether the parent a child refers to by external id has a change queued or in flight';

REVOKE ALL ON FUNCTION sfsync._parent_links(bigint[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION sfsync._parent_pending(bigint, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sfsync._parent_pending(bigint, text, text, text) TO sfsync_agent;

-- Backups keep the id sequences (issue 15). 0.1.0 registered only the catalog tables with
-- pg_extension_config_dump, so pg_dump left out the state of their id sequences and a restored
-- database started them at 1 again: the next mapping, queued change or conflict collided with a
-- restored id. Registering the sequences makes pg_dump emit their setval (see sql/bootstrap.sql).
SELECT pg_catalog.pg_extension_config_dump('sfsync.mapping_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('sfsync.change_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('sfsync.conflict_id_seq', '');
