-- sfsync catalog: mappings, the change queue and its archive, conflicts, and the roles.
--
-- Mapped schemas and tables are never created here: they are created at run time by
-- sfsync._install_mapping, so they are not members of the extension and DROP EXTENSION ... CASCADE
-- cannot drop user data.

-- Roles are cluster-wide: a second database installing sfsync must not fail.
-- Two databases installing at the same moment may both find a role missing: the loser's
-- duplicate is harmless.
DO $roles$
DECLARE
    v_role text;
BEGIN
    FOREACH v_role IN ARRAY ARRAY['sfsync_admin', 'sfsync_agent', 'sfsync_owner'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = v_role) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', v_role);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;
            END;
        END IF;
    END LOOP;
END
$roles$;
COMMENT ON ROLE sfsync_admin IS 'sfsync: may create, alter and drop mappings and manage failed changes';
COMMENT ON ROLE sfsync_agent IS 'sfsync: the sidecar''s group role (grant it to the sidecar''s login role)';
-- sfsync's own functions that need more rights than their callers run as this role, never as the
-- superuser who installed the extension; it owns sfsync's tables and the mapped schemas and tables.
-- Nobody logs in as it and no role should be made a member of it.
COMMENT ON ROLE sfsync_owner IS 'sfsync: owns sfsync''s catalog and the mapped tables; its SECURITY DEFINER functions run as it (never grant it to anyone)';

CREATE TABLE sfsync.instance (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    instance_id text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE sfsync.instance IS
    'sfsync: this database''s sync instance id; the sidecar sends Sforce-Call-Options: client=sfsync-<instance_id>';

CREATE TABLE sfsync.mapping (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    schema_name      text NOT NULL DEFAULT 'salesforce',
    object_name      text NOT NULL,
    table_name       text NOT NULL,
    fields           text[] NOT NULL,
    access           text NOT NULL DEFAULT 'read_only' CHECK (access IN ('read_only', 'read_write')),
    upsert_field     text,
    poll_seconds     integer NOT NULL DEFAULT 60 CHECK (poll_seconds BETWEEN 1 AND 86400),
    streaming        boolean NOT NULL DEFAULT false,
    filter           text,
    read_only_fields text[] NOT NULL DEFAULT '{}',
    conflict         text NOT NULL DEFAULT 'salesforce_wins'
                     CHECK (conflict IN ('salesforce_wins', 'postgres_wins')),
    keep_deleted     boolean NOT NULL DEFAULT false,
    -- extra per-field indexes, Heroku Connect style: {"Email": {"unique": false}}
    indexes          jsonb NOT NULL DEFAULT '{}',
    state            text NOT NULL DEFAULT 'NEW'
                     CHECK (state IN ('NEW', 'DESCRIBING', 'LOADING', 'SYNCED', 'RELOADING', 'PAUSED', 'ERROR')),
    state_detail     text,
    -- state to return to when a paused mapping resumes
    paused_state     text,
    describe         jsonb,
    -- the column plan (sfsync._column_plan): columns, types, which are sent on insert/update
    columns          jsonb,
    -- fields added by alter_mapping whose columns the sidecar must back-fill
    backfill_fields  text[] NOT NULL DEFAULT '{}',
    reload_requested boolean NOT NULL DEFAULT false,
    reload_requested_at timestamptz,
    -- the stored describe lacks a field alter_mapping added: the sidecar must describe again
    describe_requested boolean NOT NULL DEFAULT false,
    -- reader progress: high-water mark (Salesforce SystemModstamp) and CDC replay id
    hwm              timestamptz,
    replay_id        bigint,
    -- how far the reader's getDeleted sweep has covered
    deleted_swept_at timestamptz,
    load_expected    bigint,
    load_done        bigint,
    last_read_at     timestamptz,
    last_write_at    timestamptz,
    -- which sidecar reads this mapping (a lease)
    reader_owner     text,
    reader_lease_until timestamptz,
    config_version   integer NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    -- the mapped table sfsync created or adopted (relations are checked by oid, owner and kind, never
    -- trusted by name; see sfsync._mapped_table)
    table_oid        oid,
    -- reconciliation with Salesforce (sql/reconcile.sql): how often, when last done, an open request
    reconcile_seconds integer NOT NULL DEFAULT 21600 CHECK (reconcile_seconds BETWEEN 60 AND 31536000),
    last_reconciled_at timestamptz,
    reconcile_requested_at timestamptz,
    -- fields Salesforce computes from other records (sql/formulas.sql): whether to keep them fresh, how
    -- often to re-read those on TODAY()/NOW(), what the sidecar learned they depend on, what it cost
    fresh_formulas   boolean NOT NULL DEFAULT true,
    formula_refresh_seconds integer NOT NULL DEFAULT 3600 CHECK (formula_refresh_seconds BETWEEN 60 AND 604800),
    dependencies     jsonb,
    formula_api_calls bigint NOT NULL DEFAULT 0,
    formula_rows_refreshed bigint NOT NULL DEFAULT 0,
    formulas_refreshed_at timestamptz,
    UNIQUE (schema_name, object_name),
    UNIQUE (schema_name, table_name)
);
-- one mapping per object and schema, whatever the case of the object's name (API names are
-- case-insensitive in Salesforce)
CREATE UNIQUE INDEX mapping_object_name_idx ON sfsync.mapping (schema_name, lower(object_name));
COMMENT ON TABLE sfsync.mapping IS
    'sfsync: one row per Salesforce object mapped to a Postgres table (manage with sfsync.create_mapping, alter_mapping, drop_mapping)';

