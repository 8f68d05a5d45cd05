//! Shared helpers for the `#[pg_test]`s: describe fixtures and small SQL conveniences.

use pgrx::prelude::*;

pub const ACCOUNT: &str = include_str!("../../tests/fixtures/describe/account.json");
pub const CONTACT: &str = include_str!("../../tests/fixtures/describe/contact.json");
pub const EVERY_TYPE: &str = include_str!("../../tests/fixtures/describe/every_type.json");

/// Every field of the Every_Type__c fixture that sfsync maps.
pub const EVERY_FIELDS: &[&str] = &[
    "Name",
    "Text__c",
    "Area__c",
    "Long_Area__c",
    "Email__c",
    "Phone__c",
    "Url__c",
    "Pick__c",
    "Multi__c",
    "Combo__c",
    "Flag__c",
    "Count__c",
    "Ratio__c",
    "Money__c",
    "Share__c",
    "Day__c",
    "Moment__c",
    "Clock__c",
    "Account__c",
    "Formula__c",
    "Key__c",
];

pub fn run(sql: &str) {
    Spi::run(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
}

pub fn one<T: IntoDatum + FromDatum>(sql: &str) -> Option<T> {
    Spi::get_one::<T>(sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

pub fn count(sql: &str) -> i64 {
    one::<i64>(sql).unwrap_or(0)
}

pub fn text(sql: &str) -> Option<String> {
    one::<String>(sql)
}

pub fn json(sql: &str) -> serde_json::Value {
    one::<pgrx::JsonB>(sql)
        .map(|j| j.0)
        .unwrap_or(serde_json::Value::Null)
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn array(items: &[&str]) -> String {
    format!(
        "ARRAY[{}]::text[]",
        items.iter().map(|f| quote(f)).collect::<Vec<_>>().join(",")
    )
}

/// Creates a mapping installed at once from a describe fixture; returns the mapping id.
pub fn map(
    object: &str,
    fields: &[&str],
    access: &str,
    describe: &str,
    extra_options: &str,
) -> i64 {
    let sql = format!(
        "SELECT sfsync.create_mapping({}, {}, {}, {}::jsonb || jsonb_build_object('describe', {}::jsonb, 'parents', jsonb_build_object('Account', {}::jsonb)))",
        quote(object),
        array(fields),
        quote(access),
        quote(extra_options),
        quote(describe),
        quote(ACCOUNT)
    );
    one::<i64>(&sql).expect("mapping id")
}

pub fn map_account_rw() -> i64 {
    map(
        "Account",
        &[
            "Name",
            "Industry",
            "AnnualRevenue",
            "NumberOfEmployees",
            "Ext_Id__c",
            "Description",
        ],
        "read_write",
        ACCOUNT,
        r#"{"upsert_field": "Ext_Id__c"}"#,
    )
}

pub fn map_contact_rw() -> i64 {
    map(
        "Contact",
        &[
            "FirstName",
            "LastName",
            "Email",
            "AccountId",
            "Account.Ext_Id__c",
            "Name",
            "Ext_Id__c",
        ],
        "read_write",
        CONTACT,
        r#"{"upsert_field": "Ext_Id__c"}"#,
    )
}

/// Installs `pg_temp.try_sql(q)`: runs q and returns NULL, or `SQLSTATE: message` of its error (and
/// ` HINT: hint` when it has one). A failing statement is rolled back to the block's savepoint, so
/// tests can check what it left behind.
pub fn install_try_sql() {
    run(
        "CREATE OR REPLACE FUNCTION pg_temp.try_sql(q text) RETURNS text LANGUAGE plpgsql AS $$
         DECLARE v_hint text;
         BEGIN EXECUTE q; RETURN NULL;
         EXCEPTION WHEN others THEN
             GET STACKED DIAGNOSTICS v_hint = PG_EXCEPTION_HINT;
             RETURN SQLSTATE || ': ' || SQLERRM || coalesce(' HINT: ' || NULLIF(v_hint, ''), '');
         END $$",
    );
}

/// Runs `sql`, which must fail with `sqlstate` and a message containing every string of `needles`.
pub fn expect_error(sql: &str, sqlstate: &str, needles: &[&str]) -> String {
    install_try_sql();
    let error = text(&format!("SELECT pg_temp.try_sql({})", quote(sql)))
        .unwrap_or_else(|| panic!("expected an error from {sql}"));
    assert!(
        error.starts_with(&format!("{sqlstate}: ")),
        "wrong SQLSTATE for {sql}: {error}"
    );
    for needle in needles {
        assert!(
            error.contains(needle),
            "error of {sql} does not mention {needle:?}: {error}"
        );
    }
    error
}

/// The queue entries of a mapping as JSON, in id order (live queue and archive).
pub fn changes(mapping: i64) -> Vec<serde_json::Value> {
    let value = json(&format!(
        "SELECT coalesce(jsonb_agg(x ORDER BY x.id), '[]') FROM (
           SELECT id, action, state, sfid, \"values\", old, 'queue' AS place FROM sfsync.change WHERE mapping_id = {mapping}
           UNION ALL
           SELECT id, action, state, sfid, \"values\", old, 'archive' FROM sfsync.change_archive WHERE mapping_id = {mapping}) x"
    ));
    value.as_array().cloned().unwrap_or_default()
}
