//! jsforce 3, unchanged, against the emulator: each test runs one scenario of `jsforce_scenarios.js` on its own
//! emulator and checks what jsforce returned.

use serde_json::Value as Json;

use crate::common::USERNAME;
use crate::tools::{jsforce, TlsEmulator};

#[tokio::test]
async fn logins_and_identity() {
    let emulator = TlsEmulator::start(&[]);
    let out = jsforce(&emulator, "login");
    let org_id = out["userInfo"]["organizationId"].as_str().expect("org id");
    let user_id = out["userInfo"]["id"].as_str().expect("user id");
    assert!(org_id.starts_with("00D") && org_id.len() == 18, "{out}");
    assert!(user_id.starts_with("005"), "{out}");
    assert_eq!(out["instanceUrl"], emulator.base());
    assert!(out["accessToken"]
        .as_str()
        .is_some_and(|t| t.starts_with(&format!("{}!", &org_id[..15]))));

    let identity = &out["identity"];
    assert_eq!(identity["user_id"], user_id);
    assert_eq!(identity["organization_id"], org_id);
    assert_eq!(identity["username"], USERNAME);
    assert_eq!(identity["display_name"], "Admin Emulator");
    assert_eq!(identity["asserted_user"], true);
    assert_eq!(identity["active"], true);
    assert_eq!(
        identity["id"],
        format!("{}/id/{org_id}/{user_id}", emulator.base())
    );
    assert_eq!(
        identity["urls"]["rest"],
        format!("{}/services/data/v{{version}}/", emulator.base())
    );

    assert_eq!(out["refreshedUser"], user_id);
    assert_eq!(out["credentialsUser"]["organizationId"], org_id);
    assert_eq!(out["jwtUser"]["id"], user_id);
    assert_eq!(out["jwtIdentityUser"], USERNAME);
    assert_eq!(out["badPassword"]["name"], "invalid_grant", "{out}");
    assert_eq!(out["badPassword"]["message"], "authentication failure");
}

#[tokio::test]
async fn single_record_crud() {
    let emulator = TlsEmulator::start(&[]);
    let out = jsforce(&emulator, "crud");
    let id = out["created"]["id"].as_str().expect("id");
    assert_eq!(out["created"]["success"], true);
    assert_eq!(out["retrieved"]["Id"], id);
    assert_eq!(out["retrieved"]["Name"], "jsforce Renamed");
    assert_eq!(out["retrieved"]["Industry"], "Energy");
    assert_eq!(out["upsertCreated"]["created"], true);
    assert_eq!(out["upsertUpdated"]["created"], false);
    assert_eq!(out["upsertUpdated"]["id"], out["upsertCreated"]["id"]);
    assert_eq!(out["widget"]["Name"], "W2");
    assert_eq!(out["deleted"]["success"], true);
    assert_eq!(
        out["afterDelete"]["errorCode"], "ENTITY_IS_DELETED",
        "{out}"
    );
    assert_eq!(
        out["missingObject"]["errorCode"], "NOT_FOUND",
        "{}",
        out["missingObject"]
    );
    assert_eq!(
        out["missingObject"]["message"],
        "The requested resource does not exist"
    );
    assert_eq!(out["invalidField"]["errorCode"], "INVALID_FIELD", "{out}");
}

