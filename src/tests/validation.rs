//! Bad input: each gets a clear error naming the bad value, and leaves no partial state.

#[pgrx::pg_schema]
mod tests {
    use crate::tests::fixtures::*;
    use pgrx::prelude::*;

    /// Nothing of a failed create_mapping may remain.
    fn assert_nothing_left() {
        assert_eq!(
            count("SELECT count(*) FROM sfsync.mapping"),
            0,
            "a mapping row was left behind"
        );
        assert_eq!(
            count("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', 'sfsync', 'tests') AND n.nspname NOT LIKE 'pg_temp%' AND n.nspname NOT LIKE 'pg_toast_temp%'"),
            0,
            "a table was left behind"
        );
        assert_eq!(
            count("SELECT count(*) FROM pg_namespace WHERE nspname = 'salesforce'"),
            0,
            "a schema was left behind"
        );
    }

    fn create(object: &str, fields: &str, access: &str, options: &str) -> String {
        format!(
            "SELECT sfsync.create_mapping({object}, {fields}, {access}, {options}::jsonb || jsonb_build_object('describe', '{}'::jsonb))",
            ACCOUNT.replace('\'', "''")
        )
    }

    #[pg_test]
    fn unknown_object_name_format() {
        expect_error(
            &create("'Bad Object'", "ARRAY['Name']", "'read_only'", "'{}'"),
            "42602",
            &["Bad Object", "object name"],
        );
        expect_error(
            &create("'1Account'", "ARRAY['Name']", "'read_only'", "'{}'"),
            "42602",
            &["1Account"],
        );
        assert_nothing_left();
    }

    #[pg_test]
    fn field_not_in_the_describe() {
        expect_error(
            &create(
                "'Account'",
                "ARRAY['Name', 'Nope__c', 'Missing']",
                "'read_only'",
                "'{}'",
            ),
            "42703",
            &["Nope__c", "Missing", "Account"],
        );
        assert_nothing_left();
    }

    #[pg_test]
    fn duplicate_field() {
        expect_error(
            &create("'Account'", "ARRAY['Name', 'name']", "'read_only'", "'{}'"),
            "42701",
            &["name", "duplicate"],
        );
        assert_nothing_left();
    }

    #[pg_test]
    fn sql_injection_in_names() {
        expect_error(
            &create(
                "'Account\"; DROP TABLE x; --'",
                "ARRAY['Name']",
                "'read_only'",
                "'{}'",
            ),
            "42602",
            &["DROP TABLE"],
        );
        expect_error(
            &create(
                "'Account'",
                "ARRAY['Name\"); DROP TABLE sfsync.mapping; --']",
                "'read_only'",
                "'{}'",
            ),
            "42602",
            &["DROP TABLE"],
        );
        expect_error(
            &create(
                "'Account'",
                "ARRAY['Name']",
                "'read_only'",
                r#"'{"schema": "x\"; DROP SCHEMA sfsync CASCADE; --"}'"#,
            ),
            "42602",
            &["schema name", "DROP SCHEMA"],
        );
        expect_error(
            &create(
                "'Account'",
                "ARRAY['Name']",
                "'read_only'",
                r#"'{"table": "t; DELETE FROM sfsync.mapping"}'"#,
            ),
            "42602",
            &["table name", "DELETE FROM"],
        );
        expect_error(
            &create(
                "'Account'",
                "ARRAY['Name']",
                "'read_only'",
                r#"'{"filter": "Name = ''x'') OR (Id != null"}'"#,
            ),
            "22023",
            &["filter"],
        );
        assert_nothing_left();
        assert_eq!(
            count("SELECT count(*) FROM pg_namespace WHERE nspname = 'sfsync'"),
            1
        );
    }

    #[pg_test]
    fn bad_access_value() {
        expect_error(
            &create("'Account'", "ARRAY['Name']", "'write_only'", "'{}'"),
            "22023",
            &["access", "write_only"],
        );
        assert_nothing_left();
    }

