//! The Salesforce CLI (`sf`, npm `@salesforce/cli`), unchanged, against the emulator: logins, org and user
//! display, limits, queries, single-record commands, sObject Tree import/export (with plans and parent-to-child
//! subqueries) and the Bulk API 2.0 commands.

use serde_json::{json, Value as Json};

use crate::common::{fixtures, CLIENT_ID, USERNAME};
use crate::tools::{SfCli, TlsEmulator};

/// `sf org login access-token` with a password-flow token, as alias `emu`: the CLI, the token and the result.
async fn login_with_access_token(emulator: &TlsEmulator) -> (SfCli, String, Json) {
    let sf = SfCli::new(emulator);
    let token = emulator.access_token().await;
    let run = sf.run_env(
        &[
            "org",
            "login",
            "access-token",
            "--instance-url",
            emulator.base(),
            "--no-prompt",
            "--alias",
            "emu",
        ],
        &[("SF_ACCESS_TOKEN", &token)],
    );
    assert!(run.success, "login failed: {}\n{}", run.json, run.stderr);
    (sf, token, run.json["result"].clone())
}

async fn logged_in(emulator: &TlsEmulator) -> SfCli {
    login_with_access_token(emulator).await.0
}

/// `args` with `--target-org emu` appended.
fn on_emu<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut all = args.to_vec();
    all.extend_from_slice(&["--target-org", "emu"]);
    all
}

fn records(result: &Json) -> &Vec<Json> {
    result["records"].as_array().expect("records")
}

#[tokio::test]
async fn login_with_an_access_token_or_a_jwt_then_display_the_org() {
    let emulator = TlsEmulator::start(&[]);
    let (sf, token, login) = login_with_access_token(&emulator).await;
    assert_eq!(login["username"], USERNAME);
    let org_id = login["orgId"].as_str().expect("orgId");
    assert!(org_id.starts_with("00D") && org_id.len() == 18, "{org_id}");
    // The token the CLI was given starts with the org id, as real tokens do.
    assert!(token.starts_with(&org_id[..15]), "{token}");

    let display = sf.ok(&["org", "display", "--target-org", "emu"]);
    assert_eq!(display["connectedStatus"], "Connected", "{display}");
    assert_eq!(display["id"], org_id);
    assert_eq!(display["username"], USERNAME);
    assert_eq!(display["apiVersion"], "64.0");

    // The CLI reads the profile name with a semi-join on User.
    let user = sf.ok(&["org", "display", "user", "--target-org", "emu"]);
    assert_eq!(user["profileName"], "System Administrator", "{user}");
    assert_eq!(user["username"], USERNAME);

    let limits = sf.ok(&["org", "list", "limits", "--target-org", "emu"]);
    let daily = limits
        .as_array()
        .expect("limits")
        .iter()
        .find(|limit| limit["name"] == "DailyApiRequests")
        .expect("DailyApiRequests");
    assert_eq!(daily["max"], 1_000_000);
    assert!(daily["remaining"].as_u64().expect("remaining") < 1_000_000);

    // A JWT login of the same user takes the user's auth over under a new alias.
    let key = fixtures().join("jwt_test_key.pem");
    let jwt = sf.ok(&[
        "org",
        "login",
        "jwt",
        "--username",
        USERNAME,
        "--jwt-key-file",
        key.to_str().expect("utf-8 path"),
        "--client-id",
        CLIENT_ID,
        "--instance-url",
        emulator.base(),
        "--alias",
        "jwt",
    ]);
    assert_eq!(jwt["orgId"], org_id, "{jwt}");
    assert_eq!(jwt["username"], USERNAME);
    // Read from `SELECT ... FROM Organization` after the login.
    assert_eq!(jwt["orgEdition"], "Developer Edition", "{jwt}");
    assert_eq!(jwt["instanceName"], "EMU1");
    let through_jwt = sf.ok(&[
        "data",
        "query",
        "--target-org",
        "jwt",
        "--query",
        "SELECT Id, Name FROM Organization",
    ]);
    assert_eq!(records(&through_jwt)[0]["Id"], org_id);

    let wrong_key = sf.run(&[
        "org",
        "login",
        "jwt",
        "--username",
        "nobody@example.com",
        "--jwt-key-file",
        key.to_str().expect("utf-8 path"),
        "--client-id",
        CLIENT_ID,
        "--instance-url",
        emulator.base(),
    ]);
    assert!(!wrong_key.success);
    assert!(
        wrong_key.json["message"]
            .as_str()
            .is_some_and(|m| m.contains("user hasn't approved this consumer")),
        "{}",
        wrong_key.json
    );
}

