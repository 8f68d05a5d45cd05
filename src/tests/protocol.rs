//! The sidecar-facing queue protocol: claim, renew, complete, fencing, backoff, retry and ignore.

#[pgrx::pg_schema]
mod tests {
    use crate::tests::fixtures::*;
    use pgrx::prelude::*;
    use serde_json::json;

    fn claim(batch: i32) -> serde_json::Value {
        json(&format!(
            "SELECT coalesce(jsonb_agg(to_jsonb(c) ORDER BY c.change_id), '[]') FROM sfsync._claim_changes({batch}, 60) c"
        ))
    }

    fn complete(results: serde_json::Value) -> serde_json::Value {
        json(&format!(
            "SELECT sfsync._complete_changes('{}')",
            results.to_string().replace('\'', "''")
        ))
    }

    fn result(
        change: &serde_json::Value,
        outcome: &str,
        extra: serde_json::Value,
    ) -> serde_json::Value {
        let mut r =
            json!({"id": change["change_id"], "token": change["lease_token"], "outcome": outcome});
        r.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        r
    }

    fn synced_account(sfid: &str, name: &str) {
        run("SET LOCAL sfsync.origin = 'salesforce'");
        run(&format!("INSERT INTO salesforce.account (sfid, name, _hc_lastop) VALUES ('{sfid}', '{name}', 'SYNCED')"));
        run("RESET sfsync.origin");
    }

    #[pg_test]
    fn claim_hands_out_a_record_with_all_its_changes_and_the_current_row() {
        map_account_rw();
        run("INSERT INTO salesforce.account (name, ext_id__c) VALUES ('Acme', 'A-1')");
        run("UPDATE salesforce.account SET industry = 'Energy'");
        run("UPDATE salesforce.account SET name = 'Acme 2'");
        let claimed = claim(1);
        let claimed = claimed.as_array().unwrap();
        assert_eq!(claimed.len(), 3, "one record, all of its changes");
        assert_eq!(claimed[0]["action"], "INSERT");
        assert_eq!(claimed[1]["values"], json!({"industry": "Energy"}));
        assert_eq!(claimed[2]["record"]["name"], "Acme 2");
        assert_eq!(claimed[2]["record"]["ext_id__c"], "A-1");
        assert!(claimed
            .iter()
            .all(|c| c["lease_token"] == claimed[0]["lease_token"] && c["attempts"] == 1));
        assert_eq!(
            count("SELECT count(*) FROM sfsync.change WHERE state = 'PENDING'"),
            3
        );
        assert_eq!(claim(10), json!([]), "nothing else to claim");
    }

    #[pg_test]
    fn success_writes_sfid_and_lastop_and_archives() {
        let m = map_account_rw();
        run("INSERT INTO salesforce.account (name, ext_id__c) VALUES ('Acme', 'A-1')");
        run("UPDATE salesforce.account SET industry = 'Energy'");
        let claimed = claim(10);
        let outcome = complete(json!([
            result(
                &claimed[0],
                "SUCCESS",
                json!({"sfid": "001000000000001AAA"})
            ),
            result(&claimed[1], "MERGED", json!({}))
        ]));
        assert_eq!(outcome, json!({"applied": 2, "ignored": []}));
        assert_eq!(
            text("SELECT sfid || ' ' || _hc_lastop FROM salesforce.account"),
            Some("001000000000001AAA INSERTED".into())
        );
        let c = changes(m);
        assert_eq!(
            c.iter()
                .map(|e| e["state"].as_str().unwrap())
                .collect::<Vec<_>>(),
            ["SUCCESS", "MERGED"]
        );
        assert!(c.iter().all(|e| e["place"] == "archive"));
        assert_eq!(count("SELECT count(*) FROM sfsync.change"), 0);
        // an update of a synced row ends UPDATED, and nothing is captured by completion itself
        run("UPDATE salesforce.account SET name = 'Acme 2'");
        let claimed = claim(10);
        complete(json!([result(&claimed[0], "SUCCESS", json!({}))]));
        assert_eq!(
            text("SELECT _hc_lastop FROM salesforce.account"),
            Some("UPDATED".into())
        );
        assert_eq!(count("SELECT count(*) FROM sfsync.change"), 0);
        assert!(one::<pgrx::datum::TimestampWithTimeZone>(&format!(
            "SELECT last_write_at FROM sfsync.mapping WHERE id = {m}"
        ))
        .is_some());
    }

