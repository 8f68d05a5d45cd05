//! Applying Salesforce records: conversions, matching, deletes, conflicts, staged loads.

#[pgrx::pg_schema]
mod tests {
    use crate::tests::fixtures::*;
    use pgrx::prelude::*;
    use serde_json::json;

    fn apply(mapping: i64, records: serde_json::Value) -> serde_json::Value {
        json(&format!(
            "SELECT sfsync._apply_records({mapping}, '{}')",
            records.to_string().replace('\'', "''")
        ))
    }

    fn row(sql_where: &str) -> serde_json::Value {
        json(&format!(
            "SELECT to_jsonb(t) FROM salesforce.account t WHERE {sql_where}"
        ))
    }

    #[pg_test]
    fn converts_every_field_type() {
        let m = map("Every_Type__c", EVERY_FIELDS, "read_only", EVERY_TYPE, "{}");
        let stats = apply(
            m,
            json!([{
                "attributes": {"type": "Every_Type__c", "url": "/services/data/v62.0/sobjects/Every_Type__c/a00000000000001AAA"},
                "Id": "a00000000000001AAA", "IsDeleted": false, "SystemModstamp": "2024-01-31T13:51:35.000+0000",
                "Name": "All", "Text__c": "text", "Area__c": "area", "Long_Area__c": "long", "Email__c": "a@b.c",
                "Phone__c": "(555) 123", "Url__c": "https://x.y", "Pick__c": "Red", "Multi__c": "A;C", "Combo__c": "Z",
                "Flag__c": true, "Count__c": 2147483647, "Ratio__c": 0.000001, "Money__c": 12345678901234.56,
                "Share__c": 99.99, "Day__c": "2024-02-29", "Moment__c": "2024-01-31T23:30:00.000-0200",
                "Clock__c": "13:30:15.250Z", "Account__c": "001000000000001AAA", "Formula__c": "textx", "Key__c": "K-1"
            }]),
        );
        assert_eq!(stats["inserted"], 1);
        let got = json("SELECT to_jsonb(t) - 'id' FROM salesforce.every_type__c t");
        let expected: serde_json::Value = serde_json::from_str(r#"{
            "sfid": "a00000000000001AAA", "isdeleted": false, "systemmodstamp": "2024-01-31T13:51:35",
            "name": "All", "text__c": "text", "area__c": "area", "long_area__c": "long", "email__c": "a@b.c",
            "phone__c": "(555) 123", "url__c": "https://x.y", "pick__c": "Red", "multi__c": "A;C", "combo__c": "Z",
            "flag__c": true, "count__c": 2147483647, "ratio__c": 0.000001, "money__c": 12345678901234.56,
            "share__c": 99.99, "day__c": "2024-02-29", "moment__c": "2024-02-01T01:30:00",
            "clock__c": "13:30:15.25", "account__c": "001000000000001AAA", "formula__c": "textx", "key__c": "K-1",
            "_hc_lastop": "SYNCED", "_hc_err": null
        }"#).unwrap();
        assert_eq!(got, expected);
        // exact numerics: never through a float
        assert_eq!(
            text("SELECT money__c::text FROM salesforce.every_type__c"),
            Some("12345678901234.56".into())
        );
        assert_eq!(
            text("SELECT ratio__c::text FROM salesforce.every_type__c"),
            Some("0.000001".into())
        );
        // nulls clear values
        apply(
            m,
            json!([{"Id": "a00000000000001AAA", "SystemModstamp": "2024-01-31T13:51:36.000+0000", "Name": "All", "Money__c": null, "Day__c": null}]),
        );
        assert_eq!(text("SELECT coalesce(money__c::text, 'null') || coalesce(day__c::text, 'null') FROM salesforce.every_type__c"), Some("nullnull".into()));
    }

