//! Parent-to-child relationship subqueries and semi-joins/anti-joins over HTTP: the nested QueryResult shape
//! (`null` without children), WHERE/ORDER BY/LIMIT per parent, queryAll's deleted children, paging, the
//! column metadata, and the errors for what Salesforce refuses.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{Api, Emulator};
use crate::support::{all_pages, check_cases, query, query_all, query_batched, Expect};

/// Acme (contacts Adams and Doe, Zed deleted; a won opportunity; widget W1), Globex (contact Roe), Initech
/// (no children), and Poe, a contact without account.
async fn fixture(api: &Api) {
    let acme = api.create("Account", json!({"Name": "Acme"})).await;
    let globex = api.create("Account", json!({"Name": "Globex"})).await;
    api.create("Account", json!({"Name": "Initech"})).await;
    api.create(
        "Contact",
        json!({"LastName": "Doe", "Email": "jane@acme.example", "AccountId": acme}),
    )
    .await;
    api.create("Contact", json!({"LastName": "Adams", "AccountId": acme}))
        .await;
    let zed = api
        .create("Contact", json!({"LastName": "Zed", "AccountId": acme}))
        .await;
    let deleted = api.delete(&format!("/sobjects/Contact/{zed}")).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    api.create("Contact", json!({"LastName": "Roe", "AccountId": globex}))
        .await;
    api.create("Contact", json!({"LastName": "Poe"})).await;
    api.create(
        "Opportunity",
        json!({"Name": "Big", "StageName": "Closed Won", "CloseDate": "2024-01-31", "AccountId": acme}),
    )
    .await;
    api.create(
        "Widget__c",
        json!({"Name": "W1", "Ext_Id__c": "W-1", "Status__c": "Open", "Account__c": acme}),
    )
    .await;
}

fn children(records: serde_json::Value) -> serde_json::Value {
    let size = records.as_array().map_or(0, Vec::len);
    json!({"totalSize": size, "done": true, "records": records})
}