#[tokio::test]
async fn records_and_queries() {
    let emulator = TlsEmulator::start(&[]);
    let sf = logged_in(&emulator).await;
    let with_org = on_emu;

    let created = sf.ok(&with_org(&[
        "data",
        "create",
        "record",
        "--sobject",
        "Account",
        "--values",
        "Name='Acme CLI' Industry=Energy",
    ]));
    assert_eq!(created["success"], true, "{created}");
    let id = created["id"].as_str().expect("id").to_string();

    let fetched = sf.ok(&[
        "data",
        "get",
        "record",
        "--sobject",
        "Account",
        "--record-id",
        &id,
        "--target-org",
        "emu",
    ]);
    assert_eq!(fetched["Name"], "Acme CLI");
    assert_eq!(fetched["Industry"], "Energy");

    let updated = sf.ok(&[
        "data",
        "update",
        "record",
        "--sobject",
        "Account",
        "--record-id",
        &id,
        "--values",
        "Name='Acme Renamed'",
        "--target-org",
        "emu",
    ]);
    assert_eq!(updated["success"], true);
    // The CLI finds the record with a query when given --where instead of an id.
    let by_where = sf.ok(&with_org(&[
        "data",
        "update",
        "record",
        "--sobject",
        "Account",
        "--where",
        "Name='Acme Renamed'",
        "--values",
        "Rating=Hot",
    ]));
    assert_eq!(by_where["id"], id.as_str());

    // Rows, with column metadata fetched for the non-empty result (the query-columns variant).
    let rows = sf.ok(&with_org(&[
        "data",
        "query",
        "--query",
        "SELECT Id, Name, Rating, Owner.Name FROM Account",
    ]));
    assert_eq!(rows["totalSize"], 1);
    let row = &records(&rows)[0];
    assert_eq!(row["Name"], "Acme Renamed");
    assert_eq!(row["Rating"], "Hot");
    assert_eq!(row["Owner"]["Name"], "Admin Emulator");
    let csv_path = sf.dir().join("rows.csv");
    let to_csv = sf.ok(&with_org(&[
        "data",
        "query",
        "--query",
        "SELECT Id, Name, Owner.Name FROM Account",
        "--result-format",
        "csv",
        "--output-file",
        csv_path.to_str().expect("utf-8 path"),
    ]));
    assert_eq!(to_csv["totalSize"], 1);
    let csv = std::fs::read_to_string(&csv_path).expect("csv written");
    assert_eq!(
        csv.lines().next(),
        Some("Id,Name,Owner.Name"),
        "column names come from the columns=true metadata:\n{csv}"
    );
    assert!(csv.contains("Acme Renamed,Admin Emulator"), "{csv}");
    let aggregate = sf.ok(&with_org(&[
        "data",
        "query",
        "--query",
        "SELECT COUNT(Id) total FROM Account",
    ]));
    assert_eq!(records(&aggregate)[0]["total"], 1);

    let organization = sf.ok(&with_org(&[
        "data",
        "query",
        "--query",
        "SELECT Id, Name, InstanceName, IsSandbox, OrganizationType FROM Organization",
    ]));
    let organization = &records(&organization)[0];
    assert_eq!(organization["OrganizationType"], "Developer Edition");
    assert_eq!(organization["IsSandbox"], false);

    let deleted = sf.ok(&with_org(&[
        "data",
        "delete",
        "record",
        "--sobject",
        "Account",
        "--record-id",
        &id,
    ]));
    assert_eq!(deleted["success"], true);
    let live = sf.ok(&with_org(&[
        "data",
        "query",
        "--query",
        "SELECT Id FROM Account",
    ]));
    assert_eq!(live["totalSize"], 0);
    let all_rows = sf.ok(&with_org(&[
        "data",
        "query",
        "--query",
        "SELECT Id, IsDeleted FROM Account",
        "--all-rows",
    ]));
    assert_eq!(all_rows["totalSize"], 1);
    assert_eq!(records(&all_rows)[0]["IsDeleted"], true);

    let missing = sf.run(&with_org(&[
        "data",
        "get",
        "record",
        "--sobject",
        "Account",
        "--record-id",
        &id,
    ]));
    assert!(!missing.success);
    let bad_query = sf.run(&with_org(&[
        "data",
        "query",
        "--query",
        "SELECT Nope__c FROM Account",
    ]));
    assert!(!bad_query.success);
    assert_eq!(
        bad_query.json["name"], "INVALID_FIELD",
        "{}",
        bad_query.json
    );
}

