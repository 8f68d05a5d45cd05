-- Set-up shared by every SQL regression test (run once, first, in a fresh database): the extension,
-- the describes the tests map from, and two helpers.
CREATE EXTENSION sfsync;
CREATE SCHEMA regress;

-- Describes of the emulator's standard objects, read by psql from tests/fixtures/describe
-- (pg_regress runs psql in tests/pg_regress).
CREATE TABLE regress.describe (object text PRIMARY KEY, body jsonb NOT NULL);
\set account `cat ../fixtures/describe/account.json`
INSERT INTO regress.describe VALUES ('Account', :'account');

-- Runs a statement that must fail and returns "SQLSTATE: message", with the error's detail and hint
-- when it has them (in a subtransaction, so the test's transaction goes on); 'no error' when it succeeds.
CREATE FUNCTION regress.error_of(statement text) RETURNS text
    LANGUAGE plpgsql AS $$
DECLARE
    v_detail text;
    v_hint text;
BEGIN
    EXECUTE statement;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
    RETURN SQLSTATE || ': ' || SQLERRM
        || coalesce(' | detail: ' || nullif(v_detail, ''), '')
        || coalesce(' | hint: ' || nullif(v_hint, ''), '');
END $$;

-- sfsync.create_mapping with the Account describe added to the options.
CREATE FUNCTION regress.map_account(object_name text, fields text[], access text, options jsonb DEFAULT '{}')
    RETURNS bigint
    LANGUAGE sql AS $$
    SELECT sfsync.create_mapping(object_name, fields, access,
                                 options || jsonb_build_object('describe', (SELECT body FROM regress.describe WHERE object = 'Account')))
$$;

-- What a failed create_mapping must not leave behind: mapping rows, tables outside the system
-- schemas, the default schema.
CREATE FUNCTION regress.leftovers(OUT mappings bigint, OUT tables bigint, OUT schemas bigint)
    LANGUAGE sql AS $$
    SELECT (SELECT count(*) FROM sfsync.mapping),
           (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', 'sfsync', 'regress')
               AND n.nspname NOT LIKE 'pg_temp%' AND n.nspname NOT LIKE 'pg_toast_temp%'),
           (SELECT count(*) FROM pg_namespace WHERE nspname = 'salesforce')
$$;
