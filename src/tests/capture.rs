//! Capture: what every application write queues, and the echo guard.

#[pgrx::pg_schema]
mod tests {
    use crate::tests::fixtures::*;
    use pgrx::prelude::*;
    use serde_json::json;

    fn lastop(sql_where: &str) -> Option<String> {
        text(&format!(
            "SELECT _hc_lastop FROM salesforce.account WHERE {sql_where}"
        ))
    }

    #[pg_test]
    fn insert_queues_writable_non_null_columns() {
        let m = map_account_rw();
        run("INSERT INTO salesforce.account (name, annualrevenue, ext_id__c, sfid, _hc_lastop) VALUES ('Acme', 1234567890123, 'A-1', NULL, 'SYNCED')");
        let c = changes(m);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0]["action"], "INSERT");
        assert_eq!(c[0]["state"], "NEW");
        assert_eq!(c[0]["place"], "queue");
        assert_eq!(
            c[0]["values"],
            json!({"name": "Acme", "annualrevenue": 1234567890123_i64, "ext_id__c": "A-1"})
        );
        assert_eq!(lastop("ext_id__c = 'A-1'"), Some("PENDING".into()));
    }

    #[pg_test]
    fn update_queues_only_changed_columns_with_their_old_values() {
        let m = map_account_rw();
        run("SET LOCAL sfsync.origin = 'salesforce'");
        run("INSERT INTO salesforce.account (sfid, name, industry, _hc_lastop) VALUES ('001000000000001AAA', 'Acme', 'Banking', 'SYNCED')");
        run("RESET sfsync.origin");
        assert!(
            changes(m).is_empty(),
            "the sidecar's own insert is not captured"
        );
        run("UPDATE salesforce.account SET industry = 'Energy', name = name");
        let c = changes(m);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0]["action"], "UPDATE");
        assert_eq!(c[0]["sfid"], "001000000000001AAA");
        assert_eq!(c[0]["values"], json!({"industry": "Energy"}));
        assert_eq!(c[0]["old"], json!({"industry": "Banking"}));
        assert_eq!(lastop("true"), Some("PENDING".into()));
    }

    #[pg_test]
    fn an_insert_that_conflicts_is_queued_once_as_the_update_it_became() {
        let m = map_account_rw();
        run("SET LOCAL sfsync.origin = 'salesforce'");
        run("INSERT INTO salesforce.account (id, sfid, name, _hc_lastop) VALUES (7, '001000000000001AAA', 'Acme', 'SYNCED')");
        run("RESET sfsync.origin");
        run("INSERT INTO salesforce.account (id, name) VALUES (7, 'Acme Corp') ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name");
        run("INSERT INTO salesforce.account (id, name) VALUES (7, 'Ignored') ON CONFLICT (id) DO NOTHING");
        let c = changes(m);
        assert_eq!(c.len(), 1, "one change, the update: {c:?}");
        assert_eq!(c[0]["action"], "UPDATE");
        assert_eq!(c[0]["values"], json!({"name": "Acme Corp"}));
        assert_eq!(c[0]["old"], json!({"name": "Acme"}));
        assert_eq!(lastop("id = 7"), Some("PENDING".into()));
    }

    #[pg_test]
    fn an_update_of_a_read_write_table_fires_one_queueing_trigger() {
        map_account_rw();
        // updates are queued by the BEFORE trigger; the AFTER trigger fires only for inserts and deletes
        assert_eq!(
            text("SELECT string_agg(pg_get_triggerdef(t.oid), E'\\n' ORDER BY t.tgname) FROM pg_trigger t WHERE t.tgrelid = 'salesforce.account'::regclass AND t.tgname IN ('sfsync_capture', 'sfsync_status')")
                .map(|defs| defs.contains("AFTER INSERT OR DELETE") && defs.contains("BEFORE INSERT OR UPDATE") && defs.contains("'capture_updates'")),
            Some(true)
        );
    }

    #[pg_test]
    fn no_op_update_queues_nothing_and_keeps_lastop() {
        let m = map_account_rw();
        run("SET LOCAL sfsync.origin = 'salesforce'");
        run("INSERT INTO salesforce.account (sfid, name, description, _hc_lastop) VALUES ('001000000000001AAA', 'Acme', repeat('long text ', 1000), 'SYNCED')");
        run("RESET sfsync.origin");
        run(
            "UPDATE salesforce.account SET name = 'Acme', description = repeat('long text ', 1000)",
        );
        assert!(changes(m).is_empty());
        assert_eq!(lastop("true"), Some("SYNCED".into()));
    }

    #[pg_test]
    fn update_of_a_read_only_field_only_is_recorded_as_readonly() {
        let m = map(
            "Account",
            &["Name", "Industry"],
            "read_write",
            ACCOUNT,
            r#"{"read_only_fields": ["Industry"]}"#,
        );
        run("SET LOCAL sfsync.origin = 'salesforce'");
        run("INSERT INTO salesforce.account (sfid, name, industry, _hc_lastop) VALUES ('001000000000001AAA', 'Acme', 'Banking', 'SYNCED')");
        run("RESET sfsync.origin");
        run("UPDATE salesforce.account SET industry = 'Energy'");
        let c = changes(m);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0]["state"], "READONLY");
        assert_eq!(c[0]["place"], "archive");
        assert_eq!(c[0]["values"], json!({"industry": "Energy"}));
        assert_eq!(
            lastop("true"),
            Some("SYNCED".into()),
            "nothing will be sent, so not PENDING"
        );
        // a system column (isdeleted) changed locally is never sent either
        run("UPDATE salesforce.account SET isdeleted = true");
        assert_eq!(
            count(&format!(
                "SELECT count(*) FROM sfsync.change WHERE mapping_id = {m}"
            )),
            0
        );
    }

    #[pg_test]
    fn delete_queues_the_old_row() {
        let m = map_account_rw();
        run("SET LOCAL sfsync.origin = 'salesforce'");
        run("INSERT INTO salesforce.account (sfid, name, _hc_lastop) VALUES ('001000000000001AAA', 'Acme', 'SYNCED')");
        run("RESET sfsync.origin");
        run("DELETE FROM salesforce.account");
        let c = changes(m);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0]["action"], "DELETE");
        assert_eq!(c[0]["state"], "NEW");
        assert_eq!(c[0]["sfid"], "001000000000001AAA");
        assert_eq!(c[0]["old"]["name"], "Acme");
    }

    #[pg_test]
    fn delete_of_a_never_synced_row_ignores_its_queued_insert() {
        let m = map_account_rw();
        run("INSERT INTO salesforce.account (name, ext_id__c) VALUES ('Acme', 'A-1')");
        run("UPDATE salesforce.account SET industry = 'Energy'");
        run("DELETE FROM salesforce.account");
        let c = changes(m);
        let states: Vec<(&str, &str)> = c
            .iter()
            .map(|e| (e["action"].as_str().unwrap(), e["state"].as_str().unwrap()))
            .collect();
        assert_eq!(
            states,
            [
                ("INSERT", "IGNORED"),
                ("UPDATE", "IGNORED"),
                ("DELETE", "IGNORED")
            ]
        );
        assert_eq!(
            count(&format!(
                "SELECT count(*) FROM sfsync.change WHERE mapping_id = {m} AND state = 'NEW'"
            )),
            0
        );
    }

    #[pg_test]
    fn delete_while_the_insert_is_in_flight_waits_for_the_sfid() {
        let m = map_account_rw();
        run("INSERT INTO salesforce.account (name, ext_id__c) VALUES ('Acme', 'A-1')");
        let token = text("SELECT lease_token::text FROM sfsync._claim_changes(10, 60)").unwrap();
        run("DELETE FROM salesforce.account");
        let queued = json(&format!(
            "SELECT jsonb_agg(jsonb_build_object('action', action, 'state', state, 'sfid', sfid) ORDER BY id) FROM sfsync.change WHERE mapping_id = {m}"
        ));
        assert_eq!(
            queued,
            json!([{"action": "INSERT", "state": "PENDING", "sfid": null}, {"action": "DELETE", "state": "NEW", "sfid": null}])
        );
        // the DELETE is not handed out while the INSERT is in flight
        assert_eq!(
            count("SELECT count(*) FROM sfsync._claim_changes(10, 60)"),
            0
        );
        let insert_id = count(&format!(
            "SELECT min(id) FROM sfsync.change WHERE mapping_id = {m}"
        ));
        run(&format!(
            "SELECT sfsync._complete_changes('[{{\"id\": {insert_id}, \"token\": \"{token}\", \"outcome\": \"SUCCESS\", \"sfid\": \"001000000000009AAA\"}}]')"
        ));
        let delete = json("SELECT jsonb_agg(jsonb_build_object('action', action, 'sfid', sfid)) FROM sfsync._claim_changes(10, 60)");
        assert_eq!(
            delete,
            json!([{"action": "DELETE", "sfid": "001000000000009AAA"}])
        );
    }

    #[pg_test]
    fn read_only_mapping_records_readonly_entries() {
        let m = map("Account", &["Name", "Industry"], "read_only", ACCOUNT, "{}");
        run("INSERT INTO salesforce.account (name) VALUES ('Local')");
        run("UPDATE salesforce.account SET industry = 'Energy'");
        run("DELETE FROM salesforce.account");
        let c = changes(m);
        let states: Vec<(&str, &str, &str)> = c
            .iter()
            .map(|e| {
                (
                    e["action"].as_str().unwrap(),
                    e["state"].as_str().unwrap(),
                    e["place"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            states,
            [
                ("INSERT", "READONLY", "archive"),
                ("UPDATE", "READONLY", "archive"),
                ("DELETE", "READONLY", "archive")
            ]
        );
    }

    #[pg_test]
    fn values_of_every_type_are_encoded_like_to_jsonb() {
        let m = map(
            "Every_Type__c",
            EVERY_FIELDS,
            "read_write",
            EVERY_TYPE,
            r#"{"upsert_field": "Key__c"}"#,
        );
        run("SET LOCAL DateStyle = 'SQL, DMY'"); // capture must not depend on the session's DateStyle
        run("INSERT INTO salesforce.every_type__c (name, text__c, area__c, long_area__c, email__c, phone__c, url__c, pick__c,
                 multi__c, combo__c, flag__c, count__c, ratio__c, money__c, share__c, day__c, moment__c, clock__c,
                 account__c, formula__c, key__c)
             VALUES ('N', E'quote\" back\\\\ nl\n', 'area', repeat('x', 300), 'a@b.c', '+1 555', 'https://x.y', 'Red',
                 'A;B', 'X', true, -42, 3.141593, 12345678901234.56, 99.5, '2024-02-29', '2024-01-31 13:51:35.12',
                 '13:30:00', '001000000000001AAA', 'ignored', 'K-1')");
        let values = &changes(m)[0]["values"];
        let expected = json("SELECT to_jsonb(t) - 'id' - 'sfid' - 'isdeleted' - 'systemmodstamp' - '_hc_lastop' - '_hc_err' - 'formula__c' FROM salesforce.every_type__c t");
        assert_eq!(values, &expected);
        assert_eq!(values["money__c"].to_string(), "12345678901234.56");
        assert_eq!(values["moment__c"], "2024-01-31T13:51:35.12");
        assert_eq!(values["clock__c"], "13:30:00");
        assert_eq!(values["text__c"], "quote\" back\\ nl\n");
        assert!(
            values.get("formula__c").is_none(),
            "calculated fields are never sent"
        );
    }

    #[pg_test]
    fn the_echo_guard_stops_capture() {
        let m = map_account_rw();
        assert_eq!(one::<bool>("SELECT sfsync.is_applying()"), Some(false));
        run("SET LOCAL sfsync.origin = 'salesforce'");
        assert_eq!(one::<bool>("SELECT sfsync.is_applying()"), Some(true));
        run("INSERT INTO salesforce.account (name) VALUES ('From Salesforce')");
        run("UPDATE salesforce.account SET name = 'Still from Salesforce'");
        run("DELETE FROM salesforce.account");
        assert!(changes(m).is_empty());
        run("SET LOCAL sfsync.origin = 'local'");
        run("INSERT INTO salesforce.account (name) VALUES ('Local')");
        assert_eq!(changes(m).len(), 1);
    }

    #[pg_test]
    fn an_ordinary_role_cannot_switch_capture_off() {
        install_try_sql();
        run("CREATE ROLE sfsync_test_app NOLOGIN");
        run("SET LOCAL ROLE sfsync_test_app");
        let error = text("SELECT pg_temp.try_sql('SET sfsync.origin = ''salesforce''')").unwrap();
        run("RESET ROLE");
        assert!(
            error.starts_with("42501: permission denied to set parameter \"sfsync.origin\""),
            "{error}"
        );
        // the sidecar's group may
        run("CREATE ROLE sfsync_test_sidecar NOLOGIN IN ROLE sfsync_agent");
        run("SET LOCAL ROLE sfsync_test_sidecar");
        run("SET LOCAL sfsync.origin = 'salesforce'");
        run("RESET ROLE");
        // and only the two documented values exist
        expect_error(
            "SET LOCAL sfsync.origin = 'nobody'",
            "22023",
            &["sfsync.origin", "nobody"],
        );
    }

    #[pg_test]
    fn an_app_with_only_dml_rights_is_captured_but_cannot_touch_the_queue() {
        let m = map_account_rw();
        install_try_sql();
        run("CREATE ROLE sfsync_test_dml NOLOGIN");
        run("GRANT USAGE ON SCHEMA salesforce TO sfsync_test_dml");
        run("GRANT INSERT, UPDATE, DELETE ON salesforce.account TO sfsync_test_dml");
        run("SET LOCAL ROLE sfsync_test_dml");
        run("INSERT INTO salesforce.account (name, ext_id__c) VALUES ('App', 'A-9')");
        run("UPDATE salesforce.account SET industry = 'Energy'");
        let read = text("SELECT pg_temp.try_sql('SELECT count(*) FROM sfsync.change')");
        let write = text("SELECT pg_temp.try_sql('INSERT INTO sfsync.change (mapping_id, record_id, action) VALUES (1, 1, ''DELETE'')')");
        let mapping = text("SELECT pg_temp.try_sql('SELECT count(*) FROM sfsync.mapping')");
        run("RESET ROLE");
        for (what, error) in [("read", read), ("write", write), ("mapping", mapping)] {
            let error = error.unwrap_or_else(|| panic!("{what} of sfsync.* should be refused"));
            assert!(error.starts_with("42501"), "{what}: {error}");
        }
        assert_eq!(changes(m).len(), 2);
    }

    #[pg_test]
    fn truncate_of_a_read_write_table_is_refused() {
        map_account_rw();
        run("INSERT INTO salesforce.account (name) VALUES ('Keep me')");
        expect_error(
            "TRUNCATE salesforce.account",
            "0A000",
            &["TRUNCATE", "salesforce", "account", "read-write"],
        );
        assert_eq!(count("SELECT count(*) FROM salesforce.account"), 1);
        // read-only tables may be truncated
        map("Contact", &["LastName"], "read_only", CONTACT, "{}");
        run("TRUNCATE salesforce.contact");
    }

    #[pg_test]
    fn indexes_added_to_the_queue_are_maintained() {
        let m = map_account_rw();
        run("INSERT INTO salesforce.account (name) VALUES ('before any index')");
        // a DBA adds a plain and an expression index: capture must fill both (the expression index
        // is one the direct insert path cannot fill, so capture falls back to SQL)
        run("CREATE INDEX sfsync_test_created ON sfsync.change (created_at)");
        run("INSERT INTO salesforce.account (name) VALUES ('plain index')");
        run("CREATE INDEX sfsync_test_name ON sfsync.change ((\"values\"->>'name'))");
        run("INSERT INTO salesforce.account (name) VALUES ('expression index')");
        run("SET LOCAL enable_seqscan = off");
        assert_eq!(count(&format!("SELECT count(*) FROM sfsync.change WHERE created_at >= '-infinity' AND mapping_id = {m}")), 3);
        assert_eq!(
            count(
                "SELECT count(*) FROM sfsync.change WHERE \"values\"->>'name' = 'expression index'"
            ),
            1
        );
        assert_eq!(
            count("SELECT count(*) FROM sfsync.change WHERE \"values\"->>'name' = 'plain index'"),
            1
        );
        let plan = one::<pgrx::Json>("EXPLAIN (FORMAT JSON) SELECT count(*) FROM sfsync.change WHERE \"values\"->>'name' = 'x'").unwrap().0.to_string();
        assert!(
            plan.contains("sfsync_test_name"),
            "the test must read through the index: {plan}"
        );
    }

    #[pg_test]
    fn notify_option_does_not_change_what_is_queued() {
        let m = map_account_rw();
        run("SET LOCAL sfsync.notify = on");
        run("INSERT INTO salesforce.account (name) VALUES ('A'), ('B')");
        assert_eq!(changes(m).len(), 2);
    }
}
