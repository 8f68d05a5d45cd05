//! The org's identity: `--org-id` wherever Salesforce shows the org id (token response, access token, identity
//! URL, UserInfo, `Organization.Id`), the identity and UserInfo endpoints and their errors, query columns, and
//! sObject Tree requests.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value as Json};

use crate::common::{password_login, send, Emulator, USERNAME};

async fn password_token(emulator: &Emulator) -> Json {
    password_login(&emulator.http(), &emulator.base).await
}

/// A plain-text response (the identity service answers errors as text).
async fn get_text(emulator: &Emulator, url: &str, token: Option<&str>) -> (StatusCode, String) {
    let mut request = emulator.http().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("sent");
    let status = response.status();
    (status, response.text().await.expect("body"))
}

/// Every place the org id shows, for an emulator started with `args`.
async fn org_ids_shown(emulator: &Emulator) -> Vec<String> {
    let token = password_token(emulator).await;
    let access_token = token["access_token"].as_str().expect("token");
    let id_url = token["id"].as_str().expect("id");
    let from_url = id_url.rsplit('/').nth(1).expect("org segment").to_string();
    let prefix = access_token.split('!').next().expect("prefix").to_string();
    let http = emulator.http();
    let userinfo = send(
        &http,
        Method::GET,
        &format!("{}/services/oauth2/userinfo", emulator.base),
        Some(access_token),
        None,
    )
    .await;
    let identity = send(&http, Method::GET, id_url, Some(access_token), None).await;
    let organization = send(
        &http,
        Method::GET,
        &format!(
            "{}/services/data/v62.0/query?q=SELECT+Id,Name+FROM+Organization",
            emulator.base
        ),
        Some(access_token),
        None,
    )
    .await;
    assert_eq!(organization.json["totalSize"], 1, "{:?}", organization.json);
    vec![
        from_url,
        prefix,
        userinfo.json["organization_id"]
            .as_str()
            .expect("userinfo")
            .to_string(),
        identity.json["organization_id"]
            .as_str()
            .expect("identity")
            .to_string(),
        organization.json["records"][0]["Id"]
            .as_str()
            .expect("Id")
            .to_string(),
    ]
}

#[tokio::test]
async fn org_id_flag_shows_everywhere_and_two_orgs_differ() {
    // A 15-character id is widened to 18 with its checksum.
    let first = Emulator::start(&["--org-id", "00D5g000004Xyz1"]);
    let second = Emulator::start(&["--org-id", "00D000000000062EAA"]);
    let default = Emulator::start(&[]);
    let shown = org_ids_shown(&first).await;
    assert_eq!(
        shown,
        [
            "00D5g000004Xyz1EAC",
            "00D5g000004Xyz1",
            "00D5g000004Xyz1EAC",
            "00D5g000004Xyz1EAC",
            "00D5g000004Xyz1EAC"
        ]
    );
    let shown = org_ids_shown(&second).await;
    assert_eq!(
        shown,
        [
            "00D000000000062EAA",
            "00D000000000062",
            "00D000000000062EAA",
            "00D000000000062EAA",
            "00D000000000062EAA"
        ]
    );
    let shown = org_ids_shown(&default).await;
    assert_eq!(shown[0], "00D8E0000000001UAA");
    assert_eq!(shown[1], "00D8E0000000001");

    // A token of one org is no identity in the other.
    let token = password_token(&first).await;
    let (status, text) = get_text(
        &second,
        &format!("{}/services/oauth2/userinfo", second.base),
        token["access_token"].as_str(),
    )
    .await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::FORBIDDEN, "Bad_OAuth_Token")
    );
}

#[test]
fn bad_org_ids_stop_the_emulator_with_a_clear_error() {
    for (value, expected) in [
        ("0018E0000000001", "organization ids start with 00D"),
        ("00D8E0000000001XXX", "checksum"),
        ("00D-1", "is not a Salesforce id"),
    ] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_sfsync-emulator"))
            .args(["--listen", "127.0.0.1:0", "--org-id", value])
            .output()
            .expect("run the emulator");
        assert!(!output.status.success(), "{value} was accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("--org-id") && stderr.contains(expected),
            "{value}: {stderr}"
        );
    }
}