#[tokio::test]
async fn tree_import_and_export() {
    let emulator = TlsEmulator::start(&[]);
    let sf = logged_in(&emulator).await;
    let tree = json!({"records": [
        {"attributes": {"type": "Account", "referenceId": "AcmeRef"}, "Name": "Tree Acme", "Industry": "Energy",
         "Contacts": {"records": [
             {"attributes": {"type": "Contact", "referenceId": "JaneRef"}, "LastName": "Doe", "FirstName": "Jane",
              "Email": "jane@example.com"},
             {"attributes": {"type": "Contact", "referenceId": "JohnRef"}, "LastName": "Roe"}
         ]}},
        {"attributes": {"type": "Account", "referenceId": "GlobexRef"}, "Name": "Tree Globex"}
    ]});
    let file = sf.dir().join("accounts.json");
    std::fs::write(&file, tree.to_string()).expect("write tree");
    let file = file.to_str().expect("utf-8 path");
    let imported = sf.ok(&[
        "data",
        "import",
        "tree",
        "--files",
        file,
        "--target-org",
        "emu",
    ]);
    let imported = imported.as_array().expect("imported");
    let refs: Vec<&str> = imported
        .iter()
        .map(|r| r["refId"].as_str().expect("refId"))
        .collect();
    assert_eq!(refs, ["AcmeRef", "GlobexRef", "JaneRef", "JohnRef"]);
    let acme = imported[0]["id"].as_str().expect("id");

    let contacts = sf.ok(&[
        "data",
        "query",
        "--query",
        "SELECT LastName, Account.Name FROM Contact ORDER BY LastName",
        "--target-org",
        "emu",
    ]);
    let contacts = records(&contacts);
    assert_eq!(contacts.len(), 2);
    assert_eq!(contacts[0]["LastName"], "Doe");
    assert_eq!(contacts[0]["Account"]["Name"], "Tree Acme");
    assert_eq!(contacts[1]["Account"]["Name"], "Tree Acme");

    // A bad record fails the whole file and nothing is created.
    let bad = json!({"records": [
        {"attributes": {"type": "Account", "referenceId": "Ok"}, "Name": "Would be created"},
        {"attributes": {"type": "Account", "referenceId": "Bad"}, "Industry": "Energy"}
    ]});
    let bad_file = sf.dir().join("bad.json");
    std::fs::write(&bad_file, bad.to_string()).expect("write tree");
    let refused = sf.run(&[
        "data",
        "import",
        "tree",
        "--files",
        bad_file.to_str().expect("utf-8 path"),
        "--target-org",
        "emu",
    ]);
    assert!(!refused.success, "{}", refused.json);
    assert!(
        refused.json.to_string().contains("REQUIRED_FIELD_MISSING"),
        "{}",
        refused.json
    );
    let count = sf.ok(&[
        "data",
        "query",
        "--query",
        "SELECT COUNT() FROM Account",
        "--target-org",
        "emu",
    ]);
    assert_eq!(count["totalSize"], 2);

    let out = sf.dir().join("export");
    let exported = sf.ok(&[
        "data",
        "export",
        "tree",
        "--query",
        "SELECT Id, Name, Industry FROM Account ORDER BY Name",
        "--output-dir",
        out.to_str().expect("utf-8 path"),
        "--target-org",
        "emu",
    ]);
    let exported_records = records(&exported);
    assert_eq!(exported_records.len(), 2);
    assert_eq!(exported_records[0]["Name"], "Tree Acme");
    assert_eq!(exported_records[0]["Industry"], "Energy");
    let written: Json = serde_json::from_str(
        &std::fs::read_to_string(out.join("Account.json")).expect("Account.json"),
    )
    .expect("JSON file");
    assert_eq!(written["records"][1]["Name"], "Tree Globex");
    assert_ne!(exported_records[0]["attributes"]["referenceId"], Json::Null);
    assert!(!acme.is_empty());
}