    #[pg_test]
    fn failure_is_recorded_on_the_entry_and_the_row_only() {
        map_account_rw();
        run("INSERT INTO salesforce.account (name, ext_id__c) VALUES ('Bad', 'A-1'), ('Good', 'A-2')");
        let claimed = claim(10);
        complete(json!([
            result(
                &claimed[0],
                "FAILED",
                json!({"error": {"code": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "message": "Name may not be Bad", "fields": ["Name"]}})
            ),
            result(
                &claimed[1],
                "SUCCESS",
                json!({"sfid": "001000000000002AAA"})
            )
        ]));
        let bad = json("SELECT jsonb_build_object('lastop', _hc_lastop, 'err', _hc_err::jsonb - 'at') FROM salesforce.account WHERE name = 'Bad'");
        assert_eq!(
            bad,
            json!({"lastop": "FAILED", "err": {"code": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "message": "Name may not be Bad", "fields": ["Name"]}})
        );
        assert!(
            text("SELECT _hc_err::jsonb->>'at' FROM salesforce.account WHERE name = 'Bad'")
                .is_some()
        );
        assert_eq!(
            text("SELECT _hc_lastop FROM salesforce.account WHERE name = 'Good'"),
            Some("INSERTED".into())
        );
        assert_eq!(
            text("SELECT state || ' ' || sf_result || ' ' || sf_message FROM sfsync.change_archive WHERE state = 'FAILED'"),
            Some("FAILED FIELD_CUSTOM_VALIDATION_EXCEPTION Name may not be Bad".into())
        );
        assert_eq!(
            count("SELECT failed FROM sfsync.status() WHERE object_name = 'Account'"),
            1
        );
    }

    #[pg_test]
    fn an_update_that_creates_the_record_of_a_failed_insert_marks_the_row_inserted() {
        map_account_rw();
        run("INSERT INTO salesforce.account (name, ext_id__c) VALUES ('Bad', 'A-1')");
        let claimed = claim(10);
        complete(json!([result(
            &claimed[0],
            "FAILED",
            json!({"error": {"code": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "message": "no", "fields": []}})
        )]));
        run("UPDATE salesforce.account SET name = 'Fixed'");
        let claimed = claim(10);
        assert_eq!(claimed[0]["action"], "UPDATE");
        complete(json!([result(
            &claimed[0],
            "SUCCESS",
            json!({"sfid": "001000000000001AAA"})
        )]));
        assert_eq!(
            text("SELECT _hc_lastop || ' ' || sfid FROM salesforce.account"),
            Some("INSERTED 001000000000001AAA".into())
        );
        // a later update of the created record is an update
        run("UPDATE salesforce.account SET name = 'Fixed again'");
        let claimed = claim(10);
        complete(json!([result(
            &claimed[0],
            "SUCCESS",
            json!({"sfid": "001000000000001AAA"})
        )]));
        assert_eq!(
            text("SELECT _hc_lastop FROM salesforce.account"),
            Some("UPDATED".into())
        );
    }

    #[pg_test]
    fn retry_backs_off_and_fails_after_max_attempts() {
        map_account_rw();
        run("INSERT INTO salesforce.account (name, ext_id__c) VALUES ('Acme', 'A-1')");
        let claimed = claim(10);
        complete(json!([result(
            &claimed[0],
            "RETRY",
            json!({"error": {"code": "UNABLE_TO_LOCK_ROW", "message": "locked"}})
        )]));
        assert_eq!(text("SELECT state FROM sfsync.change"), Some("NEW".into()));
        assert_eq!(
            count("SELECT count(*) FROM sfsync.change WHERE not_before > now()"),
            1
        );
        assert_eq!(claim(10), json!([]), "not due yet");
        run("UPDATE sfsync.change SET not_before = now() - interval '1 second'");
        let again = claim(10);
        assert_eq!(again[0]["attempts"], 2);
        // attempts exhausted: the transient error becomes a failure
        let outcome = json(&format!(
            "SELECT sfsync._complete_changes('{}', 2)",
            json!([result(
                &again[0],
                "RETRY",
                json!({"error": {"code": "SERVER_UNAVAILABLE", "message": "down"}})
            )])
        ));
        assert_eq!(outcome["applied"], 1);
        assert_eq!(
            text("SELECT state || ' ' || sf_result FROM sfsync.change_archive"),
            Some("FAILED SERVER_UNAVAILABLE".into())
        );
        assert_eq!(
            text("SELECT _hc_lastop FROM salesforce.account"),
            Some("FAILED".into())
        );
    }

