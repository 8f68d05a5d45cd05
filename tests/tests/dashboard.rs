//! The web dashboard in a real headless Chromium over WebDriver, against the real thing: a Postgres
//! cluster, the emulator over HTTPS and the sidecar as `sfsync_sidecar` (a member of `sfsync_agent`
//! only), serving the dashboard with a token and an admin connection as a login role that is only a
//! member of `sfsync_admin` (or, for the read-only test, none). Each test saves a screenshot under
//! `target/screenshots/`.

use std::time::Duration;

use reqwest::redirect::Policy;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sfsync_tests::browser::{cookie_pair, Browser};
use sfsync_tests::{eventually, free_port, Sidecar, World, WorldBuilder, WAIT};

/// The dashboard's admin login role: a member of sfsync_admin and nothing else.
const ADMIN_ROLE: &str = "sfsync_dashboard_admin";

/// Whether the sidecar gets the dashboard's admin connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Actions {
    Allowed,
    ReadOnly,
}

struct Dashboard {
    world: World,
    base: String,
    token: String,
}

impl Dashboard {
    /// A world whose sidecar serves the dashboard on a free port with a fresh token and, when
    /// `Actions::Allowed`, the admin connection (without it the dashboard is read-only).
    async fn start(builder: WorldBuilder, actions: Actions) -> Dashboard {
        let port = free_port();
        let token = format!("{:032x}", rand::random::<u128>());
        let world = builder
            .env("SFSYNC_HTTP_LISTEN", &format!("127.0.0.1:{port}"))
            .env("SFSYNC_DASHBOARD_TOKEN", &token)
            .start()
            .await;
        world
            .sql
            .batch_execute(&format!(
                "DO $$ BEGIN
                     CREATE ROLE {ADMIN_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE IN ROLE sfsync_admin;
                 EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
                 END $$"
            ))
            .await
            .expect("create the dashboard's admin role");
        let admin_url = format!("{}?sslmode=disable", world.db.url_as(ADMIN_ROLE));
        let mut world = world;
        if actions == Actions::Allowed {
            world.env = world.env_with(&[("SFSYNC_DASHBOARD_DATABASE_URL", &admin_url)]);
        }
        Dashboard {
            world,
            base: format!("http://127.0.0.1:{port}"),
            token,
        }
    }

    fn sidecar(&self) -> Sidecar {
        self.world.sidecar()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A browser signed in through `/?token=`.
    async fn browser(&self) -> Browser {
        let browser = Browser::start().await;
        // the sidecar serves pages once its schema session is open
        let login = self.url(&format!("/?token={}", self.token));
        browser
            .until_page(&login, WAIT, "the signed-in overview", |page| {
                page.contains("Mappings of schema")
            })
            .await;
        assert_eq!(
            browser.url().await,
            self.url("/"),
            "the token left the address"
        );
        browser
    }

    /// The session cookie (`sfsync_session=...`) a plain HTTP client gets from the token URL.
    async fn http_session(&self, http: &reqwest::Client) -> String {
        let response = http
            .get(self.url(&format!("/?token={}", self.token)))
            .send()
            .await
            .expect("token URL");
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let set_cookie = response
            .headers()
            .get("set-cookie")
            .and_then(|value| value.to_str().ok())
            .expect("Set-Cookie")
            .to_string();
        cookie_pair(&set_cookie)
    }

    /// The CSRF token of a session, from the form the editor serves (also in read-only mode).
    async fn csrf(&self, http: &reqwest::Client, cookie: &str) -> String {
        let page = http
            .get(self.url("/new?object=Account"))
            .header("cookie", cookie)
            .send()
            .await
            .expect("GET /new")
            .text()
            .await
            .expect("body");
        let marker = r#"<input type="hidden" name="csrf" value=""#;
        let start = page
            .find(marker)
            .unwrap_or_else(|| panic!("no csrf field: {page}"))
            + marker.len();
        page[start..]
            .split('"')
            .next()
            .expect("csrf value")
            .to_string()
    }

    /// The FAILED archive entry of a row (the change `/errors` lists for it).
    async fn failed_change(&self, record_id: i64) -> i64 {
        self.world
            .scalar(&format!(
                "SELECT id FROM sfsync.change_archive WHERE record_id = {record_id} AND state = 'FAILED'"
            ))
            .await
    }

    async fn archive_state(&self, change_id: i64) -> String {
        self.world
            .text(&format!(
                "SELECT state FROM sfsync.change_archive WHERE id = {change_id}"
            ))
            .await
            .expect("the archived change")
    }

    async fn status_state(&self, object: &str) -> String {
        self.world
            .sql
            .query_one(
                "SELECT state FROM sfsync.status() WHERE object_name = $1",
                &[&object],
            )
            .await
            .expect("status()")
            .get(0)
    }
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("http client")
}

/// The change ids of the rows `/errors` shows, sorted.
/// The notice an action left on the page it led to (waiting for that page).
async fn notice_shown(browser: &Browser) -> String {
    browser
        .wait_for("#notice", WAIT)
        .await
        .text()
        .await
        .expect("notice")
}

/// Waits for the queue to drain, then checks the Contact with this email reached the emulator once,
/// with this last name.
async fn written_once(world: &World, email: &str, last_name: &str) {
    world.drained("the retried contact to be written").await;
    let sent = world
        .emulator
        .query(&format!(
            "SELECT Id, LastName FROM Contact WHERE Email = '{email}'"
        ))
        .await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["LastName"], last_name);
}

async fn shown_changes(browser: &Browser) -> Vec<i64> {
    let source = browser.source().await;
    let mut ids: Vec<i64> = source
        .split(r#"<tr data-change=""#)
        .skip(1)
        .map(|rest| {
            rest.split('"')
                .next()
                .and_then(|id| id.parse().ok())
                .expect("a change id")
        })
        .collect();
    ids.sort_unstable();
    ids
}

/// Waits until the sidecar answers (any status) on its listen address.
async fn answering(dashboard: &Dashboard, http: &reqwest::Client) {
    eventually(WAIT, "the sidecar's HTTP server", || async {
        http.get(dashboard.url("/healthz")).send().await.is_ok()
    })
    .await;
}

#[tokio::test]
async fn the_token_opens_a_session_and_the_overview_shows_a_load_in_progress() {
    let dashboard = Dashboard::start(World::reader(), Actions::ReadOnly).await;
    let world = &dashboard.world;
    for chunk in 0..5 {
        let records: Vec<Value> = (0..1000)
            .map(|i| json!({"Name": format!("Account {chunk}-{i:04}")}))
            .collect();
        world.create("Account", Value::Array(records)).await;
    }
    // the load's first page comes at once, every further page of 2,000 takes 8 s: the load stays
    // LOADING with part of its records done for a while
    world
        .fault(json!({"path": "/services/data/v62.0/query/01g", "latencyMs": 8000}))
        .await;
    let _sidecar = dashboard.sidecar();
    let http = http_client();
    answering(&dashboard, &http).await;

    // without the cookie: 401 and the token form, on every page
    for path in ["/", "/errors", "/new", "/mappings/salesforce/Account"] {
        let response = http.get(dashboard.url(path)).send().await.expect("GET");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
        let headers = response.headers().clone();
        assert_eq!(headers["x-frame-options"], "DENY");
        assert!(headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'self'"));
        assert_eq!(headers["cache-control"], "no-store");
        let page = response.text().await.expect("body");
        assert!(page.contains(r#"name="token""#), "{path}: {page}");
    }
    let wrong = http
        .get(dashboard.url("/?token=not-the-right-token"))
        .send()
        .await
        .expect("GET");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().get("set-cookie").is_none());
    // the right one: a session cookie and a redirect to / that no longer carries the token
    let right = http
        .get(dashboard.url(&format!("/?token={}", dashboard.token)))
        .send()
        .await
        .expect("GET");
    assert_eq!(right.status(), StatusCode::SEE_OTHER);
    assert_eq!(right.headers()["location"], "/");
    let cookie = right.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("sfsync_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(!cookie.contains(&dashboard.token));

    world
        .map("Account", &["Name"], "read_only", json!({}))
        .await;
    let browser = dashboard.browser().await;
    let overview = dashboard.url("/");
    let page = browser
        .until_page(
            &overview,
            WAIT,
            "Account LOADING with a progress bar",
            |page| page.contains(r#"data-object="Account""#) && page.contains(r#"max="5000""#),
        )
        .await;
    assert!(page.contains("LOADING"), "{page}");
    let progress = browser.find(r#"tr[data-object="Account"] progress"#).await;
    let done: i64 = progress
        .attr("value")
        .await
        .expect("value")
        .expect("a value")
        .parse()
        .expect("a number");
    assert!((1..5000).contains(&done), "loaded {done} of 5000");
    assert!(page.contains(r#"<meta http-equiv="refresh""#));
    for chart in ["chart-written", "chart-latency", "chart-read", "chart-api"] {
        assert!(
            page.contains(&format!(r#"id="{chart}""#)),
            "{chart}: {page}"
        );
    }
    assert!(
        !page.contains(&dashboard.token),
        "the token is never on a page"
    );
    browser.screenshot("dashboard_overview_loading").await;

    // the load finishes once Salesforce is fast again: the row shows the records, no bar
    world
        .emulator
        .admin(reqwest::Method::DELETE, "faults", None)
        .await;
    world.wait_state("Account", "SYNCED").await;
    let page = browser
        .until_page(&overview, WAIT, "Account SYNCED with 5000 rows", |page| {
            page.contains("<td>5000</td>")
        })
        .await;
    assert!(!page.contains("<progress"), "{page}");
    assert!(page.contains("SYNCED"));
    // the reader's records were counted into the last hour
    assert!(page.contains("Records read from Salesforce per minute"));
    browser.screenshot("dashboard_overview").await;

    // no admin connection: the pages say the dashboard is read-only, the mapping's page offers no
    // action, and an action posted with a valid session and CSRF token changes nothing
    assert!(page.contains(r#"id="read-only""#), "{page}");
    browser.goto(&dashboard.url("/errors")).await;
    browser.find("#read-only").await;
    browser
        .goto(&dashboard.url("/mappings/salesforce/Account"))
        .await;
    browser.find("#read-only").await;
    let mapping_page = browser.source().await;
    assert!(mapping_page.contains(r#"id="fields""#), "{mapping_page}");
    for action in ["pause", "resume", "reload"] {
        assert!(
            !mapping_page.contains(&format!("/{action}\"")),
            "{action} offered: {mapping_page}"
        );
    }
    assert!(!mapping_page.contains("<button"), "{mapping_page}");
    let cookie = dashboard.http_session(&http).await;
    let csrf = dashboard.csrf(&http, &cookie).await;
    // the editor shows the object's fields but offers nothing to create with
    let editor = http
        .get(dashboard.url("/new?object=Account"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("GET /new")
        .text()
        .await
        .expect("body");
    assert!(editor.contains(r#"value="Industry""#), "{editor}");
    assert!(!editor.contains(r#"id="create""#), "{editor}");
    for (path, body) in [
        ("/mappings/salesforce/Account/pause", format!("csrf={csrf}")),
        (
            "/mappings/salesforce/Account/reload",
            format!("csrf={csrf}&confirm=yes"),
        ),
    ] {
        let response = http
            .post(dashboard.url(path))
            .header("cookie", &cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("POST");
        // refused the Post/Redirect/Get way: back to the mapping's page, whose notice says why
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        let back = response.headers()["location"].to_str().unwrap().to_string();
        assert_eq!(back, "/mappings/salesforce/Account", "{path}");
        let notice = http
            .get(dashboard.url(&back))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("GET")
            .text()
            .await
            .expect("body");
        assert!(
            notice.contains("the dashboard is read-only"),
            "{path}: {notice}"
        );
    }
    assert_eq!(dashboard.status_state("Account").await, "SYNCED");
    assert_eq!(
        world
            .text("SELECT reload_requested_at::text FROM sfsync.mapping WHERE object_name = 'Account'")
            .await,
        None,
        "no reload was requested"
    );
    browser.close().await;
}

#[tokio::test]
async fn a_refused_contact_is_fixed_retried_from_the_errors_page_and_pause_holds_changes() {
    let dashboard = Dashboard::start(World::writer(), Actions::Allowed).await;
    let world = &dashboard.world;
    world
        .map_from_describe("Contact", &["FirstName", "LastName", "Email"], json!({}))
        .await;
    let _sidecar = dashboard.sidecar();
    // no LastName, or an email Salesforce does not take: it refuses them with two codes
    world
        .sql
        .batch_execute(
            "INSERT INTO salesforce.contact (firstname, lastname, email) VALUES
                 ('Ada', NULL, 'ada@example.com'),
                 ('Bea', NULL, 'bea@example.com'),
                 ('Cy', 'Young', 'cy-at-example'),
                 ('Dee', 'Dee', 'dee-at-example'),
                 ('Eve', NULL, 'eve@example.com')",
        )
        .await
        .expect("insert");
    let mut row_ids = std::collections::HashMap::new();
    for name in ["Ada", "Bea", "Cy", "Dee", "Eve"] {
        let query = format!("SELECT _hc_lastop FROM salesforce.contact WHERE firstname = '{name}'");
        world.wait_text(&query, Some("FAILED")).await;
        let id = world
            .scalar(&format!(
                "SELECT id FROM salesforce.contact WHERE firstname = '{name}'"
            ))
            .await;
        row_ids.insert(name, id);
    }
    let row_id = row_ids["Ada"];
    let mut changes = std::collections::HashMap::new();
    for (name, id) in &row_ids {
        changes.insert(*name, dashboard.failed_change(*id).await);
    }
    let (bea, cy, dee, eve) = (
        changes["Bea"],
        changes["Cy"],
        changes["Dee"],
        changes["Eve"],
    );
    let listed = |names: &[&str]| {
        let mut ids: Vec<i64> = names.iter().map(|name| changes[name]).collect();
        ids.sort_unstable();
        ids
    };

    let browser = dashboard.browser().await;
    // filtered by another code: nothing; by Salesforce's code and the object: Ada's and Bea's
    browser
        .goto(&dashboard.url("/errors?code=NO_SUCH_CODE"))
        .await;
    browser.find("#no-failures").await;
    let missing = dashboard.url("/errors?object=contact&code=REQUIRED_FIELD_MISSING");
    browser.goto(&missing).await;
    assert_eq!(
        shown_changes(&browser).await,
        listed(&["Ada", "Bea", "Eve"])
    );

    // Ignore on Bea's row: IGNORED in the archive, gone from the page, never sent
    browser
        .click(&format!(r#"tr[data-change="{bea}"] button.ignore"#))
        .await;
    let notice = notice_shown(&browser).await;
    assert!(notice.contains("1 change(s) ignored"), "{notice}");
    browser
        .wait_url("/errors?object=contact&code=REQUIRED_FIELD_MISSING", WAIT)
        .await;
    assert_eq!(dashboard.archive_state(bea).await, "IGNORED");
    assert_eq!(shown_changes(&browser).await, listed(&["Ada", "Eve"]));

    // "Ignore all shown" filtered by the email code: Cy and Dee, not Ada nor Eve
    browser
        .goto(&dashboard.url("/errors?code=INVALID_EMAIL_ADDRESS"))
        .await;
    assert_eq!(shown_changes(&browser).await, listed(&["Cy", "Dee"]));
    browser.click("#bulk-actions button.ignore-all").await;
    let notice = notice_shown(&browser).await;
    assert!(notice.contains("2 change(s) ignored"), "{notice}");
    browser.find("#no-failures").await;
    for change in [cy, dee] {
        assert_eq!(dashboard.archive_state(change).await, "IGNORED");
    }
    assert_eq!(dashboard.archive_state(eve).await, "FAILED");

    browser.goto(&missing).await;
    assert_eq!(shown_changes(&browser).await, listed(&["Ada", "Eve"]));
    let row = browser
        .find(&format!(
            r#"#failures tbody tr[data-change="{}"]"#,
            changes["Ada"]
        ))
        .await;
    let change_id = row
        .attr("data-change")
        .await
        .expect("attr")
        .expect("data-change");
    let text = row.text().await.expect("row text");
    assert!(text.contains("REQUIRED_FIELD_MISSING"), "{text}");
    assert!(text.contains("Contact"), "{text}");
    assert!(text.contains(&row_id.to_string()), "{text}");
    assert!(
        text.contains("LastName"),
        "the fields Salesforce named: {text}"
    );
    browser.screenshot("dashboard_errors").await;

    world
        .sql
        .batch_execute(
            "UPDATE salesforce.contact SET lastname = 'Lovelace' WHERE email = 'ada@example.com'",
        )
        .await
        .expect("fix the row");
    browser
        .click(&format!(r#"tr[data-change="{change_id}"] button.retry"#))
        .await;
    let notice = notice_shown(&browser).await;
    assert!(notice.contains("1 change(s) queued again"), "{notice}");
    written_once(world, "ada@example.com", "Lovelace").await;

    // "Retry all shown" on the object's view: only Eve, fixed meanwhile, is still FAILED there
    world
        .sql
        .batch_execute("UPDATE salesforce.contact SET lastname = 'Smith' WHERE firstname = 'Eve'")
        .await
        .expect("fix the row");
    browser.goto(&dashboard.url("/errors?object=Contact")).await;
    assert_eq!(shown_changes(&browser).await, listed(&["Eve"]));
    browser.click("#bulk-actions button.retry-all").await;
    let notice = notice_shown(&browser).await;
    assert!(notice.contains("1 change(s) queued again"), "{notice}");
    written_once(world, "eve@example.com", "Smith").await;
    browser.goto(&dashboard.url("/errors?object=Contact")).await;
    browser.find("#no-failures").await;
    // the ignored ones were never sent
    for email in ["bea@example.com", "cy-at-example", "dee-at-example"] {
        assert!(
            world
                .emulator
                .query(&format!("SELECT Id FROM Contact WHERE Email = '{email}'"))
                .await
                .is_empty(),
            "{email} sent"
        );
    }
    for change in [bea, cy, dee] {
        assert_eq!(dashboard.archive_state(change).await, "IGNORED");
    }

    // the mapping's page: fields, options; Reload asks first
    let mapping = dashboard.url("/mappings/salesforce/Contact");
    browser.goto(&mapping).await;
    let fields = browser.text("#fields").await;
    assert!(
        fields.contains("LastName") && fields.contains("Email"),
        "{fields}"
    );
    browser.click("button.reload").await;
    browser.wait_for("#confirm-reload", WAIT).await;
    let confirm = browser.text("main").await;
    assert!(confirm.contains("Reload Contact?"), "{confirm}");
    assert_eq!(dashboard.status_state("Contact").await, "SYNCED");
    let requested_at =
        "SELECT reload_requested_at::text FROM sfsync.mapping WHERE object_name = 'Contact'";
    assert_eq!(
        world.text(requested_at).await,
        None,
        "asking is not reloading"
    );
    // confirming requests it; the sidecar reloads and clears the request
    browser.click("#confirm-reload button").await;
    browser.wait_url("/mappings/salesforce/Contact", WAIT).await;
    let notice = browser.text("#notice").await;
    assert!(notice.contains("Contact reloads"), "{notice}");
    assert!(
        world.text(requested_at).await.is_some(),
        "the reload was requested"
    );
    world
        .wait_text(
            "SELECT reload_requested::text FROM sfsync.mapping WHERE object_name = 'Contact'",
            Some("false"),
        )
        .await;
    world.wait_state("Contact", "SYNCED").await;

    // Pause: the state says so and a change made meanwhile stays queued
    browser.goto(&mapping).await;
    browser.click("#actions button.pause").await;
    browser
        .wait_text("#state", WAIT, |state| state == "PAUSED")
        .await;
    assert_eq!(dashboard.status_state("Contact").await, "PAUSED");
    world
        .sql
        .batch_execute("INSERT INTO salesforce.contact (firstname, lastname, email) VALUES ('Grace', 'Hopper', 'grace@example.com')")
        .await
        .expect("insert while paused");
    // the writer polls every 50 ms: a few seconds without it sending anything is a fair sign
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(world.queued().await, 1, "the change waits while paused");
    assert!(world
        .emulator
        .query("SELECT Id FROM Contact WHERE Email = 'grace@example.com'")
        .await
        .is_empty());
    browser.screenshot("dashboard_mapping_paused").await;
    browser.click("button.resume").await;
    browser
        .wait_text("#state", WAIT, |state| state != "PAUSED")
        .await;
    assert_ne!(dashboard.status_state("Contact").await, "PAUSED");
    world
        .drained("the change made while paused to be written")
        .await;
    let sent = world
        .emulator
        .query("SELECT Id, LastName FROM Contact WHERE Email = 'grace@example.com'")
        .await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    browser.close().await;
}

#[tokio::test]
async fn a_mapping_created_in_the_editor_syncs_and_posts_without_the_csrf_token_are_refused() {
    let dashboard = Dashboard::start(World::reader(), Actions::Allowed).await;
    let world = &dashboard.world;
    world
        .create(
            "Account",
            json!([{"Name": "Acme 1", "Industry": "Energy"}, {"Name": "Acme 2"}, {"Name": "Other"}]),
        )
        .await;
    let _sidecar = dashboard.sidecar();
    let browser = dashboard.browser().await;

    browser.goto(&dashboard.url("/new")).await;
    let source = browser.source().await;
    assert!(
        source.contains(r#"<option value="Account">"#),
        "describeGlobal suggestions: {source}"
    );
    browser
        .find(r#"#choose-object input[name="object"]"#)
        .await
        .send_keys("Account")
        .await
        .expect("type the object");
    browser.click("#choose-object button").await;
    browser.wait_url("/new?object=Account", WAIT).await;
    browser
        .wait_for(r#"input[name="fields"][value="Name"]"#, WAIT)
        .await;
    let label = browser.text(r#"#create-mapping fieldset.fields"#).await;
    assert!(label.contains("Industry"), "{label}");
    // the filter and poll interval typed, no field ticked: create_mapping refuses, the form keeps them
    browser
        .find(r#"input[name="filter"]"#)
        .await
        .send_keys("Name LIKE 'Acme%'")
        .await
        .expect("filter");
    browser
        .find(r#"input[name="poll_seconds"]"#)
        .await
        .send_keys("1")
        .await
        .expect("poll seconds");
    browser.click("#create").await;
    let error = browser
        .wait_for("#form-error", WAIT)
        .await
        .text()
        .await
        .expect("error");
    assert!(error.contains("at least one Salesforce field"), "{error}");
    let filter = browser
        .find(r#"input[name="filter"]"#)
        .await
        .prop("value")
        .await
        .expect("prop")
        .unwrap_or_default();
    assert_eq!(filter, "Name LIKE 'Acme%'");
    browser.click(r#"input[name="fields"][value="Name"]"#).await;
    browser
        .click(r#"input[name="fields"][value="Industry"]"#)
        .await;
    browser.screenshot("dashboard_new_mapping").await;
    browser.click("#create").await;
    browser.wait_url("/mappings/salesforce/Account", WAIT).await;
    assert!(browser.text("#notice").await.contains("created"));

    world.wait_state("Account", "SYNCED").await;
    assert_eq!(
        world.count("salesforce.account", "true").await,
        2,
        "the filter applies"
    );
    world
        .create("Account", json!([{"Name": "Acme 3", "Industry": "Retail"}]))
        .await;
    world
        .wait_count(
            "salesforce.account",
            "name = 'Acme 3' AND industry = 'Retail'",
            1,
        )
        .await;

    // a POST with the cookie but without (or with a wrong) CSRF token is refused and changes nothing
    let http = http_client();
    let cookie = dashboard.http_session(&http).await;
    for body in ["", "csrf=forged"] {
        let response = http
            .post(dashboard.url("/mappings/salesforce/Account/pause"))
            .header("cookie", &cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("POST");
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{body:?}");
    }
    let anonymous = http
        .post(dashboard.url("/errors/retry"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("ids=1")
        .send()
        .await
        .expect("POST");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(dashboard.status_state("Account").await, "SYNCED");
    browser.close().await;
}
