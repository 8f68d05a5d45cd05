//! Tables, types, indexes and triggers created from describe fixtures.

#[pgrx::pg_schema]
mod tests {
    use crate::tests::fixtures::*;
    use pgrx::prelude::*;

    fn column_types(table: &str) -> Vec<(String, String)> {
        let value = json(&format!(
            "SELECT jsonb_agg(jsonb_build_array(attname, format_type(atttypid, atttypmod)) ORDER BY attnum)
               FROM pg_attribute WHERE attrelid = '{table}'::regclass AND attnum > 0 AND NOT attisdropped"
        ));
        value
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p[0].as_str().unwrap().to_string(),
                    p[1].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    fn type_of(table: &str, column: &str) -> String {
        column_types(table)
            .into_iter()
            .find(|(c, _)| c == column)
            .unwrap_or_else(|| panic!("{table} has no column {column}"))
            .1
    }

    #[pg_test]
    fn account_table_follows_the_type_map() {
        map_account_rw();
        let columns = column_types("salesforce.account");
        let names: Vec<&str> = columns.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(
            names,
            [
                "id",
                "sfid",
                "isdeleted",
                "systemmodstamp",
                "name",
                "industry",
                "annualrevenue",
                "numberofemployees",
                "ext_id__c",
                "description",
                "_hc_lastop",
                "_hc_err"
            ]
        );
        assert_eq!(type_of("salesforce.account", "id"), "bigint");
        assert_eq!(
            type_of("salesforce.account", "sfid"),
            "character varying(18)"
        );
        assert_eq!(type_of("salesforce.account", "isdeleted"), "boolean");
        assert_eq!(
            type_of("salesforce.account", "systemmodstamp"),
            "timestamp without time zone"
        );
        assert_eq!(
            type_of("salesforce.account", "name"),
            "character varying(255)"
        );
        assert_eq!(
            type_of("salesforce.account", "annualrevenue"),
            "numeric(18,0)"
        );
        assert_eq!(
            type_of("salesforce.account", "numberofemployees"),
            "integer"
        );
        assert_eq!(type_of("salesforce.account", "description"), "text");
        assert_eq!(
            type_of("salesforce.account", "_hc_lastop"),
            "character varying(32)"
        );
        assert_eq!(type_of("salesforce.account", "_hc_err"), "text");
        // id is the local surrogate key
        assert_eq!(
            text("SELECT attidentity::text FROM pg_attribute WHERE attrelid = 'salesforce.account'::regclass AND attname = 'id'"),
            Some("d".into())
        );
        let indexes = json(
            "SELECT jsonb_agg(indexname ORDER BY indexname) FROM pg_indexes WHERE schemaname = 'salesforce' AND tablename = 'account'",
        );
        assert_eq!(
            indexes,
            serde_json::json!([
                "account_pkey",
                "hc_idx_account_systemmodstamp",
                "hcu_idx_account_ext_id__c",
                "hcu_idx_account_sfid"
            ])
        );
        assert_eq!(count("SELECT count(*) FROM pg_index WHERE indexrelid = 'salesforce.hcu_idx_account_sfid'::regclass AND indisunique"), 1);
        assert_eq!(count("SELECT count(*) FROM pg_index WHERE indexrelid = 'salesforce.hcu_idx_account_ext_id__c'::regclass AND indisunique"), 1);
        let triggers = json(
            "SELECT jsonb_agg(tgname ORDER BY tgname) FROM pg_trigger WHERE tgrelid = 'salesforce.account'::regclass",
        );
        assert_eq!(
            triggers,
            serde_json::json!(["sfsync_capture", "sfsync_status", "sfsync_truncate"])
        );
        assert_eq!(
            text("SELECT state FROM sfsync.mapping WHERE object_name = 'Account'"),
            Some("LOADING".into())
        );
        // the table is not an extension member: DROP EXTENSION cannot take user data with it
        assert_eq!(
            count("SELECT count(*) FROM pg_depend WHERE objid = 'salesforce.account'::regclass AND deptype = 'e'"),
            0
        );
    }

    #[pg_test]
    fn compound_address_maps_as_its_components() {
        map(
            "Account",
            &["Name", "BillingAddress"],
            "read_only",
            ACCOUNT,
            "{}",
        );
        let names: Vec<String> = column_types("salesforce.account")
            .into_iter()
            .map(|(c, _)| c)
            .collect();
        for component in [
            "billingstreet",
            "billingcity",
            "billingstate",
            "billingpostalcode",
            "billingcountry",
        ] {
            assert!(
                names.contains(&component.to_string()),
                "{component} missing from {names:?}"
            );
        }
        assert!(!names.contains(&"billingaddress".to_string()));
        assert_eq!(
            type_of("salesforce.account", "billingstreet"),
            "character varying(255)"
        );
        assert_eq!(
            type_of("salesforce.account", "billingcity"),
            "character varying(40)"
        );
    }

    #[pg_test]
    fn contact_has_lookup_and_relationship_external_id_columns() {
        map_contact_rw();
        assert_eq!(
            type_of("salesforce.contact", "accountid"),
            "character varying(18)"
        );
        assert_eq!(
            type_of("salesforce.contact", "account__ext_id__c"),
            "character varying(40)"
        );
        let plan = json("SELECT columns FROM sfsync.mapping WHERE object_name = 'Contact'");
        let columns = plan.as_array().unwrap();
        let relationship = columns
            .iter()
            .find(|c| c["column"] == "account__ext_id__c")
            .unwrap();
        assert_eq!(relationship["field"], "Account.Ext_Id__c");
        assert_eq!(
            relationship["path"],
            serde_json::json!(["Account", "Ext_Id__c"])
        );
        assert_eq!(relationship["reference_field"], "AccountId");
        assert_eq!(relationship["insertable"], true);
        // Name is Contact's compound full name: not createable, so read-only
        let name = columns.iter().find(|c| c["column"] == "name").unwrap();
        assert_eq!(name["read_only"], true);
        assert_eq!(name["insertable"], false);
    }

    #[pg_test]
    fn every_field_type_has_its_column_type() {
        map(
            "Every_Type__c",
            EVERY_FIELDS,
            "read_write",
            EVERY_TYPE,
            r#"{"upsert_field": "Key__c"}"#,
        );
        let t = "salesforce.every_type__c";
        for (column, expected) in [
            ("name", "character varying(80)"),
            ("text__c", "character varying(100)"),
            ("area__c", "character varying(255)"),
            ("long_area__c", "text"),
            ("email__c", "character varying(80)"),
            ("phone__c", "character varying(40)"),
            ("url__c", "character varying(255)"),
            ("pick__c", "character varying(255)"),
            ("multi__c", "character varying(4099)"),
            ("combo__c", "character varying(255)"),
            ("flag__c", "boolean"),
            ("count__c", "integer"),
            ("ratio__c", "numeric(18,6)"),
            ("money__c", "numeric(16,2)"),
            ("share__c", "numeric(5,2)"),
            ("day__c", "date"),
            ("moment__c", "timestamp without time zone"),
            ("clock__c", "time without time zone"),
            ("account__c", "character varying(18)"),
            ("formula__c", "character varying(255)"),
            ("key__c", "character varying(50)"),
        ] {
            assert_eq!(type_of(t, column), expected, "{column}");
        }
        // the calculated field is mapped, but read-only
        let plan = json("SELECT columns FROM sfsync.mapping WHERE object_name = 'Every_Type__c'");
        let formula = plan
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["column"] == "formula__c")
            .unwrap();
        assert_eq!(formula["insertable"], false);
        assert_eq!(formula["updatable"], false);
        assert_eq!(formula["read_only"], true);
        let text_col = plan
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["column"] == "text__c")
            .unwrap();
        assert_eq!(text_col["insertable"], true);
    }

    #[pg_test]
    fn custom_table_and_schema_options() {
        map(
            "Account",
            &["Name"],
            "read_only",
            ACCOUNT,
            r#"{"schema": "crm", "table": "companies"}"#,
        );
        assert_eq!(count("SELECT count(*) FROM pg_tables WHERE schemaname = 'crm' AND tablename = 'companies'"), 1);
        assert_eq!(count("SELECT count(*) FROM pg_views WHERE schemaname = 'crm' AND viewname IN ('_trigger_log', '_trigger_log_archive')"), 2);
        // read-only: no status or truncate trigger
        assert_eq!(
            count("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'crm.companies'::regclass"),
            1
        );
    }

    #[pg_test]
    fn waits_for_the_sidecar_without_a_describe() {
        let id = one::<i64>(
            "SELECT sfsync.create_mapping('Lead', ARRAY['LastName', 'Company'], 'read_write')",
        )
        .unwrap();
        assert_eq!(
            text(&format!("SELECT state FROM sfsync.mapping WHERE id = {id}")),
            Some("NEW".into())
        );
        assert_eq!(
            count("SELECT count(*) FROM pg_tables WHERE tablename = 'lead'"),
            0
        );
        // the sidecar later installs it from its describe
        let describe = r#"{"name": "Lead", "fields": [
            {"name": "Id", "type": "id", "createable": false, "updateable": false},
            {"name": "IsDeleted", "type": "boolean", "createable": false, "updateable": false},
            {"name": "SystemModstamp", "type": "datetime", "createable": false, "updateable": false},
            {"name": "LastName", "type": "string", "length": 80, "createable": true, "updateable": true},
            {"name": "Company", "type": "string", "length": 255, "createable": true, "updateable": true}]}"#;
        run(&format!(
            "SELECT sfsync._install_mapping({id}, '{describe}')"
        ));
        assert_eq!(
            type_of("salesforce.lead", "company"),
            "character varying(255)"
        );
        assert_eq!(
            text(&format!("SELECT state FROM sfsync.mapping WHERE id = {id}")),
            Some("LOADING".into())
        );
    }

    #[pg_test]
    fn adopts_a_heroku_connect_table_and_adds_missing_columns() {
        run("CREATE SCHEMA salesforce");
        run("CREATE TABLE salesforce.account (id serial PRIMARY KEY, sfid varchar(18), name varchar(255), _hc_lastop varchar(32), _hc_err text)");
        run("INSERT INTO salesforce.account (sfid, name, _hc_lastop) VALUES ('001000000000001AAA', 'Kept', 'SYNCED')");
        // a table another role owns is never adopted: someone who may hand it over must
        expect_error(
            "SELECT sfsync.create_mapping('Account', ARRAY['Name'], 'read_write')",
            "42501",
            &["may not use schema salesforce"],
        );
        run("GRANT USAGE, CREATE ON SCHEMA salesforce TO sfsync_owner");
        expect_error(
            "SELECT sfsync.create_mapping('Account', ARRAY['Name'], 'read_write')",
            "42501",
            &[
                "salesforce.account already exists and sfsync may not adopt it",
                "owned by",
                "OWNER TO sfsync_owner",
            ],
        );
        run("ALTER TABLE salesforce.account OWNER TO sfsync_owner");
        map(
            "Account",
            &["Name", "Industry"],
            "read_write",
            ACCOUNT,
            "{}",
        );
        assert_eq!(
            type_of("salesforce.account", "industry"),
            "character varying(255)"
        );
        assert_eq!(
            text("SELECT name FROM salesforce.account WHERE sfid = '001000000000001AAA'"),
            Some("Kept".into())
        );
    }
}