fn cases() -> Vec<(&'static str, Expect)> {
    use Expect::*;
    vec![
        (
            "SELECT Name, (SELECT LastName, Email FROM Contacts ORDER BY LastName) FROM Account ORDER BY Name",
            Records(json!([
                {"Name": "Acme", "Contacts": children(json!([
                    {"LastName": "Adams", "Email": null},
                    {"LastName": "Doe", "Email": "jane@acme.example"}
                ]))},
                {"Name": "Globex", "Contacts": children(json!([{"LastName": "Roe", "Email": null}]))},
                {"Name": "Initech", "Contacts": null}
            ])),
        ),
        (
            // The subquery's place in the SELECT list is kept; relationship names are case-insensitive.
            "SELECT (SELECT LastName FROM contacts WHERE LastName != 'Doe' ORDER BY LastName DESC LIMIT 1), Name \
             FROM Account WHERE Name = 'Acme'",
            Records(json!([{"Contacts": children(json!([{"LastName": "Adams"}])), "Name": "Acme"}])),
        ),
        (
            "SELECT Name, (SELECT LastName, Account.Name FROM Contacts WHERE Email = null) FROM Account \
             WHERE Name = 'Acme'",
            Records(json!([{"Name": "Acme", "Contacts": children(json!([
                {"LastName": "Adams", "Account": {"Name": "Acme"}}
            ]))}])),
        ),
        (
            "SELECT Name, (SELECT Name FROM Widgets__r), (SELECT Name FROM Opportunities) FROM Account \
             WHERE Name IN ('Acme', 'Globex') ORDER BY Name",
            Records(json!([
                {"Name": "Acme", "Widgets__r": children(json!([{"Name": "W1"}])),
                 "Opportunities": children(json!([{"Name": "Big"}]))},
                {"Name": "Globex", "Widgets__r": null, "Opportunities": null}
            ])),
        ),
        (
            "SELECT Name, (SELECT LastName FROM Contacts LIMIT 1 OFFSET 1) FROM Account WHERE Name = 'Globex'",
            Records(json!([{"Name": "Globex", "Contacts": null}])),
        ),
        (
            "SELECT Name, (SELECT LastName FROM Contact) FROM Account",
            Error(
                "INVALID_TYPE",
                "Didn't understand relationship 'Contact' in FROM part of query call",
            ),
        ),
        (
            "SELECT Name, (SELECT Nope FROM Contacts) FROM Account",
            Error("INVALID_FIELD", "No such column 'Nope' on entity 'Contact'"),
        ),
        (
            "SELECT Name, (SELECT LastName FROM Contacts), (SELECT Email FROM Contacts) FROM Account",
            Error("INVALID_FIELD", "duplicate field selected: Contacts"),
        ),
        (
            "SELECT COUNT(Id), (SELECT LastName FROM Contacts) FROM Account",
            Error("MALFORMED_QUERY", "parent-to-child"),
        ),
        (
            "SELECT Name, (SELECT LastName FROM Contacts WHERE Id IN (SELECT WhoId FROM Task)) FROM Account",
            Error("MALFORMED_QUERY", "only allowed at the top level WHERE"),
        ),
        // Semi-joins and anti-joins.
        (
            "SELECT Name FROM Account WHERE Id IN (SELECT AccountId FROM Contact WHERE LastName = 'Roe')",
            Records(json!([{"Name": "Globex"}])),
        ),
        (
            // Zed, deleted, does not count: Acme still has live contacts, Initech none.
            "SELECT Name FROM Account WHERE Id NOT IN (SELECT AccountId FROM Contact) ORDER BY Name",
            Records(json!([{"Name": "Initech"}])),
        ),
        (
            "SELECT Name FROM Account WHERE Id IN (SELECT AccountId FROM Contact) \
             AND Id NOT IN (SELECT AccountId FROM Opportunity) ORDER BY Name",
            Records(json!([{"Name": "Globex"}])),
        ),
        (
            // A reference field on the left: contacts of accounts that won an opportunity.
            "SELECT LastName FROM Contact WHERE AccountId IN \
             (SELECT AccountId FROM Opportunity WHERE StageName = 'Closed Won') ORDER BY LastName",
            Records(json!([{"LastName": "Adams"}, {"LastName": "Doe"}])),
        ),
        (
            // NOT IN keeps records whose field is null, as SOQL's NOT IN does.
            "SELECT LastName FROM Contact WHERE AccountId NOT IN (SELECT Account__c FROM Widget__c) \
             ORDER BY LastName",
            Records(json!([{"LastName": "Poe"}, {"LastName": "Roe"}])),
        ),
        (
            "SELECT Name FROM Profile WHERE Id IN (SELECT ProfileId FROM User WHERE Username = 'admin@sfsync.emulator')",
            Records(json!([{"Name": "System Administrator"}])),
        ),
        (
            "SELECT Name FROM Account WHERE Name = 'Initech' OR Id IN (SELECT AccountId FROM Contact)",
            Error("MALFORMED_QUERY", "Semi join sub-selects are not allowed with the 'OR' operator"),
        ),
        (
            "SELECT Name FROM Account WHERE NOT Id IN (SELECT AccountId FROM Contact)",
            Error("MALFORMED_QUERY", "'NOT' operator"),
        ),
        (
            "SELECT Name FROM Account WHERE Name != null AND (Name = 'x' AND Id IN (SELECT AccountId FROM Contact))",
            Error("MALFORMED_QUERY", "only allowed at the top level WHERE"),
        ),
        (
            "SELECT Name FROM Account WHERE Id IN (SELECT AccountId FROM Contact WHERE Id IN \
             (SELECT ContactId FROM Case))",
            Error("MALFORMED_QUERY", "Nesting of semi join sub-selects is not supported"),
        ),
        (
            "SELECT Name FROM Account WHERE Id IN (SELECT LastName FROM Contact)",
            Error(
                "MALFORMED_QUERY",
                "semi join sub selects can only query id fields, cannot use: 'LastName'",
            ),
        ),
        (
            "SELECT Name FROM Account WHERE Id IN (SELECT Account.Id FROM Contact)",
            Error("MALFORMED_QUERY", "can only query id fields"),
        ),
        (
            "SELECT Name FROM Account WHERE Id IN (SELECT Id, AccountId FROM Contact)",
            Error("MALFORMED_QUERY", "exactly one id field"),
        ),
        (
            "SELECT Name FROM Account WHERE Id IN (SELECT ParentId FROM Account)",
            Error("MALFORMED_QUERY", "should not be on the same object type"),
        ),
        (
            "SELECT Name FROM Account WHERE Id IN (SELECT AccountId FROM Contact ORDER BY LastName)",
            Error("MALFORMED_QUERY", "ORDER BY is not supported in semi join sub selects"),
        ),
        (
            "SELECT Name FROM Account WHERE Id IN (SELECT AccountId FROM Contact LIMIT 5)",
            Error("MALFORMED_QUERY", "LIMIT is not supported in semi join sub selects"),
        ),
        (
            "SELECT Name FROM Account WHERE Id IN (SELECT OwnerId FROM Contact)",
            Error("INVALID_FIELD", "must point to the same object type"),
        ),
        (
            "SELECT Name FROM Account WHERE Name IN (SELECT AccountId FROM Contact)",
            Error("MALFORMED_QUERY", "must be an id or reference field"),
        ),
        (
            "SELECT Name FROM Account WHERE Id IN (SELECT AccountId FROM Contact) AND Id IN \
             (SELECT AccountId FROM Opportunity) AND Id IN (SELECT Account__c FROM Widget__c)",
            Error("MALFORMED_QUERY", "No more than 2 semi join"),
        ),
        (
            "SELECT Name FROM Account WHERE Id IN (SELECT AccountId FROM Nothing__c)",
            Error("INVALID_TYPE", "sObject type 'Nothing__c' is not supported"),
        ),
    ]
}

