//! Table-driven SOQL over HTTP: one org, many queries, each compared with the records (values only) or
//! the error it must produce.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::{Api, Emulator};
use crate::support::{check_cases, query, without_attributes, Expect};

struct Fixture {
    acme: String,
}

async fn fixture(api: &Api) -> Fixture {
    let acme = api
        .create(
            "Account",
            json!({"Name": "Acme", "Industry": "Technology", "AnnualRevenue": 1000000, "NumberOfEmployees": 50,
                   "BillingCity": "Paris", "BillingCountry": "France"}),
        )
        .await;
    let globex = api
        .create(
            "Account",
            json!({"Name": "Globex", "AnnualRevenue": 500, "NumberOfEmployees": 10}),
        )
        .await;
    api.create(
        "Account",
        json!({"Name": "Initech", "Industry": "Technology"}),
    )
    .await;
    api.create(
        "Contact",
        json!({"LastName": "Doe", "FirstName": "Jane", "AccountId": acme, "Email": "jane@acme.example"}),
    )
    .await;
    api.create("Contact", json!({"LastName": "Roe", "AccountId": globex}))
        .await;
    api.create("Contact", json!({"LastName": "Poe"})).await;
    api.create(
        "Widget__c",
        json!({"Name": "W1", "Ext_Id__c": "W-1", "Status__c": "Open", "Price__c": 5, "Ratio__c": 0.5,
               "Quantity__c": 3, "Active__c": true, "Ship_Date__c": "2024-01-31",
               "Shipped_At__c": "2024-01-31T10:20:30.456Z", "Ship_Time__c": "13:30:00.000Z",
               "Tags__c": "a;c", "Account__c": acme}),
    )
    .await;
    api.create(
        "Widget__c",
        json!({"Name": "W2", "Ext_Id__c": "W-2", "Status__c": "Closed", "Price__c": 12.5,
               "Ship_Date__c": "2023-06-01", "Tags__c": "b"}),
    )
    .await;
    Fixture { acme }
}