    #[pg_test]
    fn bad_values_name_the_record_and_field() {
        let m = map("Every_Type__c", EVERY_FIELDS, "read_only", EVERY_TYPE, "{}");
        for (field, value, needle) in [
            ("Moment__c", json!("yesterday-ish"), "Moment__c"),
            ("Count__c", json!(1.5), "Count__c"),
            ("Flag__c", json!("maybe"), "Flag__c"),
            ("Day__c", json!("2024-02-30"), "Day__c"),
            ("Money__c", json!("12,50"), "Money__c"),
            ("Text__c", json!("x".repeat(101)), "Text__c"),
        ] {
            let records = json!([{"Id": "a00000000000007AAA", "Name": "n", field: value}]);
            expect_error(
                &format!(
                    "SELECT sfsync._apply_records({m}, '{}')",
                    records.to_string().replace('\'', "''")
                ),
                if field == "Text__c" { "22001" } else { "22P02" },
                &["a00000000000007AAA", needle],
            );
        }
        assert_eq!(
            count("SELECT count(*) FROM salesforce.every_type__c"),
            0,
            "nothing applied from a bad batch"
        );
        expect_error(
            &format!("SELECT sfsync._apply_records({m}, '[{{\"Name\": \"no id\"}}]')"),
            "22023",
            &["positions 1", "\"Id\""],
        );
        expect_error(
            &format!("SELECT sfsync._apply_records({m}, '{{}}')"),
            "22023",
            &["array"],
        );
        expect_error(
            "SELECT sfsync._apply_records(987654321, '[]')",
            "42704",
            &["987654321"],
        );
    }

    #[pg_test]
    fn matches_by_sfid_then_by_upsert_field() {
        let m = map_account_rw();
        // a local insert whose sfid has not come back yet
        run("INSERT INTO salesforce.account (name, ext_id__c) VALUES ('Local', 'A-1')");
        let local_id = count("SELECT id FROM salesforce.account");
        let claimed = json("SELECT jsonb_agg(to_jsonb(c)) FROM sfsync._claim_changes(10, 60) c");
        // the reader sees the record first (the insert's response was lost)
        apply(
            m,
            json!([{"Id": "001000000000001AAA", "IsDeleted": false, "SystemModstamp": "2024-01-31T13:51:35.000+0000", "Name": "Local", "Ext_Id__c": "A-1"}]),
        );
        assert_eq!(
            count("SELECT count(*) FROM salesforce.account"),
            1,
            "matched, not duplicated"
        );
        assert_eq!(row("true")["id"], json!(local_id));
        assert_eq!(row("true")["sfid"], "001000000000001AAA");
        assert_eq!(
            row("true")["_hc_lastop"],
            "PENDING",
            "the insert is still in flight"
        );
        // the insert's completion then finds the same row
        run(&format!(
            "SELECT sfsync._complete_changes('[{{\"id\": {}, \"token\": \"{}\", \"outcome\": \"SUCCESS\", \"sfid\": \"001000000000001AAA\"}}]')",
            claimed[0]["change_id"], claimed[0]["lease_token"].as_str().unwrap()
        ));
        assert_eq!(count("SELECT count(*) FROM salesforce.account"), 1);
        assert_eq!(row("true")["_hc_lastop"], "INSERTED");
        // a later read-back is SYNCED
        apply(
            m,
            json!([{"Id": "001000000000001AAA", "SystemModstamp": "2024-01-31T13:51:36.000+0000", "Name": "Local", "Ext_Id__c": "A-1"}]),
        );
        assert_eq!(row("true")["_hc_lastop"], "SYNCED");
        assert!(one::<pgrx::datum::TimestampWithTimeZone>(&format!(
            "SELECT hwm FROM sfsync.mapping WHERE id = {m}"
        ))
        .is_some());
        assert_eq!(text(&format!("SELECT to_char(hwm AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') FROM sfsync.mapping WHERE id = {m}")), Some("2024-01-31 13:51:36".into()));
    }