#[tokio::test]
async fn identity_url_and_userinfo() {
    let emulator = Emulator::start(&[]);
    let token = password_token(&emulator).await;
    let access_token = token["access_token"].as_str().expect("token");
    let id_url = token["id"].as_str().expect("id");
    let http = emulator.http();

    let identity = send(&http, Method::GET, id_url, Some(access_token), None).await;
    assert_eq!(identity.status, StatusCode::OK);
    let body = &identity.json;
    assert_eq!(body["id"], id_url);
    assert_eq!(body["username"], USERNAME);
    assert_eq!(body["user_type"], "STANDARD");
    assert_eq!(body["utcOffset"], 0);
    assert_eq!(
        body["urls"]["sobjects"],
        format!("{}/services/data/v{{version}}/sobjects/", emulator.base)
    );
    // `oauth_token` in the query string works instead of the header; `version` fills the URLs in.
    let by_parameter = send(
        &http,
        Method::GET,
        &format!("{id_url}?version=58.0&oauth_token={access_token}"),
        None,
        None,
    )
    .await;
    assert_eq!(
        by_parameter.json["urls"]["query"],
        format!("{}/services/data/v58.0/query/", emulator.base)
    );

    let userinfo = send(
        &http,
        Method::POST,
        &format!("{}/services/oauth2/userinfo", emulator.base),
        Some(access_token),
        None,
    )
    .await;
    assert_eq!(userinfo.status, StatusCode::OK);
    assert_eq!(userinfo.json["sub"], id_url);
    assert_eq!(userinfo.json["preferred_username"], USERNAME);
    assert_eq!(userinfo.json["user_id"], body["user_id"]);
    assert_eq!(userinfo.json["given_name"], "Admin");
    assert_eq!(userinfo.json["family_name"], "Emulator");

    let org_id = body["organization_id"].as_str().expect("org id");
    let other_user = id_url.replace("0058E0000000001QAA", "0058E0000000002QAA");
    let other = send(&http, Method::GET, &other_user, Some(access_token), None).await;
    assert_eq!(other.json["username"], "other@sfsync.emulator");
    assert_eq!(other.json["asserted_user"], false);

    let base = &emulator.base;
    for (url, token, status, text) in [
        (
            id_url.to_string(),
            None,
            StatusCode::FORBIDDEN,
            "Missing_OAuth_Token",
        ),
        (
            id_url.to_string(),
            Some("00D!nope"),
            StatusCode::FORBIDDEN,
            "Bad_OAuth_Token",
        ),
        (
            format!("{base}/id/00D000000000062EAA/0058E0000000001QAA"),
            Some(access_token),
            StatusCode::FORBIDDEN,
            "Wrong_Org",
        ),
        (
            format!("{base}/id/{org_id}/0058E0000000009QAA"),
            Some(access_token),
            StatusCode::NOT_FOUND,
            "Bad_Id",
        ),
        (
            format!("{id_url}?version=7.0"),
            Some(access_token),
            StatusCode::NOT_ACCEPTABLE,
            "Invalid_Version",
        ),
        (
            format!("{base}/services/oauth2/userinfo"),
            None,
            StatusCode::FORBIDDEN,
            "Missing_OAuth_Token",
        ),
    ] {
        assert_eq!(
            get_text(&emulator, &url, token).await,
            (status, text.to_string()),
            "{url}"
        );
    }
    let (status, _) = get_text(
        &emulator,
        &format!("{id_url}?format=xml"),
        Some(access_token),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_ACCEPTABLE);
}

#[tokio::test]
async fn organization_and_profile_are_read_only() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let created = api
        .post("/sobjects/Organization", json!({"Name": "Another"}))
        .await;
    assert_eq!(created.status, StatusCode::BAD_REQUEST);
    assert_eq!(created.error_code(), "INVALID_TYPE_FOR_OPERATION");
    assert_eq!(
        created.json[0]["message"],
        "entity type cannot be inserted: Organization"
    );
    let users = api
        .get("/query?q=SELECT+Username,Profile.Name+FROM+User+ORDER+BY+Username")
        .await;
    assert_eq!(
        users.json["records"][0]["Profile"]["Name"],
        "System Administrator"
    );
    assert_eq!(users.json["records"][1]["Profile"]["Name"], "Standard User");
    let describe = api.get("/sobjects/Organization/describe").await;
    assert_eq!(describe.json["createable"], false);
    assert_eq!(describe.json["deletable"], false);
    let missing = api.get("/sobjects/NoSuch__c/describe").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(
        missing.json,
        json!([{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}])
    );
}

#[tokio::test]
async fn query_columns() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let columns = api
        .get("/query?columns=true&q=SELECT+Id,Name,Owner.Name,NumberOfEmployees+FROM+Account")
        .await;
    assert_eq!(columns.status, StatusCode::OK);
    let body = &columns.json;
    assert_eq!(body["entityName"], "Account");
    assert_eq!(body["keyPrefix"], "001");
    assert_eq!(body["idSelected"], true);
    assert_eq!(body["groupBy"], false);
    let metadata = body["columnMetadata"].as_array().expect("columnMetadata");
    let names: Vec<&str> = metadata
        .iter()
        .map(|c| c["columnName"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["Id", "Name", "Owner", "NumberOfEmployees"]);
    assert_eq!(metadata[0]["apexType"], "Id");
    assert_eq!(metadata[1]["textType"], true);
    assert_eq!(metadata[1]["updatable"], true);
    assert_eq!(metadata[2]["foreignKeyName"], "OwnerId");
    assert_eq!(metadata[2]["apexType"], Json::Null);
    assert_eq!(metadata[2]["joinColumns"][0]["columnName"], "Name");
    assert_eq!(metadata[3]["apexType"], "Integer");
    assert_eq!(metadata[3]["numberType"], true);

    let aggregate = api
        .get("/query?columns=true&q=SELECT+COUNT(Name)+FROM+Account")
        .await;
    assert_eq!(aggregate.json["columnMetadata"][0]["columnName"], "expr0");
    assert_eq!(
        aggregate.json["columnMetadata"][0]["displayName"],
        "COUNT(Name)"
    );
    assert_eq!(aggregate.json["columnMetadata"][0]["aggregate"], true);
    assert_eq!(aggregate.json["groupBy"], true);

    let bad = api
        .get("/query?columns=true&q=SELECT+Nope+FROM+Account")
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.error_code(), "INVALID_FIELD");
}