fn cases() -> Vec<(&'static str, Expect)> {
    use Expect::*;
    vec![
        (
            "SELECT Name FROM Account ORDER BY Name",
            Records(json!([{"Name": "Acme"}, {"Name": "Globex"}, {"Name": "Initech"}])),
        ),
        (
            "select name from account order by name desc limit 2",
            Records(json!([{"Name": "Initech"}, {"Name": "Globex"}])),
        ),
        (
            "SELECT LastName, Account.Name, Account.Industry FROM Contact ORDER BY LastName",
            Records(json!([
                {"LastName": "Doe", "Account": {"Name": "Acme", "Industry": "Technology"}},
                {"LastName": "Poe", "Account": null},
                {"LastName": "Roe", "Account": {"Name": "Globex", "Industry": null}}
            ])),
        ),
        (
            "SELECT LastName, Account.Owner.Name, Owner.Name FROM Contact WHERE Account.Name = 'Acme'",
            Records(json!([
                {"LastName": "Doe", "Account": {"Owner": {"Name": "Admin Emulator"}}, "Owner": {"Name": "Admin Emulator"}}
            ])),
        ),
        (
            "SELECT Name FROM Account WHERE Industry = 'technology' AND (NumberOfEmployees > 20 OR NumberOfEmployees = null) ORDER BY Name",
            Records(json!([{"Name": "Acme"}, {"Name": "Initech"}])),
        ),
        (
            "SELECT Name FROM Account WHERE NOT Name LIKE 'g%' ORDER BY Name",
            Records(json!([{"Name": "Acme"}, {"Name": "Initech"}])),
        ),
        (
            "SELECT Name FROM Account WHERE Name IN ('Acme', 'Initech') AND Name NOT IN ('initech')",
            Records(json!([{"Name": "Acme"}])),
        ),
        (
            "SELECT Name FROM Account ORDER BY Industry NULLS FIRST, Name",
            Records(json!([{"Name": "Globex"}, {"Name": "Acme"}, {"Name": "Initech"}])),
        ),
        (
            "SELECT Name FROM Account ORDER BY Industry DESC NULLS FIRST, Name DESC",
            Records(json!([{"Name": "Globex"}, {"Name": "Initech"}, {"Name": "Acme"}])),
        ),
        (
            "SELECT Name, NumberOfEmployees FROM Account ORDER BY NumberOfEmployees DESC",
            Records(json!([
                {"Name": "Acme", "NumberOfEmployees": 50},
                {"Name": "Globex", "NumberOfEmployees": 10},
                {"Name": "Initech", "NumberOfEmployees": null}
            ])),
        ),
        (
            "SELECT Name FROM Account ORDER BY Name LIMIT 1 OFFSET 1",
            Records(json!([{"Name": "Globex"}])),
        ),
        (
            "SELECT Name FROM Account ORDER BY Name OFFSET 2001",
            Error("NUMBER_OUTSIDE_VALID_RANGE", "Maximum SOQL offset allowed is 2000"),
        ),
        (
            "SELECT COUNT() FROM Account WHERE Industry = 'Technology'",
            Count(2),
        ),
        ("SELECT COUNT() FROM Contact WHERE AccountId = null", Count(1)),
        (
            "SELECT COUNT(Id), COUNT(Industry) cnt FROM Account",
            Records(json!([{"expr0": 3, "cnt": 2}])),
        ),
        (
            "SELECT FIELDS(ALL) FROM Account",
            Error("MALFORMED_QUERY", "LIMIT"),
        ),
        (
            "SELECT FIELDS(ALL) FROM Account LIMIT 201",
            Error("MALFORMED_QUERY", "LIMIT"),
        ),
        (
            "SELECT Name FROM Account WHERE CreatedDate = TODAY AND CreatedDate > 2020-01-01T00:00:00Z ORDER BY Name LIMIT 1",
            Records(json!([{"Name": "Acme"}])),
        ),
        (
            "SELECT COUNT() FROM Account WHERE CreatedDate = LAST_N_DAYS:3",
            Count(3),
        ),
        (
            "SELECT COUNT() FROM Account WHERE CreatedDate < 2000-01-01T00:00:00.000+00:00",
            Count(0),
        ),
        (
            "SELECT COUNT() FROM Account WHERE CreatedDate = YESTERDAY",
            Count(0),
        ),
        (
            "SELECT Name FROM Widget__c WHERE Ship_Date__c > 2024-01-01",
            Records(json!([{"Name": "W1"}])),
        ),
        (
            "SELECT Name FROM Widget__c WHERE Ship_Date__c = 2024-01-31T00:00:00Z",
            Error("INVALID_FIELD", "Ship_Date__c"),
        ),
        (
            "SELECT Name FROM Widget__c WHERE Tags__c INCLUDES ('c;a', 'b') ORDER BY Name",
            Records(json!([{"Name": "W1"}, {"Name": "W2"}])),
        ),
        (
            "SELECT Name FROM Widget__c WHERE Tags__c EXCLUDES ('a')",
            Records(json!([{"Name": "W2"}])),
        ),
        (
            "SELECT Name FROM Widget__c WHERE Tags__c INCLUDES ('b;c')",
            Records(json!([])),
        ),
        (
            "SELECT Name, Price__c FROM Widget__c WHERE Price__c >= 10",
            // Written with the field's scale (arbitrary precision keeps the trailing zero).
            Records(
                serde_json::from_str(r#"[{"Name": "W2", "Price__c": 12.50}]"#)
                    .expect("valid JSON"),
            ),
        ),
        (
            "SELECT Name, Account__r.Name FROM Widget__c ORDER BY Name",
            Records(json!([
                {"Name": "W1", "Account__r": {"Name": "Acme"}},
                {"Name": "W2", "Account__r": null}
            ])),
        ),
        (
            "SELECT Name, BillingAddress FROM Account WHERE Name = 'Acme'",
            Records(json!([{"Name": "Acme", "BillingAddress": {
                "city": "Paris", "country": "France", "geocodeAccuracy": null, "latitude": null,
                "longitude": null, "postalCode": null, "state": null, "street": null}}])),
        ),
        (
            "SELECT Name, BillingAddress FROM Account WHERE Name = 'Globex'",
            Records(json!([{"Name": "Globex", "BillingAddress": null}])),
        ),
        (
            "SELECT Foo FROM Account",
            Error("INVALID_FIELD", "\nSELECT Foo FROM Account\n       ^\nERROR at Row:1:Column:8\nNo such column 'Foo' on entity 'Account'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names."),
        ),
        (
            "SELECT Id FROM Foo__c",
            Error("INVALID_TYPE", "sObject type 'Foo__c' is not supported."),
        ),
        (
            "SELECT FROM Account",
            Error("MALFORMED_QUERY", "ERROR at Row:1:Column:"),
        ),
        (
            "SELECT Name FROM Account WHERE Name = 'x' ALL ROWS",
            Error("MALFORMED_QUERY", "unexpected token: 'ALL'"),
        ),
        (
            "",
            Error("MALFORMED_QUERY", "SOQL statements cannot be empty or null"),
        ),
        (
            "SELECT Name FROM Account WHERE Description = 'x'",
            Error("INVALID_FIELD", "can not be filtered"),
        ),
    ]
}

#[tokio::test]
async fn soql_constructs_end_to_end() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    fixture(&api).await;
    check_cases(&api, cases()).await;
}