    #[pg_test]
    fn deletes_and_keep_deleted() {
        let m = map_account_rw();
        apply(
            m,
            json!([
                {"Id": "001000000000001AAA", "IsDeleted": false, "Name": "One"},
                {"Id": "001000000000002AAA", "IsDeleted": false, "Name": "Two"}
            ]),
        );
        let stats = apply(
            m,
            json!([{"Id": "001000000000001AAA", "IsDeleted": true, "Name": "One"}]),
        );
        assert_eq!(stats["deleted"], 1);
        assert_eq!(count("SELECT count(*) FROM salesforce.account"), 1);
        assert_eq!(
            one::<i64>(&format!(
                "SELECT sfsync._delete_records({m}, ARRAY['001000000000002AAA'])"
            )),
            Some(1)
        );
        assert_eq!(count("SELECT count(*) FROM salesforce.account"), 0);
        run("SELECT sfsync.alter_mapping('Account', '{\"keep_deleted\": true}')");
        apply(
            m,
            json!([{"Id": "001000000000003AAA", "IsDeleted": false, "Name": "Three"}]),
        );
        apply(
            m,
            json!([{"Id": "001000000000003AAA", "IsDeleted": true, "Name": "Three"}]),
        );
        assert_eq!(row("sfid = '001000000000003AAA'")["isdeleted"], true);
        assert_eq!(
            count("SELECT count(*) FROM sfsync.change"),
            0,
            "applying never captures"
        );
    }

    #[pg_test]
    fn an_older_version_never_overwrites_a_newer_one() {
        let m = map_account_rw();
        apply(
            m,
            json!([{"Id": "001000000000001AAA", "SystemModstamp": "2024-01-31T13:51:40.000+0000", "Name": "Newer"}]),
        );
        apply(
            m,
            json!([{"Id": "001000000000001AAA", "SystemModstamp": "2024-01-31T13:51:35.000+0000", "Name": "Older"}]),
        );
        assert_eq!(row("true")["name"], "Newer");
        // within one batch the latest version of a record wins
        apply(
            m,
            json!([
                {"Id": "001000000000002AAA", "SystemModstamp": "2024-01-31T13:52:00.000+0000", "Name": "Latest"},
                {"Id": "001000000000002AAA", "SystemModstamp": "2024-01-31T13:51:00.000+0000", "Name": "Earlier"}
            ]),
        );
        assert_eq!(row("sfid = '001000000000002AAA'")["name"], "Latest");
    }