    #[pg_test]
    fn results_from_a_lost_lease_are_ignored() {
        map_account_rw();
        synced_account("001000000000001AAA", "Acme");
        run("UPDATE salesforce.account SET name = 'Acme 2'");
        let first = claim(10);
        // the first holder stalls: its lease expires and another sidecar takes the change
        run("UPDATE sfsync.change SET lease_until = now() - interval '1 second'");
        let second = claim(10);
        assert_eq!(second[0]["change_id"], first[0]["change_id"]);
        assert_ne!(second[0]["lease_token"], first[0]["lease_token"]);
        assert_eq!(second[0]["attempts"], 2);
        let stale = complete(json!([result(
            &first[0],
            "FAILED",
            json!({"error": {"code": "X", "message": "stale"}})
        )]));
        assert_eq!(
            stale,
            json!({"applied": 0, "ignored": [first[0]["change_id"]]})
        );
        assert_eq!(
            text("SELECT state FROM sfsync.change"),
            Some("PENDING".into())
        );
        complete(json!([result(&second[0], "SUCCESS", json!({}))]));
        assert_eq!(
            text("SELECT _hc_lastop FROM salesforce.account"),
            Some("UPDATED".into())
        );
    }

    #[pg_test]
    fn renew_extends_the_lease_of_the_holder_only() {
        map_account_rw();
        run("INSERT INTO salesforce.account (name) VALUES ('A'), ('B')");
        let claimed = claim(10);
        let token = claimed[0]["lease_token"].as_str().unwrap().to_string();
        assert_eq!(
            one::<i32>(&format!("SELECT sfsync._renew_leases('{token}', 600)")),
            Some(2)
        );
        assert_eq!(count("SELECT count(*) FROM sfsync.change WHERE lease_until > now() + interval '500 seconds'"), 2);
        assert_eq!(
            one::<i32>("SELECT sfsync._renew_leases(gen_random_uuid(), 600)"),
            Some(0)
        );
    }

    #[pg_test]
    fn paused_mappings_keep_queueing_but_are_not_claimed() {
        map_account_rw();
        run("SELECT sfsync.pause('Account')");
        run("INSERT INTO salesforce.account (name) VALUES ('A')");
        assert_eq!(claim(10), json!([]));
        assert_eq!(
            text("SELECT state FROM sfsync.mapping"),
            Some("PAUSED".into())
        );
        run("SELECT sfsync.resume('Account')");
        assert_eq!(
            text("SELECT state FROM sfsync.mapping"),
            Some("LOADING".into())
        );
        assert_eq!(claim(10).as_array().unwrap().len(), 1);
    }

    #[pg_test]
    fn retry_of_a_failed_insert_sends_the_current_row() {
        let m = map_account_rw();
        run("INSERT INTO salesforce.account (name, ext_id__c) VALUES ('Bad', 'A-1')");
        let claimed = claim(10);
        complete(json!([result(
            &claimed[0],
            "FAILED",
            json!({"error": {"code": "REQUIRED_FIELD_MISSING", "message": "Required fields are missing: [Industry]", "fields": ["Industry"]}})
        )]));
        let failed_id = claimed[0]["change_id"].as_i64().unwrap();
        // the user fixes the row with capture off, then retries
        run("SET LOCAL sfsync.origin = 'salesforce'");
        run("UPDATE salesforce.account SET industry = 'Energy', name = 'Fixed'");
        run("RESET sfsync.origin");
        let new_ids = json(&format!(
            "SELECT jsonb_agg(r) FROM sfsync.retry(ARRAY[{failed_id}]) r"
        ));
        assert_eq!(new_ids.as_array().unwrap().len(), 1);
        let again = claim(10);
        assert_eq!(again[0]["action"], "INSERT");
        assert_eq!(
            again[0]["values"],
            json!({"name": "Fixed", "industry": "Energy", "ext_id__c": "A-1"})
        );
        assert_eq!(
            text(&format!(
                "SELECT state FROM sfsync.change_archive WHERE id = {failed_id}"
            )),
            Some("REQUEUED".into())
        );
        assert_eq!(
            text("SELECT _hc_lastop FROM salesforce.account"),
            Some("PENDING".into())
        );
        assert_eq!(changes(m).len(), 2);
    }