-- The queue (Heroku Connect's _trigger_log). Only NEW and PENDING entries live here; finished entries
-- move to sfsync.change_archive in the statement that finishes them. No foreign key to sfsync.mapping:
-- a FK check would lock the mapping row on every captured write. Capture writes this table directly
-- (src/capture/direct.rs), which requires plain column indexes and no triggers on it.
CREATE TABLE sfsync.change (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    txid         xid8 NOT NULL DEFAULT pg_current_xact_id(),
    mapping_id   bigint NOT NULL,
    record_id    bigint NOT NULL,
    sfid         varchar(18),
    action       text NOT NULL CHECK (action IN ('INSERT', 'UPDATE', 'DELETE')),
    "values"     jsonb,
    old          jsonb,
    state        text NOT NULL DEFAULT 'NEW'
                 CHECK (state IN ('NEW', 'PENDING', 'SUCCESS', 'FAILED', 'MERGED', 'IGNORED', 'READONLY')),
    attempts     integer NOT NULL DEFAULT 0,
    not_before   timestamptz,
    lease_until  timestamptz,
    lease_token  uuid,
    sf_result    text,
    sf_message   text,
    sf_error     jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz,
    processed_tx xid8
);
CREATE INDEX change_record_idx ON sfsync.change (mapping_id, record_id, id);
-- claims, lease renewals and completions update rows in place: leave room for HOT updates
ALTER TABLE sfsync.change SET (fillfactor = 70, autovacuum_vacuum_scale_factor = 0.01,
                               autovacuum_vacuum_threshold = 1000, autovacuum_analyze_scale_factor = 0.02);
COMMENT ON TABLE sfsync.change IS
    'sfsync: queued local changes waiting to be written to Salesforce (state NEW) or being written (PENDING)';

CREATE TABLE sfsync.change_archive (
    -- the id of the change it was (archived entries keep their queue id); direct entries draw from the same sequence
    id           bigint PRIMARY KEY DEFAULT nextval('sfsync.change_id_seq'::regclass),
    txid         xid8 NOT NULL DEFAULT pg_current_xact_id(),
    mapping_id   bigint NOT NULL,
    record_id    bigint NOT NULL,
    sfid         varchar(18),
    action       text NOT NULL,
    "values"     jsonb,
    old          jsonb,
    state        text NOT NULL,
    attempts     integer NOT NULL DEFAULT 0,
    not_before   timestamptz,
    lease_until  timestamptz,
    lease_token  uuid,
    sf_result    text,
    sf_message   text,
    sf_error     jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz,
    processed_tx xid8,
    archived_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX change_archive_archived_at_idx ON sfsync.change_archive (archived_at);
CREATE INDEX change_archive_record_idx ON sfsync.change_archive (mapping_id, record_id);
CREATE INDEX change_archive_failed_idx ON sfsync.change_archive (mapping_id) WHERE state = 'FAILED';
COMMENT ON TABLE sfsync.change_archive IS
    'sfsync: finished changes (SUCCESS, FAILED, MERGED, IGNORED, READONLY), purged by the sidecar after the retention';

CREATE TABLE sfsync.conflict (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    mapping_id     bigint NOT NULL,
    record_id      bigint,
    sfid           varchar(18),
    field          text NOT NULL,
    column_name    text NOT NULL,
    local_value    jsonb,
    incoming_value jsonb,
    policy         text NOT NULL,
    change_id      bigint,
    resolved_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX conflict_mapping_idx ON sfsync.conflict (mapping_id, resolved_at);
COMMENT ON TABLE sfsync.conflict IS
    'sfsync: every incoming Salesforce value that met a queued or in-flight local change to the same field, and how the mapping''s policy resolved it';

-- pg_dump keeps the contents of these extension tables.
SELECT pg_catalog.pg_extension_config_dump('sfsync.instance', '');
SELECT pg_catalog.pg_extension_config_dump('sfsync.mapping', '');
SELECT pg_catalog.pg_extension_config_dump('sfsync.change', '');
SELECT pg_catalog.pg_extension_config_dump('sfsync.change_archive', '');
SELECT pg_catalog.pg_extension_config_dump('sfsync.conflict', '');
-- ... and the positions of their id sequences: pg_dump dumps no state of an extension's sequences
-- unless they are registered too, so a restore would start them at 1 again and the next mapping,
-- queued change or conflict would collide with a restored id (change_archive draws from
-- change_id_seq). Identity sequences must be named: they are extension members of their own.
SELECT pg_catalog.pg_extension_config_dump('sfsync.mapping_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('sfsync.change_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('sfsync.conflict_id_seq', '');
