-- Tenants: which Salesforce org each schema belongs to, and the scope of a sidecar's session.
--
-- One schema is one org. A sidecar opens its database session with sfsync._open_session(schema,
-- org id): the org is checked against the one bound to the schema (bound on first contact), and the
-- session is bound to the schema for its whole life. Every protocol function then acts only on the
-- mappings and changes of that schema, whatever it is asked: the extension enforces the isolation,
-- not the sidecar.

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

-- The 18-character form of a 15- or 18-character Salesforce id: the suffix encodes, per block of
-- five characters, which are upper case, so the id survives case-insensitive comparison. An
-- 18-character id whose suffix does not match its first 15 characters is refused.
CREATE FUNCTION sfsync._id18(p_id text)
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
CREATE FUNCTION sfsync._org_id(p_org_id text)
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
CREATE FUNCTION sfsync._protocol_scope()
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
CREATE FUNCTION sfsync._check_scope(p_mapping bigint)
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
CREATE FUNCTION sfsync._set_binding(p_schema text, p_org_id text)
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
CREATE FUNCTION sfsync._open_session(p_schema text, p_org_id text, p_rebind boolean DEFAULT false)
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
CREATE FUNCTION sfsync._org_binding(p_schema text)
    RETURNS TABLE (org_id text, bound_at timestamptz)
    LANGUAGE sql
    STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT o.org_id, o.bound_at FROM sfsync.org o WHERE o.schema_name = p_schema
$$;
COMMENT ON FUNCTION sfsync._org_binding(text) IS 'sfsync (sidecar): the org a schema is bound to, if any';

CREATE FUNCTION sfsync.bind_org(org_id text, schema text DEFAULT 'salesforce')
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

-- The functions written in Rust (src/session.rs, src/names.rs) that this file relies on.
COMMENT ON FUNCTION sfsync._bind_session(text) IS
    'sfsync: binds this connection to a schema for its whole life (only _open_session calls it)';
COMMENT ON FUNCTION sfsync._session_schema() IS
    'sfsync: the schema this connection is bound to, or NULL';
COMMENT ON FUNCTION sfsync._check_identifier(text, text) IS
    'sfsync: the identifier, or an error when Postgres would truncate it (longer than 63 bytes)';