    fn conflict_setup(policy: &str) -> i64 {
        let m = map(
            "Account",
            &["Name", "Industry", "Ext_Id__c"],
            "read_write",
            ACCOUNT,
            &format!(r#"{{"upsert_field": "Ext_Id__c", "conflict": "{policy}"}}"#),
        );
        apply(
            m,
            json!([{"Id": "001000000000001AAA", "SystemModstamp": "2024-01-31T13:00:00.000+0000", "Name": "Acme", "Industry": "Banking", "Ext_Id__c": "A-1"}]),
        );
        // a local change to Industry is queued
        run("UPDATE salesforce.account SET industry = 'Energy'");
        m
    }

    #[pg_test]
    fn conflict_salesforce_wins() {
        let m = conflict_setup("salesforce_wins");
        let stats = apply(
            m,
            json!([{"Id": "001000000000001AAA", "SystemModstamp": "2024-01-31T14:00:00.000+0000", "Name": "Acme Corp", "Industry": "Technology", "Ext_Id__c": "A-1"}]),
        );
        assert_eq!(stats["conflicts"], 1);
        let r = row("true");
        assert_eq!(
            (
                r["name"].clone(),
                r["industry"].clone(),
                r["_hc_lastop"].clone()
            ),
            (json!("Acme Corp"), json!("Technology"), json!("SYNCED"))
        );
        let logged = json("SELECT jsonb_agg(jsonb_build_object('field', field, 'local', local_value, 'incoming', incoming_value, 'policy', policy)) FROM sfsync.conflict");
        assert_eq!(
            logged,
            json!([{"field": "Industry", "local": "Energy", "incoming": "Technology", "policy": "salesforce_wins"}])
        );
        // the emptied change is folded into Salesforce's version
        assert_eq!(count("SELECT count(*) FROM sfsync.change"), 0);
        assert_eq!(text(&format!("SELECT state FROM sfsync.change_archive WHERE mapping_id = {m} AND action = 'UPDATE'")), Some("MERGED".into()));
    }

    #[pg_test]
    fn conflict_postgres_wins() {
        let m = conflict_setup("postgres_wins");
        let stats = apply(
            m,
            json!([{"Id": "001000000000001AAA", "SystemModstamp": "2024-01-31T14:00:00.000+0000", "Name": "Acme Corp", "Industry": "Technology", "Ext_Id__c": "A-1"}]),
        );
        assert_eq!(stats["conflicts"], 1);
        let r = row("true");
        assert_eq!(
            (
                r["name"].clone(),
                r["industry"].clone(),
                r["_hc_lastop"].clone()
            ),
            (json!("Acme Corp"), json!("Energy"), json!("PENDING"))
        );
        assert_eq!(
            text("SELECT policy FROM sfsync.conflict"),
            Some("postgres_wins".into())
        );
        assert_eq!(
            json("SELECT \"values\" FROM sfsync.change"),
            json!({"industry": "Energy"}),
            "the local value will be sent"
        );
        let _ = m;
    }

    #[pg_test]
    fn the_read_back_of_an_older_value_is_no_conflict() {
        let m = conflict_setup("salesforce_wins");
        // Salesforce still has the value from before the local change (it has not been sent yet)
        let stats = apply(
            m,
            json!([{"Id": "001000000000001AAA", "SystemModstamp": "2024-01-31T13:30:00.000+0000", "Name": "Acme", "Industry": "Banking", "Ext_Id__c": "A-1"}]),
        );
        assert_eq!(stats["conflicts"], 0);
        assert_eq!(row("true")["industry"], "Energy");
        assert_eq!(count("SELECT count(*) FROM sfsync.conflict"), 0);
        // Salesforce already has the local value: agreement, no conflict
        let stats = apply(
            m,
            json!([{"Id": "001000000000001AAA", "SystemModstamp": "2024-01-31T13:40:00.000+0000", "Name": "Acme", "Industry": "Energy", "Ext_Id__c": "A-1"}]),
        );
        assert_eq!(stats["conflicts"], 0);
    }

    #[pg_test]
    fn fields_salesforce_did_not_send_are_left_alone() {
        let m = map_account_rw();
        apply(
            m,
            json!([{"Id": "001000000000001AAA", "Name": "Acme", "Industry": "Banking", "Description": "kept"}]),
        );
        // a poll that no longer selects Description (removed in Salesforce) leaves the column as it was
        apply(
            m,
            json!([{"Id": "001000000000001AAA", "Name": "Acme 2", "Industry": null}]),
        );
        let r = row("true");
        assert_eq!(
            (
                r["name"].clone(),
                r["industry"].clone(),
                r["description"].clone()
            ),
            (json!("Acme 2"), json!(null), json!("kept"))
        );
        // the staged path takes the absent fields explicitly
        run(&format!("SELECT sfsync._create_stage({m})"));
        run(&format!("INSERT INTO pg_temp.sfsync_stage_{m} (sfid, name) VALUES ('001000000000001AAA', 'Acme 3')"));
        run(&format!("SELECT sfsync._merge_stage({m}, 'apply', ARRAY['description', 'Industry', 'AnnualRevenue', 'NumberOfEmployees', 'Ext_Id__c'])"));
        let r = row("true");
        assert_eq!(
            (r["name"].clone(), r["description"].clone()),
            (json!("Acme 3"), json!("kept"))
        );
    }

    #[pg_test]
    fn a_conflict_read_again_is_logged_once() {
        let m = conflict_setup("postgres_wins");
        for _ in 0..3 {
            apply(
                m,
                json!([{"Id": "001000000000001AAA", "SystemModstamp": "2024-01-31T14:00:00.000+0000", "Name": "Acme", "Industry": "Technology", "Ext_Id__c": "A-1"}]),
            );
        }
        assert_eq!(count("SELECT count(*) FROM sfsync.conflict"), 1);
        apply(
            m,
            json!([{"Id": "001000000000001AAA", "SystemModstamp": "2024-01-31T15:00:00.000+0000", "Name": "Acme", "Industry": "Retail", "Ext_Id__c": "A-1"}]),
        );
        assert_eq!(
            count("SELECT count(*) FROM sfsync.conflict"),
            2,
            "a new incoming value is a new conflict"
        );
    }

    #[pg_test]
    fn staged_reload_keeps_ids_and_never_deletes_unsynced_or_pending_rows() {
        let m = map_account_rw();
        apply(
            m,
            json!([
                {"Id": "001000000000001AAA", "Name": "Stays"},
                {"Id": "001000000000002AAA", "Name": "Gone from Salesforce"},
                {"Id": "001000000000003AAA", "Name": "Gone but changed locally"}
            ]),
        );
        let ids = json("SELECT jsonb_object_agg(sfid, id) FROM salesforce.account");
        run("INSERT INTO salesforce.account (name) VALUES ('Local only')");
        run("UPDATE salesforce.account SET industry = 'Energy' WHERE sfid = '001000000000003AAA'");
        // the sidecar stages a Bulk API CSV and merges it as a reload
        let stage = json(&format!("SELECT sfsync._create_stage({m})"));
        assert_eq!(stage["table"], format!("pg_temp.sfsync_stage_{m}"));
        assert_eq!(stage["fields"][0], "Id");
        run(&format!("INSERT INTO pg_temp.sfsync_stage_{m} (sfid, isdeleted, systemmodstamp, name, annualrevenue) VALUES
              ('001000000000001AAA', 'false', '2024-01-31T13:51:35.000Z', 'Stays renamed', '99999999999999999'),
              ('001000000000004AAA', 'false', '2024-01-31T13:51:35.000Z', 'New', '')"));
        let stats = json(&format!("SELECT sfsync._merge_stage({m}, 'reload')"));
        assert_eq!(
            (stats["inserted"].clone(), stats["deleted"].clone()),
            (json!(1), json!(1))
        );
        assert_eq!(
            row("sfid = '001000000000001AAA'")["id"],
            ids["001000000000001AAA"],
            "ids are stable"
        );
        assert_eq!(row("sfid = '001000000000001AAA'")["name"], "Stays renamed");
        assert_eq!(text("SELECT annualrevenue::text FROM salesforce.account WHERE sfid = '001000000000001AAA'"), Some("99999999999999999".into()));
        assert_eq!(
            count("SELECT count(*) FROM salesforce.account WHERE sfid = '001000000000002AAA'"),
            0
        );
        assert_eq!(
            count("SELECT count(*) FROM salesforce.account WHERE sfid = '001000000000003AAA'"),
            1
        );
        assert_eq!(
            count("SELECT count(*) FROM salesforce.account WHERE sfid IS NULL"),
            1
        );
        expect_error(
            &format!("SELECT sfsync._merge_stage({m}, 'everything')"),
            "22023",
            &["everything"],
        );
        // a row the writer created after the reload's snapshot (INSERTED) is not deleted by it either
        run("SET LOCAL sfsync.origin = 'salesforce'");
        run("INSERT INTO salesforce.account (sfid, name, _hc_lastop) VALUES ('001000000000005AAA', 'Just written', 'INSERTED')");
        run("RESET sfsync.origin");
        run(&format!("SELECT sfsync._create_stage({m})"));
        run(&format!("INSERT INTO pg_temp.sfsync_stage_{m} (sfid, name) VALUES ('001000000000001AAA', 'Stays renamed')"));
        run(&format!("SELECT sfsync._merge_stage({m}, 'reload')"));
        assert_eq!(
            count("SELECT count(*) FROM salesforce.account WHERE sfid = '001000000000005AAA'"),
            1
        );
    }

    #[pg_test]
    fn a_merge_writes_only_mapped_columns() {
        // columns users add to a mapped table (a generated one cannot be assigned at all) are theirs
        let m = conflict_setup("salesforce_wins");
        run("ALTER TABLE salesforce.account ADD COLUMN name_upper text GENERATED ALWAYS AS (upper(name)) STORED,
                                            ADD COLUMN note text DEFAULT 'mine'");
        let stats = apply(
            m,
            json!([{"Id": "001000000000001AAA", "SystemModstamp": "2024-01-31T14:00:00.000+0000", "Name": "Acme Corp", "Industry": "Technology", "Ext_Id__c": "A-1"}]),
        );
        assert_eq!(stats["conflicts"], 1);
        let r = row("true");
        assert_eq!(
            (
                r["name"].clone(),
                r["name_upper"].clone(),
                r["note"].clone()
            ),
            (json!("Acme Corp"), json!("ACME CORP"), json!("mine"))
        );
    }

    #[pg_test]
    fn a_stale_read_does_not_bring_back_a_row_deleted_locally() {
        let m = map_account_rw();
        apply(
            m,
            json!([{"Id": "001000000000001AAA", "Name": "Acme", "Ext_Id__c": "A-1"}]),
        );
        run("DELETE FROM salesforce.account");
        assert_eq!(
            count(&format!(
                "SELECT count(*) FROM sfsync.change WHERE mapping_id = {m} AND action = 'DELETE'"
            )),
            1
        );
        // a poll that read the record before the delete reached Salesforce
        let stats = apply(
            m,
            json!([{"Id": "001000000000001AAA", "Name": "Acme", "Ext_Id__c": "A-1"}]),
        );
        assert_eq!(stats["inserted"], 0);
        assert_eq!(count("SELECT count(*) FROM salesforce.account"), 0);
    }

    fn apply_read_at(
        mapping: i64,
        records: serde_json::Value,
        read_started: &str,
    ) -> serde_json::Value {
        json(&format!(
            "SELECT sfsync._apply_records({mapping}, '{}', 'apply', NULL, {read_started})",
            records.to_string().replace('\'', "''")
        ))
    }

    #[pg_test]
    fn a_read_from_before_a_completed_delete_does_not_bring_the_row_back() {
        let m = map_account_rw();
        let record = json!([{"Id": "001000000000001AAA", "SystemModstamp": "2024-01-31T13:51:35.000+0000", "Name": "Acme", "Ext_Id__c": "A-1"}]);
        apply(m, record.clone());
        run("DELETE FROM salesforce.account");
        // the DELETE is written to Salesforce and completes (archived at this transaction's now())
        let claimed = json("SELECT jsonb_agg(to_jsonb(c)) FROM sfsync._claim_changes(10, 60) c");
        assert_eq!(claimed[0]["action"], "DELETE");
        run(&format!(
            "SELECT sfsync._complete_changes('[{{\"id\": {}, \"token\": \"{}\", \"outcome\": \"SUCCESS\", \"sfid\": \"001000000000001AAA\"}}]')",
            claimed[0]["change_id"], claimed[0]["lease_token"].as_str().unwrap()
        ));
        assert_eq!(
            count(&format!(
                "SELECT count(*) FROM sfsync.change WHERE mapping_id = {m}"
            )),
            0,
            "the delete left the queue"
        );
        // a read sent before the delete reached Salesforce, merged after it completed
        let stats = apply_read_at(m, record.clone(), "now() - interval '1 second'");
        assert_eq!(stats["inserted"], 0);
        assert_eq!(count("SELECT count(*) FROM salesforce.account"), 0);
        // a read begun after the delete completed sees the record live again: it was undeleted
        let stats = apply_read_at(m, record, "now() + interval '1 second'");
        assert_eq!(stats["inserted"], 1);
        assert_eq!(count("SELECT count(*) FROM salesforce.account"), 1);
    }
}