    #[pg_test]
    fn retry_of_a_failed_update_sends_the_current_values_of_its_fields() {
        map_account_rw();
        synced_account("001000000000001AAA", "Acme");
        run("UPDATE salesforce.account SET industry = 'Bogus'");
        let claimed = claim(10);
        complete(json!([result(
            &claimed[0],
            "FAILED",
            json!({"error": {"code": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "message": "bad value for restricted picklist field: Bogus", "fields": ["Industry"]}})
        )]));
        run("SET LOCAL sfsync.origin = 'salesforce'");
        run("UPDATE salesforce.account SET industry = 'Energy'");
        run("RESET sfsync.origin");
        run("SELECT sfsync.retry_failed('Account')");
        let again = claim(10);
        assert_eq!(again[0]["action"], "UPDATE");
        assert_eq!(again[0]["sfid"], "001000000000001AAA");
        assert_eq!(again[0]["values"], json!({"industry": "Energy"}));
        assert_eq!(count("SELECT failed FROM sfsync.status()"), 0);
    }

    #[pg_test]
    fn ignore_gives_up_on_queued_and_failed_changes() {
        map_account_rw();
        run("INSERT INTO salesforce.account (name) VALUES ('A'), ('B')");
        let ids: Vec<i64> = json("SELECT jsonb_agg(id ORDER BY id) FROM sfsync.change")
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        run(&format!("SELECT sfsync.ignore(ARRAY[{}])", ids[0]));
        assert_eq!(
            text(&format!(
                "SELECT state FROM sfsync.change_archive WHERE id = {}",
                ids[0]
            )),
            Some("IGNORED".into())
        );
        let claimed = claim(10);
        complete(json!([result(
            &claimed[0],
            "FAILED",
            json!({"error": {"code": "X", "message": "no"}})
        )]));
        run(&format!("SELECT sfsync.ignore(ARRAY[{}])", ids[1]));
        assert_eq!(
            text(&format!(
                "SELECT state FROM sfsync.change_archive WHERE id = {}",
                ids[1]
            )),
            Some("IGNORED".into())
        );
    }

    #[pg_test]
    fn bad_protocol_input() {
        map_account_rw();
        expect_error(
            "SELECT sfsync._complete_changes('{\"id\": 1}')",
            "22023",
            &["results must be a JSON array", "object"],
        );
        expect_error("SELECT sfsync._complete_changes('[{\"id\": 1, \"token\": \"00000000-0000-0000-0000-000000000000\", \"outcome\": \"DONE\"}]')", "22023", &["outcome", "DONE"]);
        expect_error(
            "SELECT sfsync._complete_changes('[{\"id\": \"x\", \"outcome\": \"SUCCESS\"}]')",
            "22023",
            &["numeric \"id\""],
        );
        expect_error("SELECT sfsync._claim_changes(0, 60)", "22023", &["batch"]);
        expect_error(
            "SELECT sfsync.retry(ARRAY[987654321])",
            "42704",
            &["987654321"],
        );
        expect_error(
            "SELECT sfsync.ignore(ARRAY[987654321])",
            "42704",
            &["987654321"],
        );
        run("INSERT INTO salesforce.account (name) VALUES ('A')");
        let id = count("SELECT id FROM sfsync.change");
        expect_error(
            &format!("SELECT sfsync.retry(ARRAY[{id}])"),
            "55000",
            &[&id.to_string(), "still queued"],
        );
        // unknown change ids in results are reported, not applied
        let outcome = complete(
            json!([{"id": 987654321, "token": "00000000-0000-0000-0000-000000000000", "outcome": "SUCCESS"}]),
        );
        assert_eq!(outcome, json!({"applied": 0, "ignored": [987654321]}));
    }

