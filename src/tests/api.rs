//! The user API: alter, drop, reload, pause/resume, status, Heroku Connect import/export and views.

#[pgrx::pg_schema]
mod tests {
    use crate::tests::fixtures::*;
    use pgrx::prelude::*;
    use serde_json::json;

    /// A Heroku Connect export, shaped like the reference's example.
    const HC_EXPORT: &str = r#"{
      "version": 1,
      "connection": {"organization_id": "00DE0000000L6REMA", "app_name": "my-app", "exported_at": "2024-01-01T00:00:00+00:00"},
      "mappings": [
        {"object_name": "Contact",
         "config": {
           "access": "read_write",
           "sf_notify_enabled": false,
           "sf_polling_seconds": 600,
           "sf_max_daily_api_calls": 30000,
           "fields": {"Id": {}, "IsDeleted": {}, "SystemModstamp": {}, "CreatedDate": {},
                      "FirstName": {}, "LastName": {}, "Email": {}, "AccountId": {}, "Ext_Id__c": {}},
           "indexes": {"Id": {"unique": true}, "SystemModstamp": {"unique": false}, "Ext_Id__c": {"unique": true},
                       "Email": {"unique": false}},
           "upsert_field": "Ext_Id__c"}},
        {"object_name": "Account",
         "config": {"access": "read_only", "sf_notify_enabled": true, "sf_polling_seconds": 120,
                    "fields": {"Id": {}, "Name": {}, "Industry": {}},
                    "indexes": {"Id": {"unique": true}},
                    "sfsync": {"filter": "Industry = 'Banking'", "keep_deleted": true}}}
      ]}"#;

    #[pg_test]
    fn alter_mapping_adds_and_drops_columns_and_marks_backfill() {
        let m = map_account_rw();
        run("INSERT INTO salesforce.account (name) VALUES ('Before')");
        run("SELECT sfsync.alter_mapping('Account', '{\"add_fields\": [\"Phone\", \"Website\"], \"drop_fields\": [\"Description\"]}')");
        let columns = json("SELECT jsonb_agg(attname ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'salesforce.account'::regclass AND attnum > 0 AND NOT attisdropped");
        let columns: Vec<&str> = columns
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        assert!(columns.contains(&"phone") && columns.contains(&"website"));
        assert!(!columns.contains(&"description"));
        assert_eq!(
            json(&format!(
                "SELECT to_jsonb(backfill_fields) FROM sfsync.mapping WHERE id = {m}"
            )),
            json!(["Phone", "Website"])
        );
        // capture picks up the new plan at once
        run("UPDATE salesforce.account SET phone = '555'");
        assert_eq!(
            json("SELECT \"values\" FROM sfsync.change WHERE action = 'UPDATE'"),
            json!({"phone": "555"})
        );
        // a field the stored describe does not know: the sidecar must describe again
        run("SELECT sfsync.alter_mapping('Account', '{\"add_fields\": [\"Brand_New__c\"]}')");
        assert_eq!(
            one::<bool>(&format!(
                "SELECT describe_requested FROM sfsync.mapping WHERE id = {m}"
            )),
            Some(true)
        );
        assert!(text(&format!(
            "SELECT state_detail FROM sfsync.mapping WHERE id = {m}"
        ))
        .unwrap()
        .contains("Brand_New__c"));
    }

    #[pg_test]
    fn a_changed_filter_requests_a_reconciliation_an_unchanged_one_does_not() {
        let m = map(
            "Account",
            &["Name", "Industry"],
            "read_only",
            ACCOUNT,
            r#"{"filter": "Industry = 'Banking'"}"#,
        );
        let requested = |sql: &str| {
            run(sql);
            json(&format!(
                "SELECT jsonb_build_object('r', reload_requested, 'at', reconcile_requested_at IS NOT NULL) FROM sfsync.mapping WHERE id = {m}"
            ))
        };
        assert_eq!(
            requested(
                r#"SELECT sfsync.alter_mapping('Account', '{"filter": "Industry = ''Banking''", "poll_seconds": 9}')"#
            ),
            json!({"r": false, "at": false})
        );
        assert_eq!(
            requested(
                r#"SELECT sfsync.alter_mapping('Account', '{"filter": "Industry = ''Energy''"}')"#
            ),
            json!({"r": false, "at": true}),
            "a reconciliation, not a reload: only the difference is read"
        );
    }

    #[pg_test]
    fn reconcile_seconds_is_checked_and_stored() {
        let m = map(
            "Account",
            &["Name"],
            "read_only",
            ACCOUNT,
            r#"{"reconcile_seconds": 3600}"#,
        );
        assert_eq!(
            one::<i32>(&format!(
                "SELECT reconcile_seconds FROM sfsync.mapping WHERE id = {m}"
            )),
            Some(3600)
        );
        run(r#"SELECT sfsync.alter_mapping('Account', '{"reconcile_seconds": 600}')"#);
        assert_eq!(
            one::<i32>(&format!(
                "SELECT reconcile_seconds FROM sfsync.mapping WHERE id = {m}"
            )),
            Some(600)
        );
        for bad in ["59", "31536001", "\"often\""] {
            expect_error(
                &format!(
                    r#"SELECT sfsync.alter_mapping('Account', '{{"reconcile_seconds": {bad}}}')"#
                ),
                "22023",
                &["reconcile_seconds"],
            );
        }
        assert_eq!(
            one::<i32>(&format!(
                "SELECT reconcile_seconds FROM sfsync.mapping WHERE id = {m}"
            )),
            Some(600),
            "a refused change leaves the mapping as it was"
        );
        run("SELECT sfsync.reconcile('Account')");
        assert_eq!(
            one::<bool>(&format!(
                "SELECT reconcile_requested_at IS NOT NULL FROM sfsync.mapping WHERE id = {m}"
            )),
            Some(true)
        );
    }

    #[pg_test]
    fn alter_mapping_switches_access_and_options() {
        let m = map(
            "Account",
            &["Name", "Industry", "Ext_Id__c"],
            "read_only",
            ACCOUNT,
            "{}",
        );
        run("SELECT sfsync.alter_mapping('Account', '{\"access\": \"read_write\", \"upsert_field\": \"Ext_Id__c\", \"poll_seconds\": 5, \"streaming\": true, \"conflict\": \"postgres_wins\", \"read_only_fields\": [\"Industry\"], \"filter\": \"Industry != null\"}')");
        let row = json(&format!(
            "SELECT to_jsonb(m) FROM sfsync.mapping m WHERE id = {m}"
        ));
        assert_eq!(
            (
                row["access"].clone(),
                row["upsert_field"].clone(),
                row["poll_seconds"].clone(),
                row["streaming"].clone(),
                row["conflict"].clone(),
                row["filter"].clone()
            ),
            (
                json!("read_write"),
                json!("Ext_Id__c"),
                json!(5),
                json!(true),
                json!("postgres_wins"),
                json!("Industry != null")
            )
        );
        assert_eq!(
            count("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'salesforce.account'::regclass"),
            3
        );
        assert_eq!(
            count("SELECT count(*) FROM pg_indexes WHERE indexname = 'hcu_idx_account_ext_id__c'"),
            1
        );
        run("INSERT INTO salesforce.account (name, industry) VALUES ('N', 'Energy')");
        assert_eq!(
            json("SELECT \"values\" FROM sfsync.change"),
            json!({"name": "N"}),
            "Industry is read-only now"
        );
    }

    #[pg_test]
    fn alter_mapping_bad_input() {
        map_account_rw();
        expect_error(
            "SELECT sfsync.alter_mapping('Opportunity', '{}')",
            "42704",
            &["Opportunity", "salesforce"],
        );
        expect_error(
            "SELECT sfsync.alter_mapping('Account', '{\"add_field\": []}')",
            "22023",
            &["add_field"],
        );
        expect_error(
            "SELECT sfsync.alter_mapping('Account', '{\"add_fields\": \"Phone\"}')",
            "22023",
            &["add_fields", "array"],
        );
        expect_error(
            "SELECT sfsync.alter_mapping('Account', '{\"drop_fields\": [\"Phone\"]}')",
            "42703",
            &["Phone"],
        );
        expect_error(
            "SELECT sfsync.alter_mapping('Account', '{\"drop_fields\": [\"Ext_Id__c\"]}')",
            "22023",
            &["Ext_Id__c", "upsert"],
        );
        expect_error(
            "SELECT sfsync.alter_mapping('Account', '{\"add_fields\": [\"Name\"]}')",
            "42701",
            &["Name", "already mapped"],
        );
        expect_error(
            "SELECT sfsync.alter_mapping('Account', '{\"conflict\": \"newest_wins\"}')",
            "22023",
            &["newest_wins"],
        );
        expect_error(
            "SELECT sfsync.alter_mapping('Account', '{\"access\": \"all\"}')",
            "22023",
            &["all"],
        );
        assert_eq!(
            json("SELECT to_jsonb(fields) FROM sfsync.mapping"),
            json!([
                "Name",
                "Industry",
                "AnnualRevenue",
                "NumberOfEmployees",
                "Ext_Id__c",
                "Description"
            ])
        );
    }

    #[pg_test]
    fn drop_mapping_keeps_or_drops_the_table() {
        let m = map_account_rw();
        run("INSERT INTO salesforce.account (name) VALUES ('Kept')");
        run("SELECT sfsync.drop_mapping('Account')");
        assert_eq!(count("SELECT count(*) FROM sfsync.mapping"), 0);
        assert_eq!(count("SELECT count(*) FROM salesforce.account"), 1);
        assert_eq!(
            count("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'salesforce.account'::regclass"),
            0
        );
        assert_eq!(
            text(&format!(
                "SELECT state FROM sfsync.change_archive WHERE mapping_id = {m}"
            )),
            Some("IGNORED".into())
        );
        run("INSERT INTO salesforce.account (name) VALUES ('Not captured')");
        assert_eq!(count("SELECT count(*) FROM sfsync.change"), 0);
        run("DROP TABLE salesforce.account");
        map_account_rw();
        run("SELECT sfsync.drop_mapping('Account', drop_table => true)");
        assert_eq!(
            count("SELECT count(*) FROM pg_tables WHERE tablename = 'account'"),
            0
        );
        expect_error(
            "SELECT sfsync.drop_mapping('Account')",
            "42704",
            &["Account"],
        );
    }

    #[pg_test]
    fn reload_pause_resume() {
        let m = map_account_rw();
        run("SELECT sfsync.reload('Account')");
        assert_eq!(
            one::<bool>(&format!(
                "SELECT reload_requested FROM sfsync.mapping WHERE id = {m}"
            )),
            Some(true)
        );
        map("Contact", &["LastName"], "read_only", CONTACT, "{}");
        assert_eq!(one::<i32>("SELECT sfsync.pause()"), Some(2));
        assert_eq!(
            count("SELECT count(*) FROM sfsync.mapping WHERE state = 'PAUSED'"),
            2
        );
        assert_eq!(one::<i32>("SELECT sfsync.resume('Contact')"), Some(1));
        assert_eq!(one::<i32>("SELECT sfsync.resume()"), Some(1));
        assert_eq!(
            count("SELECT count(*) FROM sfsync.mapping WHERE state = 'PAUSED'"),
            0
        );
        expect_error("SELECT sfsync.reload('Nope')", "42704", &["Nope"]);
        expect_error("SELECT sfsync.pause('Nope')", "42704", &["Nope"]);
        expect_error(
            "SELECT sfsync.resume('Nope', 'other')",
            "42704",
            &["Nope", "other"],
        );
    }

    #[pg_test]
    fn the_sidecar_clears_reload_and_backfill_flags() {
        let m = map_account_rw();
        run("SELECT sfsync.reload('Account')");
        run(&format!(
            "SELECT sfsync._finish_reload({m}, now() - interval '1 hour')"
        ));
        assert_eq!(
            one::<bool>(&format!(
                "SELECT reload_requested FROM sfsync.mapping WHERE id = {m}"
            )),
            Some(true),
            "a newer request is kept"
        );
        // the sidecar passes the request time it started from: that request is done
        run(&format!("SELECT sfsync._finish_reload({m}, (SELECT reload_requested_at FROM sfsync.mapping WHERE id = {m}))"));
        assert_eq!(
            one::<bool>(&format!(
                "SELECT reload_requested FROM sfsync.mapping WHERE id = {m}"
            )),
            Some(false)
        );
        run(&format!(
            "SELECT sfsync._set_reader_position({m}, p_swept_at => '2024-01-01T00:00:00Z')"
        ));
        run(&format!(
            "SELECT sfsync._set_reader_position({m}, p_replay_id => 42)"
        ));
        assert_eq!(text(&format!("SELECT replay_id || ' ' || to_char(deleted_swept_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') FROM sfsync.mapping WHERE id = {m}")), Some("42 2024-01-01".into()));
        run("SELECT sfsync.alter_mapping('Account', '{\"add_fields\": [\"Phone\", \"Website\"]}')");
        run(&format!(
            "SELECT sfsync._finish_backfill({m}, ARRAY['phone'])"
        ));
        assert_eq!(
            json(&format!(
                "SELECT to_jsonb(backfill_fields) FROM sfsync.mapping WHERE id = {m}"
            )),
            json!(["Website"])
        );
    }

    #[pg_test]
    fn status_reports_each_mapping() {
        map_account_rw();
        map("Contact", &["LastName"], "read_write", CONTACT, "{}");
        run("INSERT INTO salesforce.account (name) VALUES ('A'), ('B')");
        let status =
            json("SELECT jsonb_agg(to_jsonb(s) ORDER BY s.object_name) FROM sfsync.status() s");
        let account = &status[0];
        assert_eq!(account["schema"], "salesforce");
        assert_eq!(account["object_name"], "Account");
        assert_eq!(account["table_name"], "account");
        assert_eq!(account["access"], "read_write");
        assert_eq!(account["state"], "LOADING");
        assert_eq!(account["rows"], 2);
        assert_eq!(account["pending"], 2);
        assert_eq!(account["failed"], 0);
        assert!(account["lag_seconds"].as_f64().unwrap() >= 0.0);
        assert_eq!(
            account["state_detail"],
            serde_json::Value::Null,
            "has an upsert field: no warning"
        );
        let contact = &status[1];
        assert!(contact["state_detail"]
            .as_str()
            .unwrap()
            .contains("without an upsert field"));
        assert_eq!(contact["lag_seconds"], serde_json::Value::Null);
    }

    #[pg_test]
    fn trigger_log_views_use_heroku_connect_column_names() {
        let m = map_account_rw();
        run("INSERT INTO salesforce.account (name) VALUES ('A')");
        let entry = json("SELECT to_jsonb(t) FROM salesforce._trigger_log t");
        let mut keys: Vec<&str> = entry
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "action",
                "created_at",
                "id",
                "old",
                "processed_at",
                "processed_tx",
                "record_id",
                "sf_message",
                "sf_result",
                "sfid",
                "state",
                "table_name",
                "txid",
                "updated_at",
                "values"
            ]
        );
        assert_eq!(entry["table_name"], "account");
        assert_eq!(entry["state"], "NEW");
        install_try_sql();
        let refused =
            text("SELECT pg_temp.try_sql('DELETE FROM salesforce._trigger_log')").unwrap();
        assert!(refused.contains("cannot delete from view"), "{refused}");
        run(&format!(
            "SELECT sfsync.ignore(ARRAY(SELECT id FROM sfsync.change WHERE mapping_id = {m}))"
        ));
        assert_eq!(
            text("SELECT state FROM salesforce._trigger_log_archive"),
            Some("IGNORED".into())
        );
    }

    #[pg_test]
    fn imports_a_heroku_connect_export() {
        let ids = json(&format!(
            "SELECT jsonb_agg(i) FROM sfsync.import_config('{}') i",
            HC_EXPORT.replace('\'', "''")
        ));
        assert_eq!(ids.as_array().unwrap().len(), 2);
        let contact =
            json("SELECT to_jsonb(m) FROM sfsync.mapping m WHERE object_name = 'Contact'");
        assert_eq!(contact["access"], "read_write");
        assert_eq!(
            contact["fields"],
            json!([
                "AccountId",
                "CreatedDate",
                "Email",
                "Ext_Id__c",
                "FirstName",
                "LastName"
            ])
        );
        assert_eq!(contact["upsert_field"], "Ext_Id__c");
        assert_eq!(contact["poll_seconds"], 600);
        assert_eq!(
            contact["state"], "NEW",
            "waits for the sidecar to describe it"
        );
        assert_eq!(
            contact["indexes"],
            json!({"Email": {"unique": false}, "Ext_Id__c": {"unique": true}})
        );
        let account =
            json("SELECT to_jsonb(m) FROM sfsync.mapping m WHERE object_name = 'Account'");
        assert_eq!(
            (
                account["streaming"].clone(),
                account["poll_seconds"].clone(),
                account["filter"].clone(),
                account["keep_deleted"].clone()
            ),
            (
                json!(true),
                json!(120),
                json!("Industry = 'Banking'"),
                json!(true)
            )
        );
        // once described, the extra index exists
        let contact_id = contact["id"].as_i64().unwrap();
        run(&format!(
            "SELECT sfsync._install_mapping({contact_id}, '{}')",
            CONTACT.replace('\'', "''")
        ));
        assert_eq!(
            count("SELECT count(*) FROM pg_indexes WHERE indexname = 'hc_idx_contact_email'"),
            1
        );
        // importing again changes mappings in place
        let changed = HC_EXPORT.replace("\"Industry\": {}", "\"Industry\": {}, \"Phone\": {}");
        run(&format!(
            "SELECT sfsync.import_config('{}')",
            changed.replace('\'', "''")
        ));
        assert_eq!(count("SELECT count(*) FROM sfsync.mapping"), 2);
        assert_eq!(
            json("SELECT to_jsonb(fields) FROM sfsync.mapping WHERE object_name = 'Account'"),
            json!(["Industry", "Name", "Phone"])
        );
    }

    #[pg_test]
    fn export_then_import_round_trips() {
        map(
            "Account",
            &["Name", "Industry"],
            "read_only",
            ACCOUNT,
            r#"{"poll_seconds": 30, "filter": "Industry = 'Energy'", "keep_deleted": true}"#,
        );
        map_contact_rw();
        run("SELECT sfsync.alter_mapping('Contact', '{\"read_only_fields\": [\"Email\"], \"conflict\": \"postgres_wins\", \"streaming\": true, \"reconcile_seconds\": 3600, \"fresh_formulas\": false, \"formula_refresh_seconds\": 600}')");
        let exported = json("SELECT sfsync.export_config()");
        assert_eq!(exported["version"], 1);
        assert_eq!(
            exported["mappings"][1]["config"]["upsert_field"],
            "Ext_Id__c"
        );
        assert_eq!(
            exported["mappings"][1]["config"]["indexes"]["Ext_Id__c"],
            json!({"unique": true})
        );
        assert_eq!(
            exported["mappings"][1]["config"]["sfsync"]["fresh_formulas"],
            false
        );
        assert!(exported["mappings"][0]["config"]["sfsync"]
            .get("fresh_formulas")
            .is_none());
        let before = json("SELECT jsonb_agg(jsonb_build_object('o', object_name, 'f', (SELECT jsonb_agg(x ORDER BY x) FROM unnest(fields) x), 'a', access, 'u', upsert_field, 'p', poll_seconds, 's', streaming, 'fi', filter, 'r', read_only_fields, 'c', conflict, 'k', keep_deleted, 'rs', reconcile_seconds, 'ff', fresh_formulas, 'fr', formula_refresh_seconds) ORDER BY object_name) FROM sfsync.mapping");
        run("SELECT sfsync.drop_mapping('Account', true)");
        run("SELECT sfsync.drop_mapping('Contact', true)");
        run(&format!(
            "SELECT sfsync.import_config('{}')",
            exported.to_string().replace('\'', "''")
        ));
        let after = json("SELECT jsonb_agg(jsonb_build_object('o', object_name, 'f', (SELECT jsonb_agg(x ORDER BY x) FROM unnest(fields) x), 'a', access, 'u', upsert_field, 'p', poll_seconds, 's', streaming, 'fi', filter, 'r', read_only_fields, 'c', conflict, 'k', keep_deleted, 'rs', reconcile_seconds, 'ff', fresh_formulas, 'fr', formula_refresh_seconds) ORDER BY object_name) FROM sfsync.mapping");
        assert_eq!(before, after);
        assert_eq!(
            json("SELECT sfsync.export_config()")["mappings"],
            exported["mappings"]
        );
    }

    #[pg_test]
    fn import_bad_input() {
        expect_error(
            "SELECT sfsync.import_config('[]')",
            "22023",
            &["JSON object"],
        );
        expect_error(
            "SELECT sfsync.import_config('{\"version\": 2, \"mappings\": []}')",
            "22023",
            &["version 2"],
        );
        expect_error(
            "SELECT sfsync.import_config('{\"version\": 1, \"mappings\": {}}')",
            "22023",
            &["mappings", "array"],
        );
        expect_error("SELECT sfsync.import_config('{\"version\": 1, \"mappings\": [{\"object_name\": \"Account\"}]}')", "22023", &["#1", "config"]);
        expect_error("SELECT sfsync.import_config('{\"version\": 1, \"mappings\": [{\"object_name\": \"Account\", \"config\": {\"fields\": [\"Name\"]}}]}')", "22023", &["Account", "config.fields"]);
        expect_error("SELECT sfsync.import_config('{\"version\": 1, \"mappings\": [{\"object_name\": \"Account\", \"config\": {\"access\": \"rw\", \"fields\": {\"Name\": {}}}}]}')", "22023", &["rw"]);
        assert_eq!(count("SELECT count(*) FROM sfsync.mapping"), 0);
    }
}