#[tokio::test]
async fn subqueries_and_semi_joins_end_to_end() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    fixture(&api).await;
    // The relationship names come from the parent's describe.
    let describe = api.get("/sobjects/Account/describe").await;
    let names: Vec<&str> = describe.json["childRelationships"]
        .as_array()
        .expect("childRelationships")
        .iter()
        .filter_map(|relationship| relationship["relationshipName"].as_str())
        .collect();
    assert!(
        names.contains(&"Contacts") && names.contains(&"Widgets__r"),
        "{names:?}"
    );
    check_cases(&api, cases()).await;
}

#[tokio::test]
async fn query_all_shows_deleted_children_and_the_shape_carries_attributes() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    fixture(&api).await;
    let text = "SELECT Name, (SELECT LastName FROM Contacts ORDER BY LastName) FROM Account WHERE Name = 'Acme'";
    let live = query(&api, text).await;
    assert_eq!(live.status, StatusCode::OK, "{}", live.json);
    let contacts = &live.json["records"][0]["Contacts"];
    assert_eq!(contacts["totalSize"], 2, "{contacts}");
    assert_eq!(contacts["done"], true);
    let first = &contacts["records"][0];
    assert_eq!(first["attributes"]["type"], "Contact");
    let url = first["attributes"]["url"].as_str().expect("url");
    assert!(url.starts_with("/services/data/v"), "{url}");
    assert!(url.contains("/sobjects/Contact/003"), "{url}");

    let all = query_all(&api, text).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.json);
    let names: Vec<&str> = all.json["records"][0]["Contacts"]["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|record| record["LastName"].as_str().expect("LastName"))
        .collect();
    assert_eq!(names, ["Adams", "Doe", "Zed"]);

    // Semi-joins in queryAll see deleted records too: Zed alone makes an account match.
    let deleted_only = "SELECT Name FROM Account WHERE Id IN (SELECT AccountId FROM Contact WHERE IsDeleted = true)";
    assert_eq!(query(&api, deleted_only).await.json["totalSize"], 0);
    let through_all = query_all(&api, deleted_only).await;
    assert_eq!(
        through_all.json["records"][0]["Name"], "Acme",
        "{}",
        through_all.json
    );
}