/// `sf data export tree --plan` with a parent-to-child subquery writes one file per object and a plan; `sf data
/// import tree --plan` loads them into another org with each contact linked to its new account.
#[tokio::test]
async fn tree_export_with_a_plan_and_its_import_into_another_org() {
    let source = TlsEmulator::start(&[]);
    let sf = logged_in(&source).await;
    let tree = json!({"records": [
        {"attributes": {"type": "Account", "referenceId": "AcmeRef"}, "Name": "Plan Acme",
         "Contacts": {"records": [
             {"attributes": {"type": "Contact", "referenceId": "DoeRef"}, "LastName": "Doe"},
             {"attributes": {"type": "Contact", "referenceId": "RoeRef"}, "LastName": "Roe"}
         ]}},
        {"attributes": {"type": "Account", "referenceId": "GlobexRef"}, "Name": "Plan Globex",
         "Contacts": {"records": [
             {"attributes": {"type": "Contact", "referenceId": "PoeRef"}, "LastName": "Poe"}
         ]}},
        {"attributes": {"type": "Account", "referenceId": "LoneRef"}, "Name": "Plan Lone"}
    ]});
    let file = sf.dir().join("seed.json");
    std::fs::write(&file, tree.to_string()).expect("write tree");
    sf.ok(&on_emu(&[
        "data",
        "import",
        "tree",
        "--files",
        file.to_str().expect("utf-8 path"),
    ]));

    let out = sf.dir().join("plan-export");
    sf.ok(&on_emu(&[
        "data",
        "export",
        "tree",
        "--query",
        "SELECT Id, Name, (SELECT Id, LastName FROM Contacts ORDER BY LastName) FROM Account ORDER BY Name",
        "--plan",
        "--output-dir",
        out.to_str().expect("utf-8 path"),
    ]));
    let plan_file = std::fs::read_dir(&out)
        .expect("export dir")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| path.to_string_lossy().ends_with("plan.json"))
        .expect("a plan file");
    let plan: Json = serde_json::from_str(&std::fs::read_to_string(&plan_file).expect("plan"))
        .expect("plan JSON");
    let objects: Vec<&str> = plan
        .as_array()
        .expect("plan entries")
        .iter()
        .map(|entry| entry["sobject"].as_str().expect("sobject"))
        .collect();
    assert_eq!(objects, ["Account", "Contact"], "{plan}");
    let contacts: Json = serde_json::from_str(
        &std::fs::read_to_string(out.join("Contact.json")).expect("Contact.json"),
    )
    .expect("JSON file");
    assert_eq!(
        contacts["records"].as_array().map(Vec::len),
        Some(3),
        "{contacts}"
    );

    let target = TlsEmulator::start(&[]);
    let other = logged_in(&target).await;
    other.ok(&on_emu(&[
        "data",
        "import",
        "tree",
        "--plan",
        plan_file.to_str().expect("utf-8 path"),
    ]));
    let imported = other.ok(&on_emu(&[
        "data",
        "query",
        "--query",
        "SELECT Name, (SELECT LastName FROM Contacts ORDER BY LastName) FROM Account ORDER BY Name",
    ]));
    let accounts: Vec<(String, Vec<String>)> = records(&imported)
        .iter()
        .map(|account| {
            let children = account["Contacts"]["records"]
                .as_array()
                .map(|list| {
                    list.iter()
                        .map(|contact| contact["LastName"].as_str().expect("LastName").to_string())
                        .collect()
                })
                .unwrap_or_default();
            (
                account["Name"].as_str().expect("Name").to_string(),
                children,
            )
        })
        .collect();
    assert_eq!(
        accounts,
        [
            (
                "Plan Acme".to_string(),
                vec!["Doe".to_string(), "Roe".to_string()]
            ),
            ("Plan Globex".to_string(), vec!["Poe".to_string()]),
            ("Plan Lone".to_string(), Vec::new()),
        ],
        "{imported}"
    );
}

