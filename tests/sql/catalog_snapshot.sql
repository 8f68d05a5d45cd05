-- The catalog snapshot the upgrade test compares (tests/tests/upgrade.rs): everything of schema
-- sfsync, of the schemas holding mapped tables, of the extension itself and of the roles it creates
-- that a user, pg_dump or the sidecar could tell apart, one row per object: (key, body).
--
-- OIDs and other values that differ between two equal installs (sequence positions, statistics,
-- creation order of aclitems and extconfig entries) are left out or put in a fixed order, so two
-- installs that behave the same produce the same rows.

WITH schemas AS (
    SELECT n.oid, n.nspname
      FROM pg_catalog.pg_namespace n
     WHERE n.nspname = 'sfsync'
        OR n.nspname IN (SELECT m.schema_name FROM sfsync.mapping m)
),
ext AS (
    SELECT e.* FROM pg_catalog.pg_extension e WHERE e.extname = 'sfsync'
),
-- the roles the extension creates, and the login roles that are members of them
roles AS (
    SELECT r.* FROM pg_catalog.pg_roles r WHERE r.rolname LIKE 'sfsync\_%'
),
items(key, body) AS (
    -- the extension: version, schema, and what pg_dump keeps of its configuration tables
    SELECT 'extension ' || e.extname,
           concat_ws(E'\n',
               'version ' || e.extversion,
               'schema ' || e.extnamespace::regnamespace::text,
               'relocatable ' || e.extrelocatable,
               'owner ' || e.extowner::regrole::text,
               'config dump ' || coalesce((
                   SELECT string_agg(c.t || ' where ' || quote_literal(c.cond), ', ' ORDER BY c.t)
                     FROM unnest(e.extconfig::regclass[]::text[], e.extcondition) AS c(t, cond)), 'none'))
      FROM ext e

    UNION ALL
    -- every object the extension owns (DROP EXTENSION drops exactly these)
    SELECT 'member ' || pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid), 'member'
      FROM pg_catalog.pg_depend d, ext e
     WHERE d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.refobjid = e.oid AND d.deptype = 'e'

    UNION ALL
    -- initial privileges recorded by CREATE/ALTER EXTENSION (pg_dump dumps only what differs from them)
    SELECT 'initial privileges ' || pg_catalog.pg_describe_object(i.classoid, i.objoid, i.objsubid),
           i.privtype::text || ' ' || (SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(i.initprivs) a)
      FROM pg_catalog.pg_init_privs i
     WHERE i.privtype = 'e'
       AND EXISTS (SELECT 1 FROM pg_catalog.pg_depend d, ext e
                    WHERE d.classid = i.classoid AND d.objid = i.objoid
                      AND d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.refobjid = e.oid
                      AND d.deptype = 'e')

    UNION ALL
    SELECT 'schema ' || s.nspname,
           concat_ws(E'\n',
               'owner ' || n.nspowner::regrole::text,
               'acl ' || coalesce((SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(n.nspacl) a), 'default'),
               'comment ' || pg_catalog.obj_description(n.oid, 'pg_namespace'))
      FROM schemas s JOIN pg_catalog.pg_namespace n ON n.oid = s.oid

    UNION ALL
    -- functions and procedures: the whole definition (language, volatility, SET options, security
    -- definer, the C symbol of Rust functions) plus owner, ACL and comment
    SELECT 'function ' || p.oid::regprocedure::text,
           concat_ws(E'\n',
               'owner ' || p.proowner::regrole::text,
               'security definer ' || p.prosecdef,
               'config ' || coalesce(array_to_string(p.proconfig, ', '), 'none'),
               'acl ' || coalesce((SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(p.proacl) a), 'default'),
               'comment ' || pg_catalog.obj_description(p.oid, 'pg_proc'),
               CASE WHEN p.prokind IN ('f', 'p', 'w') THEN pg_catalog.pg_get_functiondef(p.oid)
                    ELSE 'aggregate ' || pg_catalog.pg_get_function_result(p.oid) END)
      FROM pg_catalog.pg_proc p JOIN schemas s ON s.oid = p.pronamespace

    UNION ALL
    -- tables, views, sequences, indexes and composite types
    SELECT 'relation ' || c.oid::regclass::text,
           concat_ws(E'\n',
               'kind ' || c.relkind::text,
               'persistence ' || c.relpersistence::text,
               'owner ' || c.relowner::regrole::text,
               'acl ' || coalesce((SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(c.relacl) a), 'default'),
               'options ' || coalesce(array_to_string(c.reloptions, ', '), 'none'),
               'row level security ' || c.relrowsecurity || ', forced ' || c.relforcerowsecurity,
               'replica identity ' || c.relreplident::text,
               'comment ' || pg_catalog.obj_description(c.oid, 'pg_class'),
               CASE WHEN c.relkind IN ('v', 'm') THEN 'view ' || pg_catalog.pg_get_viewdef(c.oid) END)
      FROM pg_catalog.pg_class c JOIN schemas s ON s.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'i', 'I', 'c', 'f')

    UNION ALL
    -- columns: position among the live columns (dropped ones leave gaps in attnum), type, nullability,
    -- default, identity, generation, collation, ACL and comment
    SELECT 'column ' || a.attrelid::regclass::text || '.' || quote_ident(a.attname),
           concat_ws(E'\n',
               'position ' || row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum),
               'type ' || pg_catalog.format_type(a.atttypid, a.atttypmod),
               'not null ' || a.attnotnull,
               'default ' || pg_catalog.pg_get_expr(ad.adbin, ad.adrelid),
               'identity ' || nullif(a.attidentity::text, ''),
               'generated ' || nullif(a.attgenerated::text, ''),
               'collation ' || CASE WHEN a.attcollation <> t.typcollation THEN a.attcollation::regcollation::text END,
               'acl ' || (SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(a.attacl) x),
               'comment ' || pg_catalog.col_description(a.attrelid, a.attnum))
      FROM pg_catalog.pg_attribute a
      JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
      JOIN schemas s ON s.oid = c.relnamespace
      JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
      LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
     WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'c', 'f')

    UNION ALL
    SELECT 'constraint ' || co.conname || ' on ' || coalesce(co.conrelid::regclass::text, co.contypid::regtype::text),
           concat_ws(E'\n',
               'type ' || co.contype::text,
               'deferrable ' || co.condeferrable || ', deferred ' || co.condeferred || ', validated ' || co.convalidated,
               pg_catalog.pg_get_constraintdef(co.oid),
               'comment ' || pg_catalog.obj_description(co.oid, 'pg_constraint'))
      FROM pg_catalog.pg_constraint co JOIN schemas s ON s.oid = co.connamespace

    UNION ALL
    SELECT 'index ' || i.indexrelid::regclass::text,
           concat_ws(E'\n',
               pg_catalog.pg_get_indexdef(i.indexrelid),
               'primary ' || i.indisprimary || ', unique ' || i.indisunique || ', replica identity ' || i.indisreplident)
      FROM pg_catalog.pg_index i
      JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
      JOIN schemas s ON s.oid = c.relnamespace

    UNION ALL
    SELECT 'trigger ' || tg.tgname || ' on ' || tg.tgrelid::regclass::text,
           concat_ws(E'\n',
               pg_catalog.pg_get_triggerdef(tg.oid),
               'enabled ' || tg.tgenabled::text,
               'comment ' || pg_catalog.obj_description(tg.oid, 'pg_trigger'))
      FROM pg_catalog.pg_trigger tg
      JOIN pg_catalog.pg_class c ON c.oid = tg.tgrelid
      JOIN schemas s ON s.oid = c.relnamespace
     WHERE NOT tg.tgisinternal

    UNION ALL
    SELECT 'policy ' || po.polname || ' on ' || po.polrelid::regclass::text,
           concat_ws(E'\n',
               'command ' || po.polcmd::text || ', permissive ' || po.polpermissive,
               'roles ' || (SELECT string_agg(CASE WHEN r = 0 THEN 'public' ELSE r::regrole::text END, ',' ORDER BY 1)
                              FROM unnest(po.polroles) r),
               'using ' || pg_catalog.pg_get_expr(po.polqual, po.polrelid),
               'with check ' || pg_catalog.pg_get_expr(po.polwithcheck, po.polrelid))
      FROM pg_catalog.pg_policy po
      JOIN pg_catalog.pg_class c ON c.oid = po.polrelid
      JOIN schemas s ON s.oid = c.relnamespace

    UNION ALL
    SELECT 'rule ' || r.rulename || ' on ' || quote_ident(r.schemaname) || '.' || quote_ident(r.tablename),
           r.definition
      FROM pg_catalog.pg_rules r JOIN schemas s ON s.nspname = r.schemaname

    UNION ALL
    -- sequences: their parameters and what owns them, never their position
    SELECT 'sequence ' || sq.seqrelid::regclass::text,
           concat_ws(E'\n',
               'type ' || sq.seqtypid::regtype::text,
               'start ' || sq.seqstart || ', increment ' || sq.seqincrement || ', min ' || sq.seqmin
                   || ', max ' || sq.seqmax || ', cache ' || sq.seqcache || ', cycle ' || sq.seqcycle,
               (SELECT string_agg('owned by ' || d.refobjid::regclass::text || '.' || quote_ident(a.attname)
                                  || ' (' || d.deptype::text || ')', ', ' ORDER BY 1)
                  FROM pg_catalog.pg_depend d
                  JOIN pg_catalog.pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                 WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = sq.seqrelid
                   AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.deptype IN ('a', 'i')))
      FROM pg_catalog.pg_sequence sq
      JOIN pg_catalog.pg_class c ON c.oid = sq.seqrelid
      JOIN schemas s ON s.oid = c.relnamespace

    UNION ALL
    -- types that are not the row types of relations: composites made with CREATE TYPE, enums, domains
    SELECT 'type ' || t.oid::regtype::text,
           concat_ws(E'\n',
               'kind ' || t.typtype::text,
               'owner ' || t.typowner::regrole::text,
               'acl ' || coalesce((SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(t.typacl) a), 'default'),
               'labels ' || (SELECT string_agg(en.enumlabel, ',' ORDER BY en.enumsortorder)
                               FROM pg_catalog.pg_enum en WHERE en.enumtypid = t.oid),
               'base ' || CASE WHEN t.typtype = 'd' THEN pg_catalog.format_type(t.typbasetype, t.typtypmod) END,
               'comment ' || pg_catalog.obj_description(t.oid, 'pg_type'))
      FROM pg_catalog.pg_type t JOIN schemas s ON s.oid = t.typnamespace
     WHERE t.typtype IN ('c', 'e', 'd')
       AND (t.typrelid = 0 OR (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid) = 'c')

    UNION ALL
    SELECT 'default privileges ' || coalesce(s.nspname, '(all schemas)') || ' for ' || da.defaclrole::regrole::text
               || ' on ' || da.defaclobjtype::text,
           (SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(da.defaclacl) a)
      FROM pg_catalog.pg_default_acl da LEFT JOIN schemas s ON s.oid = da.defaclnamespace
     WHERE da.defaclnamespace = 0 OR s.oid IS NOT NULL

    UNION ALL
    SELECT 'event trigger ' || ev.evtname,
           concat_ws(E'\n', 'event ' || ev.evtevent, 'function ' || ev.evtfoid::regprocedure::text,
                     'enabled ' || ev.evtenabled::text, 'tags ' || array_to_string(ev.evttags, ','))
      FROM pg_catalog.pg_event_trigger ev

    UNION ALL
    -- roles (cluster-wide: compare installs in separate clusters): attributes, comment, memberships
    SELECT 'role ' || r.rolname,
           concat_ws(E'\n',
               'superuser ' || r.rolsuper || ', inherit ' || r.rolinherit || ', create role ' || r.rolcreaterole
                   || ', create db ' || r.rolcreatedb || ', login ' || r.rolcanlogin || ', replication '
                   || r.rolreplication || ', bypass rls ' || r.rolbypassrls || ', connection limit ' || r.rolconnlimit,
               'config ' || array_to_string(r.rolconfig, ', '),
               'comment ' || pg_catalog.shobj_description(r.oid, 'pg_authid'),
               'member of ' || (SELECT string_agg(m.roleid::regrole::text || CASE WHEN m.admin_option THEN ' with admin' ELSE '' END,
                                                  ',' ORDER BY 1)
                                  FROM pg_catalog.pg_auth_members m WHERE m.member = r.oid),
               'members ' || (SELECT string_agg(m.member::regrole::text || CASE WHEN m.admin_option THEN ' with admin' ELSE '' END,
                                                ',' ORDER BY 1)
                                FROM pg_catalog.pg_auth_members m WHERE m.roleid = r.oid))
      FROM roles r

    UNION ALL
    -- GRANT SET ON PARAMETER and the like (Postgres 15)
    SELECT 'parameter ' || pa.parname,
           (SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(pa.paracl) a)
      FROM pg_catalog.pg_parameter_acl pa
)
SELECT key, coalesce(body, '') AS body FROM items ORDER BY key, body;