    #[pg_test]
    fn unknown_option_key_and_wrong_option_types() {
        expect_error(
            &create(
                "'Account'",
                "ARRAY['Name']",
                "'read_only'",
                r#"'{"pol_seconds": 5}'"#,
            ),
            "22023",
            &["unknown option key", "pol_seconds"],
        );
        expect_error(
            &create(
                "'Account'",
                "ARRAY['Name']",
                "'read_only'",
                r#"'{"poll_seconds": "60"}'"#,
            ),
            "22023",
            &["poll_seconds", "number", "string"],
        );
        expect_error(
            &create(
                "'Account'",
                "ARRAY['Name']",
                "'read_only'",
                r#"'{"poll_seconds": 1.5}'"#,
            ),
            "22023",
            &["poll_seconds", "1.5"],
        );
        expect_error(
            &create(
                "'Account'",
                "ARRAY['Name']",
                "'read_only'",
                r#"'{"poll_seconds": 0}'"#,
            ),
            "22023",
            &["poll_seconds", "0"],
        );
        expect_error(
            &create(
                "'Account'",
                "ARRAY['Name']",
                "'read_only'",
                r#"'{"streaming": "yes"}'"#,
            ),
            "22023",
            &["streaming", "boolean"],
        );
        expect_error(
            &create(
                "'Account'",
                "ARRAY['Name']",
                "'read_only'",
                r#"'{"read_only_fields": "Name"}'"#,
            ),
            "22023",
            &["read_only_fields", "array"],
        );
        expect_error(
            &create(
                "'Account'",
                "ARRAY['Name']",
                "'read_only'",
                r#"'{"read_only_fields": ["Industry"]}'"#,
            ),
            "22023",
            &["read_only_fields", "Industry"],
        );
        expect_error(
            &create(
                "'Account'",
                "ARRAY['Name']",
                "'read_only'",
                r#"'{"conflict": "local_wins"}'"#,
            ),
            "22023",
            &["conflict", "local_wins"],
        );
        expect_error(
            "SELECT sfsync.create_mapping('Account', ARRAY['Name'], 'read_only', '[1]')",
            "22023",
            &["option must be a JSON object", "array"],
        );
        assert_nothing_left();
    }

    #[pg_test]
    fn malformed_describe_json() {
        expect_error("SELECT sfsync.create_mapping('Account', ARRAY['Name'], 'read_only', '{\"describe\": {\"fields\": []}}')", "22032", &["describe", "name"]);
        expect_error("SELECT sfsync.create_mapping('Account', ARRAY['Name'], 'read_only', '{\"describe\": {\"name\": \"Account\", \"fields\": [{\"name\": \"Name\"}]}}')", "22032", &["Name", "type"]);
        expect_error("SELECT sfsync.create_mapping('Account', ARRAY['Name'], 'read_only', '{\"describe\": \"Account\"}')", "22023", &["describe", "object", "string"]);
        assert_nothing_left();
    }

    #[pg_test]
    fn describe_for_another_object() {
        expect_error(
            &format!("SELECT sfsync.create_mapping('Contact', ARRAY['Name'], 'read_only', jsonb_build_object('describe', '{}'::jsonb))", ACCOUNT.replace('\'', "''")),
            "22023",
            &["Account", "Contact"],
        );
        assert_nothing_left();
    }

    #[pg_test]
    fn duplicate_mapping() {
        map("Account", &["Name"], "read_only", ACCOUNT, "{}");
        expect_error(
            &create("'Account'", "ARRAY['Industry']", "'read_only'", "'{}'"),
            "42710",
            &["Account", "already exists"],
        );
        expect_error(
            &create("'account'", "ARRAY['Industry']", "'read_only'", "'{}'"),
            "42710",
            &["already exists"],
        );
        assert_eq!(count("SELECT count(*) FROM sfsync.mapping"), 1);
    }

    #[pg_test]
    fn upsert_field_that_is_not_an_external_id() {
        expect_error(
            &create(
                "'Account'",
                "ARRAY['Name', 'Industry']",
                "'read_write'",
                r#"'{"upsert_field": "Industry"}'"#,
            ),
            "22023",
            &["Industry", "external id"],
        );
        expect_error(
            &create(
                "'Account'",
                "ARRAY['Name']",
                "'read_write'",
                r#"'{"upsert_field": "Ext_Id__c"}'"#,
            ),
            "22023",
            &["Ext_Id__c", "not in the field list"],
        );
        assert_nothing_left();
    }