    #[pg_test]
    fn a_result_the_database_refuses_fails_alone() {
        // 0.1.0 rolled back every result of the call, so the batch was claimed and sent again every
        // lease (a new duplicate in Salesforce each time without an upsert field)
        let m = map_account_rw();
        synced_account("001000000000009AAA", "Holder");
        run("UPDATE salesforce.account SET industry = 'Energy' WHERE name = 'Holder'");
        run("INSERT INTO salesforce.account (name, ext_id__c) VALUES ('First', 'A-1'), ('Second', 'A-2')");
        let claimed = claim(10);
        let insert_of = |name: &str| {
            claimed
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["action"] == "INSERT" && c["record"]["name"] == name)
                .cloned()
                .unwrap()
        };
        let outcome = complete(json!([
            result(
                &insert_of("First"),
                "SUCCESS",
                json!({"sfid": "001000000000001AAA"})
            ),
            // Salesforce answered with an id another row holds: the unique index on sfid refuses it
            result(
                &insert_of("Second"),
                "SUCCESS",
                json!({"sfid": "001000000000009AAA"})
            ),
        ]));
        assert_eq!(outcome["applied"], 2);
        assert_eq!(
            text("SELECT sfid || ' ' || _hc_lastop FROM salesforce.account WHERE name = 'First'"),
            Some("001000000000001AAA INSERTED".into())
        );
        let second = json("SELECT to_jsonb(t) FROM salesforce.account t WHERE name = 'Second'");
        assert_eq!(
            (second["sfid"].clone(), second["_hc_lastop"].clone()),
            (json!(null), json!("FAILED"))
        );
        assert!(
            second["_hc_err"]
                .as_str()
                .unwrap()
                .contains("duplicate key"),
            "{second}"
        );
        let failed = json(&format!(
            "SELECT to_jsonb(a) FROM sfsync.change_archive a WHERE mapping_id = {m} AND state = 'FAILED'"
        ));
        assert_eq!(failed["sf_result"], "SFSYNC_DATABASE_ERROR");
        assert!(
            failed["sf_message"]
                .as_str()
                .unwrap()
                .contains("duplicate key value violates unique constraint"),
            "{failed}"
        );
        assert_eq!(
            failed["sf_error"]["salesforce"]["sfid"], "001000000000009AAA",
            "Salesforce's answer is kept"
        );
        assert_eq!(
            text(&format!("SELECT state FROM sfsync.change_archive WHERE mapping_id = {m} AND sfid = '001000000000001AAA'")),
            Some("SUCCESS".into())
        );
        assert_eq!(
            count("SELECT count(*) FROM sfsync.change WHERE state = 'PENDING'"),
            1,
            "the holder's update, not reported, stays claimed"
        );
    }

    fn in_flight(mapping: i64, sfids: &str) -> serde_json::Value {
        json(&format!(
            "SELECT coalesce(jsonb_agg(s ORDER BY s NULLS FIRST), '[]') FROM sfsync._in_flight({mapping}, {sfids}) s"
        ))
    }

    #[pg_test]
    fn in_flight_names_the_records_whose_changes_are_being_written() {
        let m = map_account_rw();
        synced_account("001000000000001AAA", "A");
        synced_account("001000000000002AAA", "B");
        let both = "ARRAY['001000000000001AAA', '001000000000002AAA']";
        run("UPDATE salesforce.account SET name = 'A 2' WHERE sfid = '001000000000001AAA'");
        assert_eq!(in_flight(m, both), json!([]), "queued is not in flight");
        let claimed = claim(10);
        assert_eq!(in_flight(m, both), json!(["001000000000001AAA"]));
        assert_eq!(in_flight(m, "ARRAY['001000000000002AAA']"), json!([]));
        complete(json!([result(&claimed[0], "SUCCESS", json!({}))]));
        assert_eq!(in_flight(m, both), json!([]), "completed is not in flight");
        // an insert without an sfid in flight: its record's id is not known yet
        run("INSERT INTO salesforce.account (name, ext_id__c) VALUES ('C', 'C-1')");
        claim(10);
        assert_eq!(in_flight(m, both), json!([null]));
    }

    #[pg_test]
    fn parent_pending_sees_a_parent_external_id_on_its_way() {
        map_account_rw();
        let contact = map_contact_rw();
        let pending = |object: &str, field: &str, value: &str| {
            one::<bool>(&format!(
                "SELECT sfsync._parent_pending({contact}, '{object}', '{field}', '{value}')"
            ))
            .expect("a boolean")
        };
        run("INSERT INTO salesforce.account (name, ext_id__c) VALUES ('Acme', 'A-1')");
        assert!(pending("Account", "Ext_Id__c", "A-1"), "queued parent");
        assert!(
            pending("account", "ext_id__c", "a-1"),
            "names and values match case-insensitively"
        );
        assert!(
            !pending("Account", "Ext_Id__c", "A-2"),
            "no such parent row"
        );
        assert!(
            !pending("Opportunity", "Ext_Id__c", "A-1"),
            "an object without a mapping"
        );
        let claimed = claim(10);
        assert!(pending("Account", "Ext_Id__c", "A-1"), "in flight");
        complete(json!([result(
            &claimed[0],
            "SUCCESS",
            json!({"sfid": "001000000000001AAA"})
        )]));
        assert!(
            !pending("Account", "Ext_Id__c", "A-1"),
            "written: nothing on its way"
        );
    }

    #[pg_test]
    fn every_function_of_schema_sfsync_has_a_comment() {
        let missing = text(
            "SELECT string_agg(p.oid::regprocedure::text, ', ' ORDER BY p.oid::regprocedure::text)
               FROM pg_proc p
              WHERE p.pronamespace = 'sfsync'::regnamespace
                AND obj_description(p.oid, 'pg_proc') IS NULL",
        );
        assert_eq!(missing, None, "functions of sfsync without a COMMENT");
    }
}
