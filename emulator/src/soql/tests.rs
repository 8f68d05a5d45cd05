//! Table-driven tests of the SOQL engine over a small in-memory org with a fixed "now"
//! (Friday 2024-03-15 12:00 UTC).

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde_json::{json, Value};

use super::dates::DateKeyword;
use super::lexer::{tokenize, TokenKind};
use super::memory_source::MemoryOrg;
use super::*;

const API: &str = "62.0";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 15, 12, 0, 0)
        .single()
        .expect("valid fixed time")
}

fn text(name: &str) -> FieldMeta {
    FieldMeta::new(name, FieldType::String)
}

fn typed(name: &str, field_type: FieldType) -> FieldMeta {
    FieldMeta::new(name, field_type)
}

fn long_text(name: &str) -> FieldMeta {
    let mut field = FieldMeta::new(name, FieldType::TextArea);
    field.filterable = false;
    field.sortable = false;
    field
}

fn system_fields() -> Vec<FieldMeta> {
    vec![
        typed("Id", FieldType::Id),
        typed("IsDeleted", FieldType::Boolean),
        typed("CreatedDate", FieldType::DateTime),
        typed("SystemModstamp", FieldType::DateTime),
    ]
}

/// Ids of the fixture records, by a short name.
struct Fixture {
    org: MemoryOrg,
    acme: String,
    globex: String,
    initech: String,
    pure: String,
    zeta: String,
    emile: String,
    alice: String,
    bob: String,
    jane: String,
    won_negative: String,
    won_positive: String,
    prospecting: String,
}

fn fixture() -> Fixture {
    let mut org = MemoryOrg::default();
    org.define(ObjectMeta::new(
        "User",
        vec![
            typed("Id", FieldType::Id),
            text("Name"),
            typed("Email", FieldType::Email),
            typed("IsActive", FieldType::Boolean),
            FieldMeta::reference("ManagerId", "Manager", &["User"]),
        ],
    ));
    let mut account_fields = system_fields();
    account_fields.extend([
        text("Name"),
        typed("Type", FieldType::Picklist),
        typed("Industry", FieldType::Picklist),
        typed("AnnualRevenue", FieldType::Currency),
        typed("NumberOfEmployees", FieldType::Int),
        FieldMeta::reference("OwnerId", "Owner", &["Group", "User"]),
        FieldMeta::reference("ParentId", "Parent", &["Account"]),
        long_text("Description"),
        typed("BillingAddress", FieldType::Address),
        typed("Region__c", FieldType::Picklist),
        typed("Tags__c", FieldType::MultiPicklist),
        typed("Founded__c", FieldType::Date),
        typed("Active__c", FieldType::Boolean),
        typed("Rating__c", FieldType::Double),
    ]);
    org.define(ObjectMeta::new("Account", account_fields));
    let mut contact_fields = system_fields();
    contact_fields.extend([
        text("FirstName"),
        text("LastName"),
        typed("Email", FieldType::Email),
        FieldMeta::reference("AccountId", "Account", &["Account"]),
        FieldMeta::reference("OwnerId", "Owner", &["User"]),
        typed("Birthdate", FieldType::Date),
    ]);
    org.define(ObjectMeta::new("Contact", contact_fields));
    let mut opportunity_fields = system_fields();
    opportunity_fields.extend([
        text("Name"),
        typed("Amount", FieldType::Currency),
        typed("StageName", FieldType::Picklist),
        typed("CloseDate", FieldType::Date),
        long_text("Description"),
        FieldMeta::reference("AccountId", "Account", &["Account"]),
    ]);
    org.define(ObjectMeta::new("Opportunity", opportunity_fields));

    let bob = org.insert("User", json!({"Name": "Bob Boss", "IsActive": true}));
    let alice = org.insert(
        "User",
        json!({"Name": "Alice Admin", "IsActive": true, "ManagerId": bob}),
    );
    let acme = org.insert(
        "Account",
        json!({"Name": "Acme", "Type": "Customer", "Industry": "Tech", "AnnualRevenue": "1000000.50",
               "NumberOfEmployees": 100, "CreatedDate": "2024-03-15T08:00:00Z", "Founded__c": "2024-03-14",
               "Tags__c": "a;b", "Active__c": true, "Rating__c": 4.5, "OwnerId": alice, "IsDeleted": false,
               "BillingAddress": {"street": "1 Main St", "city": "Springfield", "postalCode": "12345", "country": "US"}}),
    );
    let globex = org.insert(
        "Account",
        json!({"Name": "Globex", "Type": "Partner", "AnnualRevenue": 250, "NumberOfEmployees": 10,
               "CreatedDate": "2024-03-14T23:59:59Z", "Founded__c": "2024-03-15", "Tags__c": "b;c",
               "Active__c": false, "ParentId": acme, "OwnerId": bob, "IsDeleted": false}),
    );
    let initech = org.insert(
        "Account",
        json!({"Name": "Initech", "Type": "customer", "CreatedDate": "2024-02-10T10:00:00Z",
               "Founded__c": "2024-02-29", "Active__c": true, "ParentId": globex, "OwnerId": alice,
               "IsDeleted": false}),
    );
    let pure = org.insert(
        "Account",
        json!({"Name": "100% Pure_Co", "AnnualRevenue": -5, "NumberOfEmployees": 0,
               "CreatedDate": "2023-12-31T23:00:00Z", "Founded__c": "2023-12-31", "Tags__c": "c",
               "Active__c": false, "IsDeleted": false}),
    );
    let zeta = org.insert(
        "Account",
        json!({"Name": "Zeta", "Type": "Customer", "CreatedDate": "2024-03-16T00:00:00Z", "Active__c": true}),
    );
    org.delete(&zeta);
    let emile = org.insert(
        "Account",
        json!({"Name": "Émile SA", "Type": "Prospect", "AnnualRevenue": 99.99, "NumberOfEmployees": 5,
               "CreatedDate": "2024-03-10T00:00:00Z", "Founded__c": "2024-03-16", "Tags__c": "A;C",
               "Active__c": true, "OwnerId": bob, "IsDeleted": false}),
    );
    let jane = org.insert(
        "Contact",
        json!({"FirstName": "Jane", "LastName": "Doe", "Email": "jane@acme.com", "AccountId": acme,
               "OwnerId": alice, "Birthdate": "1990-05-01"}),
    );
    org.insert(
        "Contact",
        json!({"FirstName": "John", "LastName": "Roe", "AccountId": globex, "OwnerId": bob}),
    );
    org.insert(
        "Contact",
        json!({"FirstName": "Pat", "LastName": "O'Brien", "OwnerId": bob}),
    );
    let won_negative = org.insert(
        "Opportunity",
        json!({"Name": "Refund", "Amount": -1, "StageName": "Closed Won", "CloseDate": "2024-03-01",
               "Description": "oops", "AccountId": acme}),
    );
    let won_positive = org.insert(
        "Opportunity",
        json!({"Name": "Deal", "Amount": 10, "StageName": "Closed Won", "CloseDate": "2024-03-20"}),
    );
    let prospecting = org.insert(
        "Opportunity",
        json!({"Name": "Maybe", "StageName": "Prospecting", "CloseDate": "2024-04-01"}),
    );
    Fixture {
        org,
        acme,
        globex,
        initech,
        pure,
        zeta,
        emile,
        alice,
        bob,
        jane,
        won_negative,
        won_positive,
        prospecting,
    }
}

fn options(include_deleted: bool) -> ExecuteOptions {
    ExecuteOptions {
        include_deleted,
        now: now(),
    }
}

/// Runs a query the way the REST resource would and returns `{"totalSize", "records"}`.
fn run_with(org: &MemoryOrg, query: &str, include_deleted: bool) -> Result<Value, SoqlError> {
    let compiled = CompiledQuery::compile(query, org)?;
    let options = options(include_deleted);
    let result = compiled.execute(org, &options);
    let render = Render {
        api_version: API,
        options: &options,
    };
    Ok(json!({
        "totalSize": result.total_size,
        "records": compiled.json_records(org, &result, &render),
    }))
}

fn run(org: &MemoryOrg, query: &str) -> Result<Value, SoqlError> {
    run_with(org, query, false)
}

/// The first non-attributes field of each record (the tables select one field, usually Name).
fn first_values(response: &Value) -> Vec<String> {
    response["records"]
        .as_array()
        .map(|records| {
            records
                .iter()
                .map(|record| {
                    let object = record.as_object().expect("records are objects");
                    let (_, value) = object
                        .iter()
                        .find(|(key, _)| key.as_str() != "attributes")
                        .expect("a selected field");
                    value
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| value.to_string())
                })
                .collect()
        })
        .unwrap_or_default()
}