    #[pg_test]
    fn filter_that_is_not_a_plausible_soql_condition() {
        for filter in [
            "Name = 'x' LIMIT 5",
            "Name = 'x'; DELETE",
            "SELECT Id FROM Account",
            "Name = 'unterminated",
            "(Name = 'x'",
            "Name",
        ] {
            expect_error(
                &create(
                    "'Account'",
                    "ARRAY['Name']",
                    "'read_only'",
                    &format!(
                        "jsonb_build_object('filter', '{}')",
                        filter.replace('\'', "''")
                    ),
                ),
                "22023",
                &["filter", "not a plausible SOQL condition"],
            );
        }
        assert_nothing_left();
        // a good one is stored as given
        map(
            "Account",
            &["Name", "Industry"],
            "read_only",
            ACCOUNT,
            r#"{"filter": "Industry IN ('Banking', 'Energy') AND CreatedDate = LAST_N_DAYS:30"}"#,
        );
        assert_eq!(
            text("SELECT filter FROM sfsync.mapping"),
            Some("Industry IN ('Banking', 'Energy') AND CreatedDate = LAST_N_DAYS:30".into())
        );
    }

    #[pg_test]
    fn identifier_too_long() {
        let long_object = format!("A{}__c", "b".repeat(60));
        let describe = format!(
            r#"{{"name": "{long_object}", "fields": [{{"name": "Id", "type": "id"}}, {{"name": "Name", "type": "string", "length": 80}}]}}"#
        );
        expect_error(
            &format!("SELECT sfsync.create_mapping('{long_object}', ARRAY['Name'], 'read_only', jsonb_build_object('describe', '{describe}'::jsonb))"),
            "42622",
            &["longer than 63 bytes"],
        );
        let long_field = format!("F{}__c", "x".repeat(62));
        let describe = format!(
            r#"{{"name": "Thing__c", "fields": [{{"name": "Id", "type": "id"}}, {{"name": "{long_field}", "type": "string", "length": 80}}]}}"#
        );
        expect_error(
            &format!("SELECT sfsync.create_mapping('Thing__c', ARRAY['{long_field}'], 'read_only', jsonb_build_object('describe', '{describe}'::jsonb))"),
            "42622",
            &[&long_field.to_lowercase(), "63 bytes"],
        );
        assert_nothing_left();
    }

    #[pg_test]
    fn empty_or_null_field_lists() {
        expect_error(
            &create("'Account'", "ARRAY[]::text[]", "'read_only'", "'{}'"),
            "22023",
            &["at least one"],
        );
        expect_error(
            &create("'Account'", "ARRAY['Name', NULL]", "'read_only'", "'{}'"),
            "22004",
            &["NULL"],
        );
        assert_nothing_left();
    }

    #[pg_test]
    fn filters_too_long_or_too_deep_for_soql() {
        // 4 MB was accepted by 0.1.0 (no SOQL query carries it); 200 KB of parentheses crashed the
        // backend by recursing without limit
        expect_error(
            &create(
                "'Account'",
                "ARRAY['Name']",
                "'read_only'",
                "jsonb_build_object('filter', 'Name = ''' || repeat('x', 4000000) || '''')",
            ),
            "22023",
            &["10000 a filter may have"],
        );
        expect_error(
            &create("'Account'", "ARRAY['Name']", "'read_only'", "jsonb_build_object('filter', repeat('(', 100000) || 'Name = ''a''' || repeat(')', 100000))"),
            "22023",
            &["10000 a filter may have"],
        );
        expect_error(
            &create("'Account'", "ARRAY['Name']", "'read_only'", "jsonb_build_object('filter', repeat('(', 40) || 'Name = ''a''' || repeat(')', 40))"),
            "22023",
            &["nested more than 32 levels"],
        );
        assert_nothing_left();
    }