#[tokio::test]
async fn later_pages_render_each_parents_children() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    for (object, count, parent) in [("Account", 450, None), ("Contact", 900, Some("AccountId"))] {
        let mut body = json!({"object": object, "count": count});
        if let Some(field) = parent {
            body["parent"] = json!({"field": field});
        }
        let seeded = emulator
            .admin(Method::POST, "/__emulator/seed", Some(body))
            .await;
        assert_eq!(seeded.status, StatusCode::OK, "{}", seeded.json);
    }
    let first = query_batched(
        &api,
        "query",
        "SELECT Id, (SELECT Id, AccountId FROM Contacts) FROM Account",
        200,
    )
    .await;
    let pages = all_pages(&api, first).await;
    assert_eq!(pages.len(), 3);
    let mut accounts = 0;
    for record in pages
        .iter()
        .flat_map(|page| page["records"].as_array().expect("records"))
    {
        accounts += 1;
        let contacts = &record["Contacts"];
        assert_eq!(contacts["totalSize"], 2, "{record}");
        for contact in contacts["records"].as_array().expect("children") {
            assert_eq!(contact["AccountId"], record["Id"]);
        }
    }
    assert_eq!(accounts, 450);
}

#[tokio::test]
async fn query_columns_describe_a_subquery_as_an_aggregate_join() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let text = "SELECT Name, (SELECT LastName, Email FROM Contacts) FROM Account";
    let encoded = serde_urlencoded::to_string([("q", text), ("columns", "true")]).expect("encodes");
    let columns = api.get(&format!("/query?{encoded}")).await;
    assert_eq!(columns.status, StatusCode::OK, "{}", columns.json);
    let subquery = &columns.json["columnMetadata"][1];
    assert_eq!(subquery["columnName"], "Contacts", "{}", columns.json);
    assert_eq!(subquery["aggregate"], true);
    let joined: Vec<&str> = subquery["joinColumns"]
        .as_array()
        .expect("joinColumns")
        .iter()
        .map(|column| column["columnName"].as_str().expect("columnName"))
        .collect();
    assert_eq!(joined, ["LastName", "Email"]);
}

#[tokio::test]
async fn bulk_query_refuses_subqueries_and_runs_semi_joins() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    fixture(&api).await;
    let refused = api
        .post(
            "/jobs/query",
            json!({"operation": "query", "query": "SELECT Name, (SELECT LastName FROM Contacts) FROM Account"}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.json);
    assert_eq!(refused.error_code(), "API_ERROR");
    let accepted = api
        .post(
            "/jobs/query",
            json!({"operation": "query",
                   "query": "SELECT Name FROM Account WHERE Id IN (SELECT AccountId FROM Contact WHERE LastName = 'Roe')"}),
        )
        .await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.json);
    let job = accepted.json["id"].as_str().expect("job id").to_string();
    let mut state = String::new();
    for _ in 0..100 {
        let status = api.get(&format!("/jobs/query/{job}")).await;
        state = status.json["state"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if state == "JobComplete" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(state, "JobComplete");
    let url = format!(
        "{}/services/data/v{}/jobs/query/{job}/results",
        api.base,
        crate::common::VERSION
    );
    let csv = api
        .http
        .get(url)
        .bearer_auth(&api.token)
        .send()
        .await
        .expect("results")
        .text()
        .await
        .expect("CSV");
    assert_eq!(csv, "\"Name\"\n\"Globex\"\n");
}