const ALL_LIVE: &[&str] = &["Acme", "Globex", "Initech", "100% Pure_Co", "Émile SA"];

#[test]
fn filters_return_the_expected_rows() {
    let fixture = fixture();
    let cases: &[(&str, &[&str])] = &[
        ("SELECT Name FROM Account", ALL_LIVE),
        ("select name from account where name = 'acme'", &["Acme"]),
        ("SELECT Name FROM Account WHERE Name != 'Acme'", &["Globex", "Initech", "100% Pure_Co", "Émile SA"]),
        ("SELECT Name FROM Account WHERE Name <> 'ACME'", &["Globex", "Initech", "100% Pure_Co", "Émile SA"]),
        ("SELECT Name FROM Account WHERE Type = 'customer'", &["Acme", "Initech"]),
        ("SELECT Name FROM Account WHERE Type != 'Customer'", &["Globex", "100% Pure_Co", "Émile SA"]),
        ("SELECT Name FROM Account WHERE Type = null", &["100% Pure_Co"]),
        ("SELECT Name FROM Account WHERE Type != NULL", &["Acme", "Globex", "Initech", "Émile SA"]),
        ("SELECT Name FROM Account WHERE Industry = ''", &["Globex", "Initech", "100% Pure_Co", "Émile SA"]),
        ("SELECT Name FROM Account WHERE Industry != ''", &["Acme"]),
        ("SELECT Name FROM Account WHERE Name > 'h'", &["Initech", "Émile SA"]),
        ("SELECT Name FROM Account WHERE Name <= 'GLOBEX'", &["Acme", "Globex", "100% Pure_Co"]),
        // Numbers compare exactly, across scales and types.
        ("SELECT Name FROM Account WHERE AnnualRevenue > 250", &["Acme"]),
        ("SELECT Name FROM Account WHERE AnnualRevenue >= 250", &["Acme", "Globex"]),
        ("SELECT Name FROM Account WHERE AnnualRevenue < 100", &["100% Pure_Co", "Émile SA"]),
        ("SELECT Name FROM Account WHERE AnnualRevenue = 99.990", &["Émile SA"]),
        ("SELECT Name FROM Account WHERE AnnualRevenue = -5", &["100% Pure_Co"]),
        ("SELECT Name FROM Account WHERE AnnualRevenue = 1000000.5", &["Acme"]),
        ("SELECT Name FROM Account WHERE AnnualRevenue != 250", &["Acme", "Initech", "100% Pure_Co", "Émile SA"]),
        ("SELECT Name FROM Account WHERE NumberOfEmployees >= 10", &["Acme", "Globex"]),
        ("SELECT Name FROM Account WHERE NumberOfEmployees = 0", &["100% Pure_Co"]),
        ("SELECT Name FROM Account WHERE NumberOfEmployees < 5.5", &["100% Pure_Co", "Émile SA"]),
        ("SELECT Name FROM Account WHERE Rating__c = 4.50", &["Acme"]),
        ("SELECT Name FROM Account WHERE Active__c = true", &["Acme", "Initech", "Émile SA"]),
        ("SELECT Name FROM Account WHERE Active__c = FALSE", &["Globex", "100% Pure_Co"]),
        ("SELECT Name FROM Account WHERE Active__c != true", &["Globex", "100% Pure_Co"]),
        // LIKE: case-insensitive, % and _, escapes.
        ("SELECT Name FROM Account WHERE Name LIKE 'a%'", &["Acme"]),
        ("SELECT Name FROM Account WHERE Name LIKE 'ACME'", &["Acme"]),
        ("SELECT Name FROM Account WHERE Name LIKE '%ex'", &["Globex"]),
        ("SELECT Name FROM Account WHERE Name LIKE 'I_itech'", &["Initech"]),
        ("SELECT Name FROM Account WHERE Name LIKE 'I_tech'", &[]),
        ("SELECT Name FROM Account WHERE Name LIKE '100\\% P%'", &["100% Pure_Co"]),
        ("SELECT Name FROM Account WHERE Name LIKE '%\\_%'", &["100% Pure_Co"]),
        ("SELECT Name FROM Account WHERE Name LIKE '%_%'", ALL_LIVE),
        ("SELECT Name FROM Account WHERE Name LIKE '%%'", ALL_LIVE),
        ("SELECT Name FROM Account WHERE Name LIKE 'émile%'", &["Émile SA"]),
        ("SELECT Name FROM Account WHERE Name LIKE '%i%e%'", &["Initech", "Émile SA"]),
        ("SELECT Name FROM Account WHERE NOT Name LIKE 'a%'", &["Globex", "Initech", "100% Pure_Co", "Émile SA"]),
        // IN / NOT IN, with null in the list.
        ("SELECT Name FROM Account WHERE Name IN ('Acme', 'globex')", &["Acme", "Globex"]),
        ("SELECT Name FROM Account WHERE Type NOT IN ('Customer')", &["Globex", "100% Pure_Co", "Émile SA"]),
        ("SELECT Name FROM Account WHERE Type IN ('Partner', null)", &["Globex", "100% Pure_Co"]),
        ("SELECT Name FROM Account WHERE Type NOT IN ('Partner', null)", &["Acme", "Initech", "Émile SA"]),
        ("SELECT Name FROM Account WHERE NumberOfEmployees IN (10, 100)", &["Acme", "Globex"]),
        ("SELECT Name FROM Account WHERE Founded__c IN (2024-03-14, TOMORROW)", &["Acme", "Émile SA"]),
        // Multi-select picklists.
        ("SELECT Name FROM Account WHERE Tags__c INCLUDES ('a')", &["Acme", "Émile SA"]),
        ("SELECT Name FROM Account WHERE Tags__c INCLUDES ('a;b', 'c')", &["Acme", "Globex", "100% Pure_Co", "Émile SA"]),
        ("SELECT Name FROM Account WHERE Tags__c INCLUDES ('b;a')", &["Acme"]),
        ("SELECT Name FROM Account WHERE Tags__c EXCLUDES ('c')", &["Acme", "Initech"]),
        ("SELECT Name FROM Account WHERE Tags__c = 'b;a'", &["Acme"]),
        ("SELECT Name FROM Account WHERE Tags__c != 'b;a'", &["Globex", "Initech", "100% Pure_Co", "Émile SA"]),
        // Boolean structure.
        ("SELECT Name FROM Account WHERE Type = 'Customer' AND Active__c = true", &["Acme", "Initech"]),
        ("SELECT Name FROM Account WHERE Name = 'Acme' OR Name = 'Globex' OR Name = 'Nobody'", &["Acme", "Globex"]),
        ("SELECT Name FROM Account WHERE (Name = 'Acme' OR Name = 'Globex') AND Active__c = false", &["Globex"]),
        ("SELECT Name FROM Account WHERE NOT (Type = 'Customer')", &["Globex", "100% Pure_Co", "Émile SA"]),
        ("SELECT Name FROM Account WHERE Name = 'Acme' AND (Active__c = false OR NumberOfEmployees > 50)", &["Acme"]),
        ("SELECT Name FROM Account WHERE ((Name = 'Acme'))", &["Acme"]),
        ("SELECT Name FROM Account WHERE Active__c = true AND NOT Name = 'Acme' AND Type != null", &["Initech", "Émile SA"]),
        // Dates and date keywords (today is Friday 2024-03-15).
        ("SELECT Name FROM Account WHERE Founded__c = TODAY", &["Globex"]),
        ("SELECT Name FROM Account WHERE Founded__c = yesterday", &["Acme"]),
        ("SELECT Name FROM Account WHERE Founded__c = TOMORROW", &["Émile SA"]),
        ("SELECT Name FROM Account WHERE Founded__c < TODAY", &["Acme", "Initech", "100% Pure_Co"]),
        ("SELECT Name FROM Account WHERE Founded__c > TODAY", &["Émile SA"]),
        ("SELECT Name FROM Account WHERE Founded__c = LAST_N_DAYS:1", &["Acme", "Globex"]),
        ("SELECT Name FROM Account WHERE Founded__c = NEXT_N_DAYS:1", &["Émile SA"]),
        ("SELECT Name FROM Account WHERE Founded__c = THIS_MONTH", &["Acme", "Globex", "Émile SA"]),
        ("SELECT Name FROM Account WHERE Founded__c = LAST_MONTH", &["Initech"]),
        ("SELECT Name FROM Account WHERE Founded__c = THIS_WEEK", &["Acme", "Globex", "Émile SA"]),
        ("SELECT Name FROM Account WHERE Founded__c = LAST_YEAR", &["100% Pure_Co"]),
        ("SELECT Name FROM Account WHERE Founded__c >= 2024-02-29", &["Acme", "Globex", "Initech", "Émile SA"]),
        ("SELECT Name FROM Account WHERE Founded__c = 2024-02-29", &["Initech"]),
        ("SELECT Name FROM Account WHERE Founded__c < LAST_MONTH", &["100% Pure_Co"]),
        ("SELECT Name FROM Account WHERE Founded__c <= LAST_MONTH", &["Initech", "100% Pure_Co"]),
        ("SELECT Name FROM Account WHERE Founded__c > LAST_MONTH", &["Acme", "Globex", "Émile SA"]),
        ("SELECT Name FROM Account WHERE Founded__c >= LAST_MONTH", &["Acme", "Globex", "Initech", "Émile SA"]),
        ("SELECT Name FROM Account WHERE Founded__c != THIS_MONTH", &["Initech", "100% Pure_Co"]),
        // A date keyword against a datetime field covers whole UTC days.
        ("SELECT Name FROM Account WHERE CreatedDate = TODAY", &["Acme"]),
        ("SELECT Name FROM Account WHERE CreatedDate = YESTERDAY", &["Globex"]),
        ("SELECT Name FROM Account WHERE CreatedDate > YESTERDAY", &["Acme"]),
        ("SELECT Name FROM Account WHERE CreatedDate < TODAY", &["Globex", "Initech", "100% Pure_Co", "Émile SA"]),
        ("SELECT Name FROM Account WHERE CreatedDate <= YESTERDAY", &["Globex", "Initech", "100% Pure_Co", "Émile SA"]),
        ("SELECT Name FROM Account WHERE CreatedDate = THIS_WEEK", &["Acme", "Globex", "Émile SA"]),
        ("SELECT Name FROM Account WHERE CreatedDate = LAST_N_DAYS:30", &["Acme", "Globex", "Émile SA"]),
        ("SELECT Name FROM Account WHERE CreatedDate = LAST_90_DAYS", ALL_LIVE),
        ("SELECT Name FROM Account WHERE CreatedDate = THIS_YEAR", &["Acme", "Globex", "Initech", "Émile SA"]),
        ("SELECT Name FROM Account WHERE CreatedDate = LAST_MONTH", &["Initech"]),
        // Datetime literals: Z, offsets with and without colon, fractional seconds.
        ("SELECT Name FROM Account WHERE CreatedDate >= 2024-03-15T08:00:00Z", &["Acme"]),
        ("SELECT Name FROM Account WHERE CreatedDate > 2024-03-15T08:00:00Z", &[]),
        ("SELECT Name FROM Account WHERE CreatedDate > 2024-03-15T09:00:00+02:00", &["Acme"]),
        ("SELECT Name FROM Account WHERE CreatedDate < 2024-03-14T16:00:00-0800", &["Globex", "Initech", "100% Pure_Co", "Émile SA"]),
        ("SELECT Name FROM Account WHERE CreatedDate >= 2024-03-15T08:00:00.000+0000", &["Acme"]),
        ("SELECT Name FROM Account WHERE CreatedDate = 2024-03-15T08:00:00.000Z", &["Acme"]),
        ("SELECT Name FROM Account WHERE CreatedDate = 2024-03-15T08:00:00.001Z", &[]),
        // Parent paths in WHERE, several levels, polymorphic owner.
        ("SELECT Name FROM Account WHERE Parent.Name = 'Acme'", &["Globex"]),
        ("SELECT Name FROM Account WHERE Owner.Name LIKE 'bob%'", &["Globex", "Émile SA"]),
        ("SELECT Name FROM Account WHERE Parent.Parent.Name = 'Acme'", &["Initech"]),
        ("SELECT Name FROM Account WHERE Owner.Manager.Name = 'Bob Boss'", &["Acme", "Initech"]),
        ("SELECT Name FROM Account WHERE Parent.Name = null", &["Acme", "100% Pure_Co", "Émile SA"]),
        ("SELECT LastName FROM Contact WHERE Account.Name = 'Acme'", &["Doe"]),
        ("SELECT LastName FROM Contact WHERE Account.Owner.Name = 'Bob Boss'", &["Roe"]),
        ("SELECT LastName FROM Contact WHERE LastName = 'O\\'Brien'", &["O'Brien"]),
        // ORDER BY: case-insensitive text, nulls placement, several keys, parent paths.
        ("SELECT Name FROM Account ORDER BY Name", &["100% Pure_Co", "Acme", "Globex", "Initech", "Émile SA"]),
        ("SELECT Name FROM Account ORDER BY name DESC", &["Émile SA", "Initech", "Globex", "Acme", "100% Pure_Co"]),
        ("SELECT Name FROM Account ORDER BY Type", &["100% Pure_Co", "Acme", "Initech", "Globex", "Émile SA"]),
        ("SELECT Name FROM Account ORDER BY Type ASC NULLS LAST", &["Acme", "Initech", "Globex", "Émile SA", "100% Pure_Co"]),
        ("SELECT Name FROM Account ORDER BY Type DESC", &["Émile SA", "Globex", "Acme", "Initech", "100% Pure_Co"]),
        ("SELECT Name FROM Account ORDER BY Type DESC NULLS FIRST", &["100% Pure_Co", "Émile SA", "Globex", "Acme", "Initech"]),
        ("SELECT Name FROM Account ORDER BY Active__c, Name", &["100% Pure_Co", "Globex", "Acme", "Initech", "Émile SA"]),
        ("SELECT Name FROM Account ORDER BY AnnualRevenue DESC", &["Acme", "Globex", "Émile SA", "100% Pure_Co", "Initech"]),
        ("SELECT Name FROM Account ORDER BY Owner.Name, Name", &["100% Pure_Co", "Acme", "Initech", "Globex", "Émile SA"]),
        ("SELECT Name FROM Account ORDER BY Founded__c DESC, Name", &["Émile SA", "Globex", "Acme", "Initech", "100% Pure_Co"]),
        // LIMIT and OFFSET, with and without ORDER BY.
        ("SELECT Name FROM Account ORDER BY CreatedDate DESC LIMIT 2", &["Acme", "Globex"]),
        ("SELECT Name FROM Account ORDER BY Name LIMIT 2 OFFSET 1", &["Acme", "Globex"]),
        ("SELECT Name FROM Account LIMIT 2", &["Acme", "Globex"]),
        ("SELECT Name FROM Account LIMIT 0", &[]),
        ("SELECT Name FROM Account OFFSET 4", &["Émile SA"]),
        ("SELECT Name FROM Account OFFSET 2000", &[]),
        ("SELECT Name FROM Account WHERE Active__c = true LIMIT 1 OFFSET 1", &["Initech"]),
    ];
    let mut failures = Vec::new();
    for (query, expected) in cases {
        match run(&fixture.org, query) {
            Ok(response) => {
                let got = first_values(&response);
                if got != *expected {
                    failures.push(format!(
                        "{query}\n   expected {expected:?}\n   got      {got:?}"
                    ));
                } else if response["totalSize"] != json!(expected.len()) {
                    failures.push(format!("{query}: totalSize {}", response["totalSize"]));
                }
            }
            Err(error) => failures.push(format!("{query}\n   failed: {error}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn query_all_includes_deleted_records() {
    let fixture = fixture();
    // Initech's Type is `customer`: text comparison is case-insensitive.
    let cases: &[(&str, bool, &[&str])] = &[
        (
            "SELECT Name FROM Account WHERE Type = 'Customer'",
            false,
            &["Acme", "Initech"],
        ),
        (
            "SELECT Name FROM Account WHERE Type = 'Customer'",
            true,
            &["Acme", "Initech", "Zeta"],
        ),
        (
            "SELECT Name FROM Account WHERE CreatedDate = TOMORROW",
            true,
            &["Zeta"],
        ),
        (
            "SELECT Name FROM Account WHERE CreatedDate = TOMORROW",
            false,
            &[],
        ),
        (
            "SELECT Name FROM Account WHERE IsDeleted = true",
            true,
            &["Zeta"],
        ),
        (
            "SELECT Name FROM Account WHERE IsDeleted = true",
            false,
            &[],
        ),
    ];
    for (query, include_deleted, expected) in cases {
        let response = run_with(&fixture.org, query, *include_deleted).expect("query runs");
        assert_eq!(
            first_values(&response),
            *expected,
            "{query} (queryAll: {include_deleted})"
        );
    }
}

#[test]
fn ids_in_filters_accept_15_and_18_characters() {
    let fixture = fixture();
    let short_id = &fixture.acme[..15];
    for literal in [short_id, fixture.acme.as_str()] {
        let response = run(
            &fixture.org,
            &format!("SELECT Name FROM Account WHERE Id = '{literal}'"),
        )
        .expect("runs");
        assert_eq!(first_values(&response), vec!["Acme"], "Id = '{literal}'");
        let contacts = run(
            &fixture.org,
            &format!("SELECT LastName FROM Contact WHERE AccountId = '{literal}'"),
        )
        .expect("runs");
        assert_eq!(first_values(&contacts), vec!["Doe"]);
    }
    let listed = run(
        &fixture.org,
        &format!(
            "SELECT Name FROM Account WHERE Id IN ('{}', '{}')",
            fixture.globex,
            &fixture.emile[..15]
        ),
    )
    .expect("runs");
    assert_eq!(first_values(&listed), vec!["Globex", "Émile SA"]);
    let not_acme = run(
        &fixture.org,
        &format!("SELECT Name FROM Account WHERE Id != '{}'", fixture.acme),
    )
    .expect("runs");
    assert_eq!(first_values(&not_acme).len(), 4);
    assert_eq!(
        widen_id("001M000000qfPyS").as_deref(),
        Some("001M000000qfPySIAU")
    );
    assert_eq!(
        widen_id("a0RE000000IJmcN").as_deref(),
        Some("a0RE000000IJmcNMAT")
    );
}

fn url(object: &str, id: &str) -> String {
    format!("/services/data/v{API}/sobjects/{object}/{id}")
}

#[test]
fn records_nest_parents_in_select_order() {
    let fixture = fixture();
    let response = run(
        &fixture.org,
        "SELECT Id, Name, Owner.Name, Parent.Name, Parent.Owner.Name, owner.manager.name FROM Account WHERE Name = 'Globex'",
    )
    .expect("runs");
    let expected = json!({"totalSize": 1, "records": [{
        "attributes": {"type": "Account", "url": url("Account", &fixture.globex)},
        "Id": fixture.globex,
        "Name": "Globex",
        "Owner": {"attributes": {"type": "User", "url": url("User", &fixture.bob)}, "Name": "Bob Boss", "Manager": null},
        "Parent": {
            "attributes": {"type": "Account", "url": url("Account", &fixture.acme)},
            "Name": "Acme",
            "Owner": {"attributes": {"type": "User", "url": url("User", &fixture.alice)}, "Name": "Alice Admin"}
        }
    }]});
    assert_eq!(response, expected);
    // serde_json keeps insertion order (preserve_order): keys come out in SELECT order.
    let keys: Vec<&String> = response["records"][0]
        .as_object()
        .expect("object")
        .keys()
        .collect();
    assert_eq!(keys, ["attributes", "Id", "Name", "Owner", "Parent"]);

    let no_parent = run(
        &fixture.org,
        "SELECT Name, Parent.Name FROM Account WHERE Name = 'Acme'",
    )
    .expect("runs");
    assert_eq!(no_parent["records"][0]["Parent"], Value::Null);

    let contact = run(
        &fixture.org,
        "SELECT LastName, Account.Name FROM Contact WHERE LastName = 'O\\'Brien'",
    )
    .expect("runs");
    assert_eq!(contact["records"][0]["Account"], Value::Null);
}

#[test]
fn values_are_encoded_as_the_rest_api_does() {
    let fixture = fixture();
    let response = run(
        &fixture.org,
        "SELECT AnnualRevenue, NumberOfEmployees, CreatedDate, Founded__c, Active__c, Tags__c, Industry, \
         Description, BillingAddress, Rating__c FROM Account WHERE Name = 'Acme'",
    )
    .expect("runs");
    let record = &response["records"][0];
    assert_eq!(record["CreatedDate"], json!("2024-03-15T08:00:00.000+0000"));
    assert_eq!(record["Founded__c"], json!("2024-03-14"));
    assert_eq!(record["Active__c"], json!(true));
    assert_eq!(record["Tags__c"], json!("a;b"));
    assert_eq!(record["Description"], Value::Null);
    assert_eq!(record["NumberOfEmployees"], json!(100));
    assert_eq!(
        record["BillingAddress"],
        json!({"city": "Springfield", "country": "US", "geocodeAccuracy": null, "latitude": null,
               "longitude": null, "postalCode": "12345", "state": null, "street": "1 Main St"})
    );
    // Exact decimals: the digits survive untouched (no f64 on the way).
    let text = serde_json::to_string(record).expect("serializes");
    assert!(text.contains("\"AnnualRevenue\":1000000.50"), "{text}");
    assert!(text.contains("\"Rating__c\":4.5"), "{text}");
}

#[test]
fn canonical_names_are_used_whatever_the_query_spelling() {
    let fixture = fixture();
    let response = run(
        &fixture.org,
        "select NAME, type from ACCOUNT where NAME = 'Acme'",
    )
    .expect("runs");
    let record = response["records"][0].as_object().expect("object");
    let keys: Vec<&String> = record.keys().collect();
    assert_eq!(keys, ["attributes", "Name", "Type"]);
    assert_eq!(record["attributes"]["type"], json!("Account"));
    let qualified = run(
        &fixture.org,
        "SELECT Account.Name FROM Account WHERE Name = 'Acme'",
    )
    .expect("runs");
    assert_eq!(qualified["records"][0]["Name"], json!("Acme"));
}

#[test]
fn columns_and_flat_rows_follow_select_order() {
    let fixture = fixture();
    let compiled = CompiledQuery::compile(
        "SELECT Id, account.name, Account.Owner.Name, Email FROM Contact",
        &fixture.org,
    )
    .expect("compiles");
    assert_eq!(
        compiled.columns(),
        ["Id", "Account.Name", "Account.Owner.Name", "Email"]
    );
    let result = compiled.execute(&fixture.org, &options(false));
    let QueryRows::Records(records) = &result.rows else {
        panic!("expected records");
    };
    let first: Vec<String> = compiled
        .flat_row(&fixture.org, records[0])
        .iter()
        .map(FieldValue::to_csv_text)
        .collect();
    assert_eq!(
        first,
        [
            fixture.jane.as_str(),
            "Acme",
            "Alice Admin",
            "jane@acme.com"
        ]
    );
    let third: Vec<String> = compiled
        .flat_row(&fixture.org, records[2])
        .iter()
        .map(FieldValue::to_csv_text)
        .collect();
    assert_eq!(third[1..], ["", "", ""]);
}

#[test]
fn counts() {
    let fixture = fixture();
    let count_rows = run(&fixture.org, "SELECT COUNT() FROM Account").expect("runs");
    assert_eq!(count_rows, json!({"totalSize": 5, "records": []}));
    let filtered = run(
        &fixture.org,
        "SELECT count() FROM Account WHERE Active__c = true",
    )
    .expect("runs");
    assert_eq!(filtered["totalSize"], json!(3));
    let limited = run(&fixture.org, "SELECT COUNT() FROM Account LIMIT 2").expect("runs");
    assert_eq!(limited["totalSize"], json!(2));
    let all = run_with(&fixture.org, "SELECT COUNT() FROM Account", true).expect("runs");
    assert_eq!(all["totalSize"], json!(6));
    let by_id = run(&fixture.org, "SELECT COUNT(Id) FROM Account").expect("runs");
    assert_eq!(
        by_id,
        json!({"totalSize": 1, "records": [{"attributes": {"type": "AggregateResult"}, "expr0": 5}]})
    );
    let by_field = run(&fixture.org, "SELECT COUNT(Type) FROM Account").expect("runs");
    assert_eq!(by_field["records"][0]["expr0"], json!(4));
    let named = run(
        &fixture.org,
        "SELECT COUNT(Id) total, COUNT(Industry) FROM Account",
    )
    .expect("runs");
    assert_eq!(
        named["records"][0],
        json!({"attributes": {"type": "AggregateResult"}, "total": 5, "expr0": 1})
    );
    let compiled = CompiledQuery::compile(
        "SELECT COUNT(Id) total, COUNT(Industry) FROM Account",
        &fixture.org,
    )
    .expect("compiles");
    assert_eq!(compiled.columns(), ["total", "expr0"]);
}

#[test]
fn fields_function_expands_to_metadata_fields() {
    let fixture = fixture();
    let all = CompiledQuery::compile("SELECT FIELDS(ALL) FROM Account LIMIT 200", &fixture.org)
        .expect("compiles");
    let account = fixture.org.object("Account").expect("defined");
    let every: Vec<String> = account
        .fields()
        .iter()
        .map(|field| field.name.clone())
        .collect();
    assert_eq!(all.columns(), every);
    let standard = CompiledQuery::compile("SELECT FIELDS(STANDARD) FROM Account", &fixture.org)
        .expect("compiles");
    assert!(standard.columns().iter().all(|name| !name.ends_with("__c")));
    assert!(standard.columns().contains(&"Name".to_string()));
    let custom = CompiledQuery::compile("SELECT FIELDS(custom) FROM Account LIMIT 1", &fixture.org)
        .expect("compiles");
    assert_eq!(
        custom.columns(),
        [
            "Region__c",
            "Tags__c",
            "Founded__c",
            "Active__c",
            "Rating__c"
        ]
    );
    let mixed = CompiledQuery::compile(
        "SELECT Parent.Name, FIELDS(CUSTOM) FROM Account LIMIT 10",
        &fixture.org,
    )
    .expect("compiles");
    assert_eq!(mixed.columns()[0], "Parent.Name");
    let response = run(
        &fixture.org,
        "SELECT FIELDS(ALL) FROM Account WHERE Name = 'Acme' LIMIT 1",
    )
    .expect("runs");
    assert_eq!(response["records"][0]["Founded__c"], json!("2024-03-14"));
    assert_eq!(
        response["records"][0]
            .as_object()
            .map(|record| record.len()),
        Some(every.len() + 1)
    );
}

#[test]
fn sorting_is_stable_and_breaks_ties_by_id() {
    let mut org = MemoryOrg::default();
    org.define(ObjectMeta::new(
        "Thing__c",
        vec![
            typed("Id", FieldType::Id),
            text("Name"),
            typed("Rank__c", FieldType::Int),
        ],
    ));
    // Ids chosen out of insertion order, so ties must be broken by Id, not by scan order.
    let ids = [
        "a00000000000003AAA",
        "a00000000000001AAA",
        "a00000000000002AAA",
    ];
    for id in ids {
        org.insert_with_id("Thing__c", id, json!({"Name": "same", "Rank__c": 1}));
    }
    for query in [
        "SELECT Id FROM Thing__c ORDER BY Name",
        "SELECT Id FROM Thing__c ORDER BY Name DESC",
        "SELECT Id FROM Thing__c ORDER BY Rank__c, Name",
    ] {
        let response = run(&org, query).expect("runs");
        assert_eq!(
            first_values(&response),
            [
                "a00000000000001AAA",
                "a00000000000002AAA",
                "a00000000000003AAA"
            ],
            "{query}"
        );
    }
}

/// (query, errorCode, exact message)
fn error_cases(fixture: &Fixture) -> Vec<(String, SoqlErrorCode, String)> {
    let no_such_column = |name: &str, entity: &str| {
        format!(
            "No such column '{name}' on entity '{entity}'. If you are attempting to use a custom field, be sure to \
             append the '__c' after the custom field name. Please reference your WSDL or the describe call for the \
             appropriate names."
        )
    };
    let relationship = |name: &str| {
        format!(
            "Didn't understand relationship '{name}' in field path. If you are attempting to use a custom \
             relationship, be sure to append the '__r' after the custom relationship name. Please reference your \
             WSDL or the describe call for the appropriate names."
        )
    };
    let filter_type = |field: &str, kind: &str| {
        format!("value of filter criterion for field '{field}' must be of type {kind} and should not be enclosed in quotes")
    };
    let caret = |query: &str, column: usize, reason: &str| {
        format!(
            "\n{query}\n{}^\nERROR at Row:1:Column:{column}\n{reason}",
            " ".repeat(column - 1)
        )
    };
    use SoqlErrorCode::*;
    let mut cases = vec![
        ("".to_string(), MalformedQuery, "SOQL statements cannot be empty or null".to_string()),
        ("   ".to_string(), MalformedQuery, "SOQL statements cannot be empty or null".to_string()),
        (
            "SELECT Foo FROM Account".to_string(),
            InvalidField,
            caret("SELECT Foo FROM Account", 8, &no_such_column("Foo", "Account")),
        ),
        (
            "SELECT Id FORM Account".to_string(),
            MalformedQuery,
            caret("SELECT Id FORM Account", 11, "unexpected token: 'FORM'"),
        ),
        (
            "SELECT Id FROM Foo".to_string(),
            InvalidType,
            caret(
                "SELECT Id FROM Foo",
                16,
                "sObject type 'Foo' is not supported. If you are attempting to use a custom object, be sure to \
                 append the '__c' after the entity name. Please reference your WSDL or the describe call for the \
                 appropriate names.",
            ),
        ),
        (
            "SELECT Foo.Name FROM Contact".to_string(),
            InvalidField,
            caret("SELECT Foo.Name FROM Contact", 8, &relationship("Foo")),
        ),
        (
            "SELECT Id, Account.Owner.Foo FROM Contact".to_string(),
            InvalidField,
            caret("SELECT Id, Account.Owner.Foo FROM Contact", 12, &no_such_column("Foo", "User")),
        ),
        (
            "SELECT Id FROM Contact WHERE Account.Bogus.Name = 'x'".to_string(),
            InvalidField,
            caret("SELECT Id FROM Contact WHERE Account.Bogus.Name = 'x'", 30, &relationship("Bogus")),
        ),
        (
            "SELECT AccountId.Name FROM Contact".to_string(),
            InvalidField,
            caret("SELECT AccountId.Name FROM Contact", 8, &relationship("AccountId")),
        ),
        (
            "SELECT Id FROM Account WHERE Name = 'a' AND Type = 'b' OR Industry = 'c'".to_string(),
            MalformedQuery,
            caret(
                "SELECT Id FROM Account WHERE Name = 'a' AND Type = 'b' OR Industry = 'c'",
                56,
                "unexpected token: 'OR'",
            ),
        ),
        (
            "SELECT Id FROM Account WHERE Name = 'a' OR Type = 'b' AND Industry = 'c'".to_string(),
            MalformedQuery,
            caret(
                "SELECT Id FROM Account WHERE Name = 'a' OR Type = 'b' AND Industry = 'c'",
                55,
                "unexpected token: 'AND'",
            ),
        ),
        (
            "SELECT Id FROM Account WHERE CreatedDate > '2024-01-01'".to_string(),
            InvalidField,
            caret("SELECT Id FROM Account WHERE CreatedDate > '2024-01-01'", 30, &filter_type("CreatedDate", "dateTime")),
        ),
        (
            "SELECT Id FROM Account WHERE CreatedDate > 2024-01-01".to_string(),
            InvalidField,
            caret("SELECT Id FROM Account WHERE CreatedDate > 2024-01-01", 30, &filter_type("CreatedDate", "dateTime")),
        ),
        (
            "SELECT Id FROM Account WHERE Founded__c > 2024-01-01T00:00:00Z".to_string(),
            InvalidField,
            caret("SELECT Id FROM Account WHERE Founded__c > 2024-01-01T00:00:00Z", 30, &filter_type("Founded__c", "date")),
        ),
        (
            "SELECT Id FROM Account WHERE Founded__c = '2024-01-01'".to_string(),
            InvalidField,
            caret("SELECT Id FROM Account WHERE Founded__c = '2024-01-01'", 30, &filter_type("Founded__c", "date")),
        ),
        (
            "SELECT Id FROM Account WHERE AnnualRevenue = '5'".to_string(),
            InvalidField,
            caret("SELECT Id FROM Account WHERE AnnualRevenue = '5'", 30, &filter_type("AnnualRevenue", "double")),
        ),
        (
            "SELECT Id FROM Account WHERE NumberOfEmployees = true".to_string(),
            InvalidField,
            caret("SELECT Id FROM Account WHERE NumberOfEmployees = true", 30, &filter_type("NumberOfEmployees", "int")),
        ),
        (
            "SELECT Id FROM Account WHERE Active__c = 'true'".to_string(),
            InvalidField,
            caret("SELECT Id FROM Account WHERE Active__c = 'true'", 30, &filter_type("Active__c", "boolean")),
        ),
        (
            "SELECT Id FROM Account WHERE Name = 5".to_string(),
            InvalidField,
            caret(
                "SELECT Id FROM Account WHERE Name = 5",
                30,
                "value of filter criterion for field 'Name' must be of type string and should be enclosed in quotes",
            ),
        ),
        (
            "SELECT Id FROM Account WHERE Name = TODAY".to_string(),
            InvalidField,
            caret(
                "SELECT Id FROM Account WHERE Name = TODAY",
                30,
                "value of filter criterion for field 'Name' must be of type string and should be enclosed in quotes",
            ),
        ),
        (
            "SELECT Id FROM Contact WHERE Account.CreatedDate = 2024-01-01".to_string(),
            InvalidField,
            caret(
                "SELECT Id FROM Contact WHERE Account.CreatedDate = 2024-01-01",
                30,
                &filter_type("Account.CreatedDate", "dateTime"),
            ),
        ),
        (
            "SELECT Id FROM Account WHERE Id = 'abc'".to_string(),
            InvalidQueryFilterOperator,
            caret("SELECT Id FROM Account WHERE Id = 'abc'", 30, "invalid ID field: abc"),
        ),
        (
            "SELECT Id FROM Account WHERE Id LIKE '001%'".to_string(),
            InvalidQueryFilterOperator,
            caret("SELECT Id FROM Account WHERE Id LIKE '001%'", 30, "invalid operator on id field"),
        ),
        (
            "SELECT Id FROM Account WHERE Active__c > false".to_string(),
            InvalidQueryFilterOperator,
            caret("SELECT Id FROM Account WHERE Active__c > false", 30, "invalid operator on boolean field"),
        ),
        (
            "SELECT Id FROM Account WHERE Name INCLUDES ('a')".to_string(),
            InvalidQueryFilterOperator,
            caret(
                "SELECT Id FROM Account WHERE Name INCLUDES ('a')",
                30,
                "includes or excludes operator only valid on multipicklist field",
            ),
        ),
        (
            "SELECT Id FROM Account WHERE Description = 'x'".to_string(),
            InvalidField,
            caret(
                "SELECT Id FROM Account WHERE Description = 'x'",
                30,
                "field 'Description' can not be filtered in a query call",
            ),
        ),
        (
            "SELECT Id FROM Account ORDER BY Description".to_string(),
            InvalidField,
            caret(
                "SELECT Id FROM Account ORDER BY Description",
                33,
                "field 'Description' can not be sorted in a query call",
            ),
        ),
        (
            "SELECT Id FROM Account OFFSET 2001".to_string(),
            NumberOutsideValidRange,
            "Maximum SOQL offset allowed is 2000".to_string(),
        ),
        (
            "SELECT FIELDS(ALL) FROM Account".to_string(),
            MalformedQuery,
            "The SOQL FIELDS function must have a LIMIT of at most 200".to_string(),
        ),
        (
            "SELECT FIELDS(CUSTOM) FROM Account LIMIT 201".to_string(),
            MalformedQuery,
            "The SOQL FIELDS function must have a LIMIT of at most 200".to_string(),
        ),
        (
            "SELECT Id, FIELDS(ALL) FROM Account LIMIT 200".to_string(),
            InvalidField,
            "duplicate field selected: Id".to_string(),
        ),
        ("SELECT Id, id FROM Account".to_string(), InvalidField, "duplicate field selected: Id".to_string()),
        (
            "SELECT Name, COUNT(Id) FROM Account".to_string(),
            MalformedQuery,
            caret("SELECT Name, COUNT(Id) FROM Account", 8, "Field must be grouped or aggregated: Name"),
        ),
        (
            "SELECT Id FROM Account WHERE Name = 'unterminated".to_string(),
            MalformedQuery,
            caret("SELECT Id FROM Account WHERE Name = 'unterminated", 37, "mismatched character '<EOF>' expecting '''"),
        ),
        (
            "SELECT Id FROM Account WHERE Name = 'a\\qb'".to_string(),
            MalformedQuery,
            caret("SELECT Id FROM Account WHERE Name = 'a\\qb'", 37, "Illegal character sequence '\\q' in string literal."),
        ),
        (
            "SELECT * FROM Account".to_string(),
            MalformedQuery,
            caret("SELECT * FROM Account", 8, "unexpected token: '*'"),
        ),
        (
            "SELECT Id FROM Account LIMIT".to_string(),
            MalformedQuery,
            caret("SELECT Id FROM Account LIMIT", 29, "unexpected token: '<EOF>'"),
        ),
        (
            "SELECT Id FROM Account WHERE".to_string(),
            MalformedQuery,
            caret("SELECT Id FROM Account WHERE", 29, "unexpected token: '<EOF>'"),
        ),
        (
            "SELECT Id FROM Account WHERE Name = 'a' extra".to_string(),
            MalformedQuery,
            caret("SELECT Id FROM Account WHERE Name = 'a' extra", 41, "unexpected token: 'extra'"),
        ),
        (
            "SELECT Id FROM Account WHERE Founded__c = LAST_N_DAYS".to_string(),
            MalformedQuery,
            caret("SELECT Id FROM Account WHERE Founded__c = LAST_N_DAYS", 54, "unexpected token: '<EOF>'"),
        ),
        (
            "SELECT Id FROM Account WHERE Founded__c = 2024-02-30".to_string(),
            MalformedQuery,
            caret("SELECT Id FROM Account WHERE Founded__c = 2024-02-30", 43, "Invalid date: 2024-02-30"),
        ),
        (
            "SELECT Id FROM Account WHERE Name = 'x' ALL ROWS".to_string(),
            MalformedQuery,
            caret("SELECT Id FROM Account WHERE Name = 'x' ALL ROWS", 41, "unexpected token: 'ALL'"),
        ),
        (
            "SELECT Id FROM Account GROUP BY Name".to_string(),
            MalformedQuery,
            caret("SELECT Id FROM Account GROUP BY Name", 24, "sfsync-emulator does not support the GROUP clause"),
        ),
    ];
    let contact_with_bad_parent = format!(
        "SELECT Id FROM Contact WHERE AccountId = '{}x'",
        fixture.acme
    );
    cases.push((
        contact_with_bad_parent.clone(),
        InvalidQueryFilterOperator,
        caret(
            &contact_with_bad_parent,
            30,
            &format!("invalid ID field: {}x", fixture.acme),
        ),
    ));
    cases
}

#[test]
fn errors_match_salesforce_codes_and_messages() {
    let fixture = fixture();
    let cases = error_cases(&fixture);
    let mut failures = Vec::new();
    for (query, code, message) in &cases {
        match run(&fixture.org, query) {
            Ok(response) => {
                failures.push(format!("{query:?}: expected {code}, got rows {response}"))
            }
            Err(error) => {
                if error.code != *code || error.message != *message {
                    failures.push(format!(
                        "{query:?}\n   expected {code}: {message:?}\n   got      {}: {:?}",
                        error.code, error.message
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn golden_error_body_from_the_reference() {
    let fixture = fixture();
    let error = run(&fixture.org, "SELECT Foo FROM Account").expect_err("Foo does not exist");
    assert_eq!(error.http_status(), 400);
    assert_eq!(
        error.to_rest_body(),
        json!([{
            "message": "\nSELECT Foo FROM Account\n       ^\nERROR at Row:1:Column:8\nNo such column 'Foo' on entity 'Account'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.",
            "errorCode": "INVALID_FIELD"
        }])
    );
    let empty = run(&fixture.org, "").expect_err("empty");
    assert_eq!(
        empty.to_rest_body(),
        json!([{"message": "SOQL statements cannot be empty or null", "errorCode": "MALFORMED_QUERY"}])
    );
}

#[test]
fn carets_on_multi_line_queries_point_at_the_right_row() {
    let fixture = fixture();
    let error = run(&fixture.org, "SELECT Id\nFROM Account\nWHERE Nme = 'x'").expect_err("typo");
    assert_eq!(error.code, SoqlErrorCode::InvalidField);
    assert!(
        error.message.starts_with(
            "\nWHERE Nme = 'x'\n      ^\nERROR at Row:3:Column:7\nNo such column 'Nme'"
        ),
        "{:?}",
        error.message
    );
}

#[test]
fn validation_rule_conditions_evaluate_on_one_record() {
    let fixture = fixture();
    let org = &fixture.org;
    let negative = org.record(&fixture.won_negative);
    let positive = org.record(&fixture.won_positive);
    let prospecting = org.record(&fixture.prospecting);
    let cases: &[(&str, [bool; 3])] = &[
        (
            "Amount < 0 AND StageName = 'Closed Won'",
            [true, false, false],
        ),
        ("ISBLANK(Amount)", [false, false, true]),
        ("isblank(Description)", [false, true, true]),
        (
            "NOT(ISBLANK(Description)) AND CloseDate < TODAY",
            [true, false, false],
        ),
        ("CloseDate > TODAY OR Amount = null", [false, true, true]),
        ("ISBLANK(Account.Name)", [false, true, true]),
        ("Account.Owner.Name = 'Alice Admin'", [true, false, false]),
        (
            "StageName IN ('Closed Won', 'Closed Lost') AND (Amount <= 0 OR ISNULL(Amount))",
            [true, false, false],
        ),
        ("Name LIKE 'm%'", [false, false, true]),
        ("CloseDate = NEXT_N_DAYS:30", [false, true, true]),
    ];
    for (text, expected) in cases {
        let condition = CompiledCondition::compile(text, "opportunity", org).expect("compiles");
        assert_eq!(condition.object_name(), "Opportunity");
        let got =
            [negative, positive, prospecting].map(|record| condition.evaluate(org, record, now()));
        assert_eq!(got, *expected, "{text}");
    }
    let bad = CompiledCondition::compile("Foo = 1", "Opportunity", org).expect_err("no such field");
    assert_eq!(bad.code, SoqlErrorCode::InvalidField);
    assert!(
        bad.message
            .contains("No such column 'Foo' on entity 'Opportunity'"),
        "{}",
        bad.message
    );
    let incomplete =
        CompiledCondition::compile("Amount <", "Opportunity", org).expect_err("incomplete");
    assert!(
        incomplete.message.ends_with("unexpected token: '<EOF>'"),
        "{}",
        incomplete.message
    );
    let mixed = CompiledCondition::compile(
        "Amount < 0 AND Name = 'x' OR Name = 'y'",
        "Opportunity",
        org,
    )
    .expect_err("mixed AND/OR");
    assert!(
        mixed.message.ends_with("unexpected token: 'OR'"),
        "{}",
        mixed.message
    );
    let unknown =
        CompiledCondition::compile("Amount < 0", "Nope", org).expect_err("no such object");
    assert_eq!(unknown.code, SoqlErrorCode::InvalidType);
    // ISBLANK is a validation-rule function, not SOQL.
    let in_query =
        run(org, "SELECT Id FROM Opportunity WHERE ISBLANK(Amount)").expect_err("not SOQL");
    assert_eq!(in_query.code, SoqlErrorCode::MalformedQuery);
}

fn date(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).expect("valid date")
}

#[test]
fn date_keyword_boundaries() {
    let friday = date(2024, 3, 15);
    let new_year = date(2024, 1, 1); // a Monday
    type Case = (&'static str, Option<u32>, NaiveDate, (NaiveDate, NaiveDate));
    let cases: &[Case] = &[
        ("TODAY", None, friday, (friday, friday)),
        (
            "YESTERDAY",
            None,
            friday,
            (date(2024, 3, 14), date(2024, 3, 14)),
        ),
        (
            "TOMORROW",
            None,
            friday,
            (date(2024, 3, 16), date(2024, 3, 16)),
        ),
        (
            "THIS_WEEK",
            None,
            friday,
            (date(2024, 3, 10), date(2024, 3, 16)),
        ),
        (
            "LAST_WEEK",
            None,
            friday,
            (date(2024, 3, 3), date(2024, 3, 9)),
        ),
        (
            "NEXT_WEEK",
            None,
            friday,
            (date(2024, 3, 17), date(2024, 3, 23)),
        ),
        (
            "THIS_MONTH",
            None,
            friday,
            (date(2024, 3, 1), date(2024, 3, 31)),
        ),
        (
            "LAST_MONTH",
            None,
            friday,
            (date(2024, 2, 1), date(2024, 2, 29)),
        ),
        (
            "NEXT_MONTH",
            None,
            friday,
            (date(2024, 4, 1), date(2024, 4, 30)),
        ),
        ("LAST_90_DAYS", None, friday, (date(2023, 12, 16), friday)),
        (
            "NEXT_90_DAYS",
            None,
            friday,
            (date(2024, 3, 16), date(2024, 6, 13)),
        ),
        ("LAST_N_DAYS", Some(7), friday, (date(2024, 3, 8), friday)),
        (
            "NEXT_N_DAYS",
            Some(7),
            friday,
            (date(2024, 3, 16), date(2024, 3, 22)),
        ),
        (
            "N_DAYS_AGO",
            Some(3),
            friday,
            (date(2024, 3, 12), date(2024, 3, 12)),
        ),
        (
            "THIS_QUARTER",
            None,
            friday,
            (date(2024, 1, 1), date(2024, 3, 31)),
        ),
        (
            "NEXT_QUARTER",
            None,
            friday,
            (date(2024, 4, 1), date(2024, 6, 30)),
        ),
        (
            "THIS_YEAR",
            None,
            friday,
            (date(2024, 1, 1), date(2024, 12, 31)),
        ),
        (
            "LAST_N_MONTHS",
            Some(2),
            friday,
            (date(2024, 1, 1), date(2024, 2, 29)),
        ),
        (
            "NEXT_N_MONTHS",
            Some(2),
            friday,
            (date(2024, 4, 1), date(2024, 5, 31)),
        ),
        // Year and week boundaries.
        (
            "YESTERDAY",
            None,
            new_year,
            (date(2023, 12, 31), date(2023, 12, 31)),
        ),
        (
            "THIS_WEEK",
            None,
            new_year,
            (date(2023, 12, 31), date(2024, 1, 6)),
        ),
        (
            "LAST_WEEK",
            None,
            new_year,
            (date(2023, 12, 24), date(2023, 12, 30)),
        ),
        (
            "LAST_MONTH",
            None,
            new_year,
            (date(2023, 12, 1), date(2023, 12, 31)),
        ),
        (
            "LAST_QUARTER",
            None,
            new_year,
            (date(2023, 10, 1), date(2023, 12, 31)),
        ),
        (
            "LAST_YEAR",
            None,
            new_year,
            (date(2023, 1, 1), date(2023, 12, 31)),
        ),
        (
            "LAST_N_YEARS",
            Some(2),
            new_year,
            (date(2022, 1, 1), date(2023, 12, 31)),
        ),
        (
            "THIS_MONTH",
            None,
            date(2023, 2, 10),
            (date(2023, 2, 1), date(2023, 2, 28)),
        ),
        (
            "LAST_N_WEEKS",
            Some(1),
            friday,
            (date(2024, 3, 3), date(2024, 3, 9)),
        ),
        (
            "NEXT_N_WEEKS",
            Some(2),
            friday,
            (date(2024, 3, 17), date(2024, 3, 30)),
        ),
    ];
    for (name, number, today, expected) in cases {
        let keyword = DateKeyword::parse(name, *number).expect("known keyword");
        assert_eq!(
            keyword.day_range(*today),
            *expected,
            "{name}:{number:?} on {today}"
        );
    }
    assert_eq!(DateKeyword::parse("LAST_N_DAYS", None), None);
    assert_eq!(DateKeyword::parse("TODAY", Some(1)), None);
}

#[test]
fn datetime_keyword_ranges_end_at_midnight_utc() {
    let mut org = MemoryOrg::default();
    org.define(ObjectMeta::new(
        "Event__c",
        vec![
            typed("Id", FieldType::Id),
            typed("At__c", FieldType::DateTime),
        ],
    ));
    for at in [
        "2024-03-14T23:59:59.999Z",
        "2024-03-15T00:00:00Z",
        "2024-03-15T23:59:59.999Z",
        "2024-03-16T00:00:00Z",
    ] {
        org.insert("Event__c", json!({"At__c": at}));
    }
    let cases: &[(&str, &[&str])] = &[
        (
            "At__c = TODAY",
            &[
                "2024-03-15T00:00:00.000+0000",
                "2024-03-15T23:59:59.999+0000",
            ],
        ),
        ("At__c < TODAY", &["2024-03-14T23:59:59.999+0000"]),
        ("At__c > TODAY", &["2024-03-16T00:00:00.000+0000"]),
        ("At__c >= TOMORROW", &["2024-03-16T00:00:00.000+0000"]),
        ("At__c <= YESTERDAY", &["2024-03-14T23:59:59.999+0000"]),
        (
            "At__c != TODAY",
            &[
                "2024-03-14T23:59:59.999+0000",
                "2024-03-16T00:00:00.000+0000",
            ],
        ),
    ];
    for (condition, expected) in cases {
        let response = run(
            &org,
            &format!("SELECT At__c FROM Event__c WHERE {condition}"),
        )
        .expect("runs");
        assert_eq!(first_values(&response), *expected, "{condition}");
    }
}

#[test]
fn lexer_reads_literals_with_positions() {
    let tokens = tokenize("WHERE d > 2024-01-02T03:04:05.678+01:00 AND n = -12.50 AND s = 'it\\'s' AND x <> 2024-01-02")
        .expect("tokenizes");
    let kinds: Vec<&TokenKind> = tokens.iter().map(|token| &token.kind).collect();
    assert!(kinds.contains(&&TokenKind::DateTime(
        "2024-01-02T03:04:05.678+01:00".into()
    )));
    assert!(kinds.contains(&&TokenKind::Number("-12.50".into())));
    assert!(kinds.contains(&&TokenKind::Str {
        value: "it's".into(),
        raw: "it\\'s".into()
    }));
    assert!(kinds.contains(&&TokenKind::Date("2024-01-02".into())));
    assert!(kinds.contains(&&TokenKind::Ne));
    assert_eq!(tokens[0].start, 0);
    assert_eq!(tokens[1].start, 6);
    let escapes = tokenize(r"'a\nb\tc\\d\u00e9'").expect("tokenizes");
    assert_eq!(
        escapes[0].kind,
        TokenKind::Str {
            value: "a\nb\tc\\dé".into(),
            raw: r"a\nb\tc\\d\u00e9".into()
        }
    );
}

#[test]
fn fixture_ids_are_distinct() {
    let fixture = fixture();
    let ids = [
        &fixture.acme,
        &fixture.globex,
        &fixture.initech,
        &fixture.pure,
        &fixture.zeta,
        &fixture.emile,
    ];
    for id in ids {
        assert_eq!(id.len(), 18);
    }
    let unique: std::collections::HashSet<&&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len());
}

/// Scan speed: `cargo test --release -- --ignored --nocapture scan_speed`.
#[test]
#[ignore]
fn scan_speed() {
    let mut org = MemoryOrg::default();
    org.define(ObjectMeta::new(
        "Opportunity",
        vec![
            typed("Id", FieldType::Id),
            text("Name"),
            typed("Amount", FieldType::Currency),
            typed("StageName", FieldType::Picklist),
            typed("CloseDate", FieldType::Date),
            typed("SystemModstamp", FieldType::DateTime),
        ],
    ));
    let stages = ["Prospecting", "Closed Won", "Closed Lost", "Negotiation"];
    let count = 1_000_000;
    for index in 0..count {
        org.insert(
            "Opportunity",
            json!({"Name": format!("Deal {index}"), "Amount": (index % 10_000) as i64 - 100,
                   "StageName": stages[index % 4], "CloseDate": "2024-03-01",
                   "SystemModstamp": "2024-03-15T08:00:00Z"}),
        );
    }
    let names: Vec<String> = (0..200)
        .map(|index| format!("'Deal {}'", index * 997))
        .collect();
    let name_list = format!(
        "SELECT COUNT() FROM Opportunity WHERE Name IN ({})",
        names.join(", ")
    );
    let queries = [
        name_list.as_str(),
        "SELECT Id FROM Opportunity WHERE Amount < 0 AND StageName = 'Closed Won'",
        "SELECT COUNT() FROM Opportunity WHERE StageName IN ('Closed Won', 'Closed Lost') AND CloseDate = THIS_MONTH",
        "SELECT COUNT() FROM Opportunity WHERE Name LIKE '%99%'",
        "SELECT COUNT() FROM Opportunity WHERE SystemModstamp >= 2024-03-15T00:00:00Z",
        "SELECT Id, Name FROM Opportunity WHERE Amount > 9800 ORDER BY Amount DESC, Name LIMIT 2000",
    ];
    for query in queries {
        let compiled = CompiledQuery::compile(query, &org).expect("compiles");
        let started = std::time::Instant::now();
        let result = compiled.execute(&org, &options(false));
        let elapsed = started.elapsed();
        println!(
            "{count} records: {:>8.1} ms, totalSize {:>7}  {query}",
            elapsed.as_secs_f64() * 1000.0,
            result.total_size
        );
        assert!(result.total_size > 0, "{query} matched nothing");
    }
}

#[test]
fn metadata_comes_from_describe_documents() {
    let describe = json!({
        "name": "Invoice__c",
        "fields": [
            {"name": "Id", "type": "id", "filterable": true, "sortable": true, "custom": false},
            {"name": "Total__c", "type": "currency", "custom": true},
            {"name": "Notes__c", "type": "textarea", "filterable": false, "sortable": false, "custom": true},
            {"name": "Account__c", "type": "reference", "referenceTo": ["Account"], "relationshipName": "Account__r", "custom": true}
        ]
    });
    let meta = ObjectMeta::from_describe(&describe).expect("valid describe");
    assert_eq!(meta.name(), "Invoice__c");
    assert_eq!(meta.field_index("total__C"), Some(1));
    assert!(!meta.fields()[2].filterable);
    assert_eq!(meta.relationship_field("account__R"), Some(3));
    assert_eq!(meta.fields()[3].reference_to, ["Account"]);
    let mut fixture = fixture();
    fixture.org.define(meta);
    fixture.org.insert(
        "Invoice__c",
        json!({"Total__c": "12.30", "Account__c": fixture.acme}),
    );
    let response = run(
        &fixture.org,
        "SELECT Total__c, Account__r.Name FROM Invoice__c WHERE Account__r.Type = 'Customer'",
    )
    .expect("runs");
    assert_eq!(
        serde_json::to_string(&response["records"][0]["Total__c"]).expect("serializes"),
        "12.30"
    );
    assert_eq!(response["records"][0]["Account__r"]["Name"], json!("Acme"));
    let notes = run(
        &fixture.org,
        "SELECT Id FROM Invoice__c WHERE Notes__c = 'x'",
    )
    .expect_err("not filterable");
    assert_eq!(notes.code, SoqlErrorCode::InvalidField);

    let unknown = ObjectMeta::from_describe(
        &json!({"name": "X", "fields": [{"name": "Loc__c", "type": "location"}]}),
    );
    assert_eq!(
        unknown.expect_err("location is not supported").to_string(),
        "object X: field Loc__c has type \"location\", which the SOQL engine does not know"
    );
    assert_eq!(
        ObjectMeta::from_describe(&json!({"fields": []})).expect_err("no name"),
        DescribeError::MissingObjectName
    );
}

#[test]
fn long_in_lists_use_sorted_lookup_with_the_same_answers() {
    let fixture = fixture();
    let padding: Vec<String> = (0..20).map(|index| format!("'Nobody {index}'")).collect();
    let names = format!("{}, 'GLOBEX', 'émile sa', 'acme'", padding.join(", "));
    let found = run(
        &fixture.org,
        &format!("SELECT Name FROM Account WHERE Name IN ({names})"),
    )
    .expect("runs");
    assert_eq!(first_values(&found), ["Acme", "Globex", "Émile SA"]);
    let not_found = run(
        &fixture.org,
        &format!("SELECT Name FROM Account WHERE Name NOT IN ({names})"),
    )
    .expect("runs");
    assert_eq!(first_values(&not_found), ["Initech", "100% Pure_Co"]);

    let fake_ids: Vec<String> = (0..20)
        .map(|index| format!("'002Zz{index:010}AAA'"))
        .collect();
    // A lower-cased checksum suffix and a 15-character id still match.
    let lowered = format!(
        "{}{}",
        &fixture.initech[..15],
        fixture.initech[15..].to_lowercase()
    );
    let ids = format!(
        "{}, '{}', '{}'",
        fake_ids.join(", "),
        lowered,
        &fixture.pure[..15]
    );
    let by_id = run(
        &fixture.org,
        &format!("SELECT Name FROM Account WHERE Id IN ({ids})"),
    )
    .expect("runs");
    assert_eq!(first_values(&by_id), ["Initech", "100% Pure_Co"]);
    let not_by_id = run(
        &fixture.org,
        &format!("SELECT Name FROM Account WHERE Id NOT IN ({ids})"),
    )
    .expect("runs");
    assert_eq!(first_values(&not_by_id), ["Acme", "Globex", "Émile SA"]);
}