/// Every value a query returns is encoded exactly as the REST read of the same record encodes it.
#[tokio::test]
async fn query_values_match_rest_reads() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let fixture = fixture(&api).await;
    let fields = "Id, Name, Price__c, Ratio__c, Quantity__c, Active__c, Ship_Date__c, Shipped_At__c, \
                  Ship_Time__c, Tags__c, Account__c, CreatedDate, SystemModstamp, IsDeleted, OwnerId";
    let response = query(
        &api,
        &format!("SELECT {fields} FROM Widget__c ORDER BY Name"),
    )
    .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.json);
    let records = response.json["records"].as_array().expect("records");
    assert_eq!(records.len(), 2);
    for record in records {
        let id = record["Id"].as_str().expect("id");
        let read = api
            .get(&format!(
                "/sobjects/Widget__c/{id}?fields={}",
                fields.replace(' ', "")
            ))
            .await;
        assert_eq!(read.status, StatusCode::OK, "{}", read.json);
        assert_eq!(*record, read.json, "query and read differ");
    }
    assert_eq!(records[0]["Price__c"].to_string(), "5.00");
    assert_eq!(
        records[0]["Shipped_At__c"],
        json!("2024-01-31T10:20:30.456+0000")
    );
    let account = query(
        &api,
        "SELECT Id, Name, BillingAddress, AnnualRevenue FROM Account WHERE Name = 'Acme'",
    )
    .await;
    let read = api
        .get(&format!(
            "/sobjects/Account/{}?fields=Id,Name,BillingAddress,AnnualRevenue",
            fixture.acme
        ))
        .await;
    assert_eq!(account.json["records"][0], read.json);
}

/// Id literals: 15-character ids are widened, so both spellings find the record.
#[tokio::test]
async fn id_literals_of_both_lengths() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let fixture = fixture(&api).await;
    for id in [&fixture.acme[..], &fixture.acme[..15]] {
        let response = query(&api, &format!("SELECT Name FROM Account WHERE Id = '{id}'")).await;
        assert_eq!(
            without_attributes(&response.json["records"]),
            json!([{"Name": "Acme"}]),
            "{id}"
        );
        let contacts = query(
            &api,
            &format!("SELECT LastName FROM Contact WHERE AccountId IN ('{id}')"),
        )
        .await;
        assert_eq!(
            without_attributes(&contacts.json["records"]),
            json!([{"LastName": "Doe"}])
        );
    }
}

/// FIELDS(ALL) with LIMIT selects every field of the object in describe order.
#[tokio::test]
async fn fields_all_selects_the_describe_fields() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    fixture(&api).await;
    let response = query(&api, "SELECT FIELDS(ALL) FROM Widget__c LIMIT 200").await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.json);
    let record = response.json["records"][0].as_object().expect("record");
    let describe = api.get("/sobjects/Widget__c/describe").await;
    let mut expected = vec!["attributes".to_string()];
    expected.extend(
        describe.json["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .map(|field| field["name"].as_str().expect("name").to_string()),
    );
    let keys: Vec<String> = record.keys().cloned().collect();
    assert_eq!(keys, expected);
}