    #[pg_test]
    fn indexes_option_must_be_well_formed() {
        for (indexes, needle) in [
            ("'null'::jsonb", "must be a JSON object"),
            ("'[]'::jsonb", "must be a JSON object"),
            (
                r#"'{"Name": {"unique": "maybe"}}'::jsonb"#,
                "must be a JSON boolean",
            ),
            (r#"'{"Name": {"unique": null}}'::jsonb"#, "true or false"),
            (
                r#"'{"Name": {"uniq": true}}'::jsonb"#,
                "unknown option indexes.Name key",
            ),
            (r#"'{"Name": true}'::jsonb"#, "must be a JSON object"),
            (
                r#"'{"Industry": {"unique": false}}'::jsonb"#,
                "not in the field list",
            ),
        ] {
            expect_error(
                &create(
                    "'Account'",
                    "ARRAY['Name']",
                    "'read_only'",
                    &format!("jsonb_build_object('indexes', {indexes})"),
                ),
                "22023",
                &[needle],
            );
        }
        assert_nothing_left();
    }

    #[pg_test]
    fn the_same_object_in_another_case_is_the_same_mapping() {
        one::<i64>(&create("'Account'", "ARRAY['Name']", "'read_only'", "'{}'")).unwrap();
        expect_error(
            &create(
                "'ACCOUNT'",
                "ARRAY['Name']",
                "'read_only'",
                r#"'{"table": "account2"}'"#,
            ),
            "42710",
            &["already exists"],
        );
        assert_eq!(count("SELECT count(*) FROM sfsync.mapping"), 1);
    }

    #[pg_test]
    fn names_sfsync_or_postgres_reserve_are_refused_at_create_mapping() {
        for (options, needle) in [
            (r#"'{"schema": "pg_mine"}'"#, "reserved"),
            (r#"'{"schema": "sfsync"}'"#, "reserved"),
            (r#"'{"schema": "information_schema"}'"#, "reserved"),
            (r#"'{"table": "_trigger_log"}'"#, "taken by sfsync's view"),
            (
                r#"'{"table": "_trigger_log_archive"}'"#,
                "taken by sfsync's view",
            ),
        ] {
            // without a describe too: refused when asked, not later when the sidecar installs it
            expect_error(
                &format!("SELECT sfsync.create_mapping('Account', ARRAY['Name'], 'read_only', {options})"),
                "22023",
                &[needle],
            );
        }
        // a schema sfsync_owner may not use, or not create tables in
        run("CREATE SCHEMA theirs");
        let create_in_theirs = "SELECT sfsync.create_mapping('Account', ARRAY['Name'], 'read_only', '{\"schema\": \"theirs\"}')";
        expect_error(
            create_in_theirs,
            "42501",
            &[
                "may not use schema theirs",
                "GRANT USAGE, CREATE ON SCHEMA theirs TO sfsync_owner",
            ],
        );
        run("GRANT USAGE ON SCHEMA theirs TO sfsync_owner");
        expect_error(
            create_in_theirs,
            "42501",
            &["may not create tables in schema theirs"],
        );
        run("REVOKE USAGE ON SCHEMA theirs FROM sfsync_owner");
        run("DROP SCHEMA theirs");
        assert_nothing_left();
    }

    #[pg_test]
    fn mapping_ddl_leaves_no_lock_timeout_behind() {
        run("SET LOCAL lock_timeout = '42s'");
        one::<i64>(&create(
            "'Account'",
            "ARRAY['Name']",
            "'read_write'",
            "'{}'",
        ))
        .unwrap();
        assert_eq!(text("SHOW lock_timeout"), Some("42s".into()));
        run("SELECT sfsync.drop_mapping('Account', drop_table => true)");
        assert_eq!(text("SHOW lock_timeout"), Some("42s".into()));
    }

    #[pg_test]
    fn the_archive_retention_is_at_least_a_day() {
        run("INSERT INTO sfsync.change_archive (mapping_id, record_id, action, state) VALUES (1, 1, 'INSERT', 'FAILED')");
        for retention in ["-1 day", "1 second", "23 hours"] {
            expect_error(
                &format!("SELECT sfsync._purge_archive('{retention}')"),
                "22023",
                &["at least 1 day"],
            );
        }
        assert_eq!(count("SELECT sfsync._purge_archive('1 day')"), 0);
        assert_eq!(
            count("SELECT count(*) FROM sfsync.change_archive WHERE state = 'FAILED'"),
            1
        );
    }
}