#[tokio::test]
async fn sobject_tree() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let tree = json!({"records": [
        {"attributes": {"type": "Account", "referenceId": "ref1"}, "Name": "Tree One",
         "Contacts": {"records": [
             {"attributes": {"type": "Contact", "referenceId": "ref2"}, "LastName": "Smith"},
             {"attributes": {"type": "Contact", "referenceId": "ref3"}, "LastName": "Evans"}
         ]}},
        {"attributes": {"type": "Account", "referenceId": "ref4"}, "Name": "Tree Two"}
    ]});
    let created = api.post("/composite/tree/Account", tree).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.json);
    assert_eq!(created.json["hasErrors"], false);
    let refs: Vec<&str> = created.json["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["referenceId"].as_str().expect("ref"))
        .collect();
    // Level by level: both roots, then the children.
    assert_eq!(refs, ["ref1", "ref4", "ref2", "ref3"]);
    let parent = created.json["results"][0]["id"].clone();
    let contacts = api.get("/query?q=SELECT+AccountId+FROM+Contact").await;
    assert_eq!(contacts.json["totalSize"], 2);
    assert_eq!(contacts.json["records"][0]["AccountId"], parent);

    let failing = api
        .post(
            "/composite/tree/Account",
            json!({"records": [
                {"attributes": {"type": "Account", "referenceId": "good"}, "Name": "Rolled back"},
                {"attributes": {"type": "Account", "referenceId": "bad"},
                 "Contacts": {"records": [{"attributes": {"type": "Contact", "referenceId": "c"}, "LastName": "X"}]}}
            ]}),
        )
        .await;
    assert_eq!(failing.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        failing.json,
        json!({"hasErrors": true, "results": [{"referenceId": "bad", "errors": [{
            "statusCode": "REQUIRED_FIELD_MISSING", "message": "Required fields are missing: [Name]", "fields": ["Name"]}]}]})
    );
    let count = api.get("/query?q=SELECT+COUNT()+FROM+Account").await;
    assert_eq!(
        count.json["totalSize"], 2,
        "nothing of the failed request stays"
    );

    let duplicate = api
        .post(
            "/composite/tree/Account",
            json!({"records": [
                {"attributes": {"type": "Account", "referenceId": "same"}, "Name": "A"},
                {"attributes": {"type": "Account", "referenceId": "same"}, "Name": "B"}
            ]}),
        )
        .await;
    assert_eq!(duplicate.status, StatusCode::BAD_REQUEST);
    assert_eq!(duplicate.json["results"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        duplicate.json["results"][0]["errors"][0]["statusCode"],
        "INVALID_INPUT"
    );

    let wrong_type = api
        .post(
            "/composite/tree/Account",
            json!({"records": [{"attributes": {"type": "Contact", "referenceId": "r"}, "LastName": "A"}]}),
        )
        .await;
    assert_eq!(
        wrong_type.json["results"][0]["errors"][0]["statusCode"],
        "INVALID_INPUT"
    );
    let unknown_relationship = api
        .post(
            "/composite/tree/Account",
            json!({"records": [{"attributes": {"type": "Account", "referenceId": "r"}, "Name": "A",
                                "Widgets": {"records": []}}]}),
        )
        .await;
    assert_eq!(
        unknown_relationship.json["results"][0]["errors"][0]["statusCode"],
        "INVALID_FIELD"
    );
    let too_many: Vec<Json> = (0..201)
        .map(|i| json!({"attributes": {"type": "Account", "referenceId": format!("r{i}")}, "Name": "A"}))
        .collect();
    let refused = api
        .post("/composite/tree/Account", json!({"records": too_many}))
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.error_code(), "LIMIT_EXCEEDED");
    let unknown_object = api
        .post("/composite/tree/Nope__c", json!({"records": []}))
        .await;
    assert_eq!(unknown_object.status, StatusCode::NOT_FOUND);
    let not_json = api
        .post("/composite/tree/Account", json!({"rows": []}))
        .await;
    assert_eq!(not_json.error_code(), "JSON_PARSER_ERROR");
}