#[tokio::test]
async fn collections() {
    let emulator = TlsEmulator::start(&[]);
    let out = jsforce(&emulator, "collections");
    let created = out["created"].as_array().expect("created");
    assert_eq!(created.len(), 3);
    assert!(created.iter().all(|r| r["success"] == true));
    assert!(out["updated"]
        .as_array()
        .expect("updated")
        .iter()
        .all(|r| r["success"] == true));
    let retrieved = out["retrieved"].as_array().expect("retrieved");
    assert_eq!(retrieved[1]["Name"], "Collection 1 updated");
    assert_eq!(retrieved[2]["Id"], created[2]["id"]);
    let partial = out["partial"].as_array().expect("partial");
    assert_eq!(partial[0]["success"], true);
    assert_eq!(partial[1]["success"], false);
    assert_eq!(
        partial[1]["errors"][0]["statusCode"],
        "REQUIRED_FIELD_MISSING"
    );
    let rolled_back = out["rolledBack"].as_array().expect("rolledBack");
    assert_eq!(
        rolled_back[0]["errors"][0]["statusCode"],
        "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    );
    assert!(out["deleted"]
        .as_array()
        .expect("deleted")
        .iter()
        .all(|r| r["success"] == true));
    assert_eq!(out["remaining"], 0, "{out}");
}

#[tokio::test]
async fn soql_pages_through_query_more() {
    let emulator = TlsEmulator::start(&[]);
    let out = jsforce(&emulator, "query");
    assert_eq!(out["totalSize"], 2500, "{out}");
    assert_eq!(out["fetched"], 2500);
    assert_eq!(out["distinct"], 2500);
    assert_eq!(out["firstDone"], false);
    assert_eq!(out["firstPage"], 2000);
    assert_eq!(out["secondPage"], 500);
    assert_eq!(out["secondDone"], true);
    assert_eq!(out["overlap"], 0);
    assert_eq!(out["sortedFirst"], "Account 000001");
    assert_eq!(out["count"], 2500);
    assert_eq!(out["ownerName"], "Admin Emulator");
    assert_eq!(out["queryAllSize"], 5);
    assert_eq!(out["malformed"]["errorCode"], "MALFORMED_QUERY");
}

#[tokio::test]
async fn bulk_api_2() {
    let emulator = TlsEmulator::start(&[]);
    let out = jsforce(&emulator, "bulk");
    assert_eq!(out["successful"], 300, "{out}");
    assert_eq!(out["failed"], 1);
    assert!(out["failedError"]
        .as_str()
        .is_some_and(|e| e.starts_with("REQUIRED_FIELD_MISSING:")));
    assert_eq!(out["unprocessed"], 0);
    assert_eq!(out["firstSuccess"]["sf__Created"], "true");
    assert_eq!(out["firstSuccess"]["Name"], "Bulk 000");
    assert_eq!(out["queried"], 300);
    assert_eq!(out["queriedSample"]["Industry"], "Energy");
}

#[tokio::test]
async fn change_data_capture_with_replay() {
    let emulator = TlsEmulator::start(&[]);
    let out = jsforce(&emulator, "streaming");
    let events = out["events"].as_array().expect("events");
    let ids: Vec<&Json> = events.iter().map(|e| &e["recordIds"][0]).collect();
    // -2 replays the event of the record created before subscribing; the live one follows.
    assert_eq!(ids, [&out["before"], &out["live"]], "{out}");
    assert!(events.iter().all(|e| e["changeType"] == "CREATE"));
    assert_eq!(events[1]["name"], "Streamed Live");
    let replay: Vec<u64> = events
        .iter()
        .map(|e| e["replayId"].as_u64().expect("replayId"))
        .collect();
    assert!(replay[0] < replay[1], "{replay:?}");
}

#[tokio::test]
async fn limits_and_composite() {
    let emulator = TlsEmulator::start(&[]);
    let out = jsforce(&emulator, "limitsAndComposite");
    assert_eq!(out["limits"]["Max"], 1_000_000);
    assert!(out["limits"]["Remaining"].as_u64().expect("Remaining") < 1_000_000);
    let responses = out["composite"]["compositeResponse"]
        .as_array()
        .expect("compositeResponse");
    assert_eq!(responses[0]["httpStatusCode"], 201);
    assert_eq!(responses[1]["httpStatusCode"], 201);
    assert_eq!(responses[2]["httpStatusCode"], 200);
    assert_eq!(
        responses[2]["body"]["AccountId"],
        responses[0]["body"]["id"]
    );
    assert_eq!(responses[2]["body"]["LastName"], "Composite Child");
}