#[tokio::test]
async fn bulk_import_export_upsert_and_delete() {
    let emulator = TlsEmulator::start(&[]);
    let sf = logged_in(&emulator).await;
    let csv = sf.dir().join("accounts.csv");
    let mut rows = String::from("Name,Industry\n");
    for i in 0..50 {
        rows.push_str(&format!("Bulk {i:02},Energy\n"));
    }
    rows.push_str(",Banking\n");
    std::fs::write(&csv, rows).expect("write csv");
    let csv = csv.to_str().expect("utf-8 path");
    let imported = sf.run(&[
        "data",
        "import",
        "bulk",
        "--sobject",
        "Account",
        "--file",
        csv,
        "--wait",
        "5",
        "--target-org",
        "emu",
    ]);
    // One row lacks the required Name: the job completes with one failed record, and the CLI says so by failing
    // with the job's id; `sf data bulk results` then fetches the success and failure files.
    assert!(!imported.success);
    assert_eq!(
        imported.json["name"], "FailedRecordDetailsError",
        "{}",
        imported.json
    );
    assert_eq!(imported.json["data"]["state"], "JobComplete");
    let job_id = imported.json["data"]["jobId"].as_str().expect("jobId");
    let results = sf.ok(&on_emu(&["data", "bulk", "results", "--job-id", job_id]));
    assert_eq!(results["processedRecords"], 51, "{results}");
    assert_eq!(results["successfulRecords"], 50);
    assert_eq!(results["failedRecords"], 1);
    let failed_file = sf
        .dir()
        .join(results["failedFilePath"].as_str().expect("failedFilePath"));
    let failed = std::fs::read_to_string(&failed_file).expect("failed records file");
    assert!(
        failed.contains("REQUIRED_FIELD_MISSING:Required fields are missing: [Name]"),
        "{failed}"
    );

    let exported_csv = sf.dir().join("export.csv");
    let exported = sf.ok(&[
        "data",
        "export",
        "bulk",
        "--query",
        "SELECT Id, Name, Industry FROM Account ORDER BY Name",
        "--output-file",
        exported_csv.to_str().expect("utf-8 path"),
        "--wait",
        "5",
        "--target-org",
        "emu",
    ]);
    assert_eq!(exported["totalSize"], 50, "{exported}");
    let text = std::fs::read_to_string(&exported_csv).expect("export file");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("\"Id\",\"Name\",\"Industry\""));
    let first: Vec<&str> = lines.next().expect("a row").split(',').collect();
    assert_eq!(first[1], "\"Bulk 00\"");
    let first_id = first[0].trim_matches('"').to_string();

    let upsert_csv = sf.dir().join("upsert.csv");
    std::fs::write(&upsert_csv, format!("Id,Name\n{first_id},Bulk Upserted\n")).expect("write csv");
    let upserted = sf.ok(&[
        "data",
        "upsert",
        "bulk",
        "--sobject",
        "Account",
        "--file",
        upsert_csv.to_str().expect("utf-8 path"),
        "--external-id",
        "Id",
        "--wait",
        "5",
        "--target-org",
        "emu",
    ]);
    assert_eq!(upserted["jobInfo"]["state"], "JobComplete", "{upserted}");
    assert_eq!(upserted["jobInfo"]["numberRecordsProcessed"], 1);
    let renamed = sf.ok(&[
        "data",
        "query",
        "--query",
        &format!("SELECT Name FROM Account WHERE Id = '{first_id}'"),
        "--target-org",
        "emu",
    ]);
    assert_eq!(records(&renamed)[0]["Name"], "Bulk Upserted");

    let deleted = sf.ok(&[
        "data",
        "delete",
        "bulk",
        "--sobject",
        "Account",
        "--file",
        upsert_csv.to_str().expect("utf-8 path"),
        "--wait",
        "5",
        "--target-org",
        "emu",
    ]);
    assert_eq!(deleted["jobInfo"]["numberRecordsProcessed"], 1, "{deleted}");
    let left = sf.ok(&[
        "data",
        "query",
        "--query",
        "SELECT COUNT() FROM Account",
        "--target-org",
        "emu",
    ]);
    assert_eq!(left["totalSize"], 49);
}
