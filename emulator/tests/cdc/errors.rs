//! Error paths: missing and invalid tokens, unknown clients (dropped or expired) and their recovery, subscribe
//! errors, CDC selection, the session cookie, unsupported versions, and gap events.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::bayeux_client::{change_type, header, record_ids, replay_id, Comet};
use crate::common::Emulator;
use crate::support::create_as;

#[tokio::test]
async fn authentication_errors_are_the_documented_ones() {
    let emulator = Emulator::start(&["--cometd-timeout-seconds", "30"]);
    let api = emulator.login().await;

    let mut anonymous = Comet::new(&emulator.base, None);
    let denied = anonymous.handshake().await;
    assert_eq!(
        denied,
        json!({"ext":{"sfdc":{"failureReason":"401::Request requires authentication"}},"advice":{"reconnect":"none"},
               "channel":"/meta/handshake","id":"1","error":"403::Handshake denied","successful":false})
    );
    let mut forged = Comet::new(&emulator.base, Some("00D000000000001!ARbogus"));
    let denied = forged.handshake().await;
    assert_eq!(denied["error"], "403::Handshake denied");
    assert_eq!(
        denied["ext"]["sfdc"]["failureReason"],
        "401::Authentication invalid"
    );
    assert_eq!(denied["advice"], json!({"reconnect": "none"}));

    let mut comet = Comet::new(&emulator.base, Some(&api.token));
    comet.start("/data/AccountChangeEvent", json!(-1)).await;
    comet.connect().await;
    let client_id = comet.client_id.clone().expect("client id");

    // The same session without its token.
    comet.token = None;
    let (_, no_token) = comet.connect().await;
    assert_eq!(no_token["error"], "401::Request requires authentication");
    assert_eq!(
        no_token["advice"],
        json!({"reconnect": "none", "interval": 0})
    );
    comet.token = Some(api.token.clone());

    // A connect waiting when the session is revoked is told within a few seconds.
    let expire = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let expired = emulator
            .admin(Method::POST, "/__emulator/expire-sessions", None)
            .await;
        assert_eq!(expired.status, StatusCode::OK);
    };
    let (outcome, ()) = tokio::join!(
        tokio::time::timeout(Duration::from_secs(20), comet.connect()),
        expire
    );
    let (events, waiting) = outcome.expect("the waiting connect was told");
    assert!(events.is_empty());
    assert_eq!(
        waiting.to_string(),
        json!({"clientId": client_id, "advice": {"reconnect": "none", "interval": 0}, "channel": "/meta/connect",
               "id": "5", "error": "401::Authentication invalid", "successful": false})
        .to_string()
    );
    let (_, again) = comet.connect().await;
    assert_eq!(again["error"], "401::Authentication invalid");
    let rehandshake = comet.handshake().await;
    assert_eq!(
        rehandshake,
        json!({"ext":{"sfdc":{"failureReason":"401::Authentication invalid"}},"advice":{"reconnect":"none"},
               "channel":"/meta/handshake","id":"7","error":"403::Handshake denied","successful":false})
    );
}

#[tokio::test]
async fn dropped_clients_re_handshake_and_resubscribe_without_loss() {
    let emulator = Emulator::start(&["--cometd-timeout-seconds", "30"]);
    let api = emulator.login().await;
    let mut comet = Comet::new(&emulator.base, Some(&api.token));
    comet.start("/data/AccountChangeEvent", json!(-1)).await;
    comet.connect().await;
    let before = create_as(&api, "app", "Account", json!({"Name": "Before"})).await;
    let events = comet.events(1, Duration::from_secs(30)).await;
    assert_eq!(record_ids(&events[0]), [before]);
    let last_seen = replay_id(&events[0]);
    let old_client = comet.client_id.clone();

    let drop_them = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let dropped = emulator
            .admin(Method::POST, "/__emulator/cometd/drop-clients", None)
            .await;
        assert_eq!(dropped.json["dropped"], 1);
    };
    let ((events, reply), ()) = tokio::join!(comet.connect(), drop_them);
    assert!(events.is_empty());
    assert_eq!(reply["error"], "403::Unknown client");
    assert_eq!(
        reply["advice"],
        json!({"interval": 0, "reconnect": "handshake"})
    );
    assert_eq!(reply["successful"], false);

    let during = create_as(&api, "app", "Account", json!({"Name": "During"})).await;
    let (_, still_unknown) = comet.connect().await;
    assert_eq!(still_unknown["error"], "403::Unknown client");
    let resubscribe_unknown = comet
        .subscribe("/data/AccountChangeEvent", Some(json!(last_seen)))
        .await;
    assert_eq!(resubscribe_unknown["error"], "403::Unknown client");

    // Recovery: a new handshake, then subscribe again from the last replay id.
    comet
        .start("/data/AccountChangeEvent", json!(last_seen))
        .await;
    assert_ne!(comet.client_id, old_client);
    let events = comet.events(1, Duration::from_secs(30)).await;
    assert_eq!(record_ids(&events[0]), [during]);
    assert_eq!(events.len(), 1);
}

#[tokio::test]
async fn clients_that_stop_reconnecting_expire() {
    let emulator = Emulator::start(&[
        "--cometd-timeout-seconds",
        "2",
        "--cometd-client-expiry-seconds",
        "1",
    ]);
    let api = emulator.login().await;
    let mut comet = Comet::new(&emulator.base, Some(&api.token));
    comet.start("/data/AccountChangeEvent", json!(-1)).await;
    comet.connect().await;
    // A long poll longer than the expiry keeps the client alive: it is connected all along.
    let (events, waited) = comet.connect().await;
    assert!(events.is_empty());
    assert_eq!(waited["successful"], true, "{waited}");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (_, expired) = comet.connect().await;
    assert_eq!(expired["error"], "403::Unknown client");
    assert_eq!(expired["advice"]["reconnect"], "handshake");
}

#[tokio::test]
async fn subscribe_errors_and_cdc_selection() {
    let emulator = Emulator::start(&["--cometd-timeout-seconds", "5"]);
    let api = emulator.login().await;
    let mut comet = Comet::new(&emulator.base, Some(&api.token));
    assert_eq!(comet.handshake().await["successful"], true);
    for (channel, error) in [
        (
            "/data/NopeChangeEvent",
            "400::The channel you requested to subscribe to does not exist /data/NopeChangeEvent",
        ),
        (
            "/data/accountChangeEvent",
            "400::The channel you requested to subscribe to does not exist /data/accountChangeEvent",
        ),
        (
            "/topic/AllAccounts",
            "400::The channel you requested to subscribe to does not exist /topic/AllAccounts",
        ),
        (
            "data/AccountChangeEvent",
            "400::Channel subscriptions must start with a leading '/'",
        ),
    ] {
        let reply = comet.subscribe(channel, Some(json!(-1))).await;
        assert_eq!(reply["successful"], false);
        assert_eq!(reply["error"], error, "{reply}");
    }
    let id = comet.next_id();
    let (_, no_channel) = comet
        .send(json!([{"channel": "/meta/subscribe", "clientId": comet.client_id, "id": id}]))
        .await;
    assert_eq!(no_channel[0]["error"], "400::Channel name not specified");

    let selected = emulator
        .admin(
            Method::PUT,
            "/__emulator/cdc",
            Some(json!({"objects": ["Contact"]})),
        )
        .await;
    assert_eq!(selected.status, StatusCode::OK);
    let unselected = comet
        .subscribe("/data/AccountChangeEvent", Some(json!(-1)))
        .await;
    assert_eq!(
        unselected["error"],
        "400::The channel you requested to subscribe to does not exist /data/AccountChangeEvent"
    );
    assert_eq!(
        comet.subscribe("/data/ChangeEvents", Some(json!(-1))).await["successful"],
        true
    );
    comet.connect().await;
    create_as(&api, "app", "Account", json!({"Name": "Not selected"})).await;
    let contact = create_as(&api, "app", "Contact", json!({"LastName": "Selected"})).await;
    let events = comet.events(1, Duration::from_secs(30)).await;
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(record_ids(&events[0]), [contact]);

    // The handshake cookie must come back.
    let cookies = std::mem::take(&mut comet.cookies);
    let (_, no_cookie) = comet.connect().await;
    assert_eq!(
        no_cookie["error"],
        format!(
            "400::Client {} has established a session, but no BAYEUX_BROWSER cookie present",
            comet.client_id.clone().unwrap_or_default()
        )
    );
    comet.cookies = vec![("BAYEUX_BROWSER".into(), "someone-else".into())];
    let (_, wrong_cookie) = comet.connect().await;
    assert_eq!(wrong_cookie["error"], "403::Unknown client");
    comet.cookies = cookies;
    let (_, fine) = comet.connect().await;
    assert_eq!(fine["successful"], true, "{fine}");

    let mut old = Comet::new(&emulator.base, Some(&api.token));
    old.url = format!("{}/cometd/36.0", emulator.base);
    let (status, replies) = old
        .send(json!([{"channel": "/meta/handshake", "version": "1.0", "id": "1"}]))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        replies[0]["error"],
        "400::Unsupported API version. Only API versions '37.0' and later are supported. URI format: '/cometd/64.0'"
    );
}

#[tokio::test]
async fn gap_and_overflow_events() {
    let emulator = Emulator::start(&["--cometd-timeout-seconds", "5"]);
    let api = emulator.login().await;
    let mut comet = Comet::new(&emulator.base, Some(&api.token));
    comet.start("/data/AccountChangeEvent", json!(-1)).await;
    comet.connect().await;
    let account = create_as(&api, "app", "Account", json!({"Name": "Gappy"})).await;
    let gap =
        |body: serde_json::Value| emulator.admin(Method::POST, "/__emulator/cdc/gap", Some(body));
    let update_gap =
        gap(json!({"object": "Account", "type": "GAP_UPDATE", "recordIds": [account]})).await;
    assert_eq!(update_gap.status, StatusCode::OK, "{:?}", update_gap.json);
    assert_eq!(update_gap.json["channel"], "/data/AccountChangeEvent");
    let overflow = gap(json!({"object": "account", "type": "GAP_OVERFLOW"})).await;
    assert_eq!(overflow.status, StatusCode::OK, "{:?}", overflow.json);
    let contact_gap = gap(
        json!({"object": "Contact", "type": "GAP_DELETE", "recordIds": ["003000000000001AAA"]}),
    )
    .await;
    assert_eq!(contact_gap.status, StatusCode::OK, "{:?}", contact_gap.json);
    let after = create_as(&api, "app", "Account", json!({"Name": "After"})).await;

    let events = comet.events(4, Duration::from_secs(30)).await;
    let kinds: Vec<&str> = events.iter().map(change_type).collect();
    assert_eq!(kinds, ["CREATE", "GAP_UPDATE", "GAP_OVERFLOW", "CREATE"]);
    assert_eq!(record_ids(&events[1]), std::slice::from_ref(&account));
    assert_eq!(record_ids(&events[2]), ["000000000000000AAA"]);
    assert_eq!(record_ids(&events[3]), [after]);
    for gap_event in &events[1..3] {
        let payload = gap_event["data"]["payload"].as_object().expect("payload");
        assert_eq!(
            payload.len(),
            1,
            "gap events carry no field values: {payload:?}"
        );
        assert_eq!(header(gap_event)["changedFields"], json!([]));
        assert_eq!(header(gap_event)["changeOrigin"], "");
        assert_eq!(header(gap_event)["entityName"], "Account");
    }
    assert_eq!(
        replay_id(&events[1]),
        update_gap.json["replayId"].as_u64().expect("replay id")
    );
    let replays: Vec<u64> = events.iter().map(replay_id).collect();
    assert!(replays.windows(2).all(|w| w[0] < w[1]));

    // Gap events are replayable like any other event.
    let mut replayer = Comet::new(&emulator.base, Some(&api.token));
    replayer
        .start("/data/ChangeEvents", json!(replay_id(&events[0])))
        .await;
    let replayed = replayer.events(4, Duration::from_secs(30)).await;
    let kinds: Vec<&str> = replayed.iter().map(change_type).collect();
    assert_eq!(
        kinds,
        ["GAP_UPDATE", "GAP_OVERFLOW", "GAP_DELETE", "CREATE"]
    );

    for (body, status) in [
        (
            json!({"object": "Account", "type": "GAP_SIDEWAYS", "recordIds": [account]}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"object": "Account", "type": "GAP_UPDATE"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"object": "Nope__c", "type": "GAP_UPDATE", "recordIds": [account]}),
            StatusCode::NOT_FOUND,
        ),
        (
            json!({"object": "Contact", "type": "GAP_UPDATE", "recordIds": [account]}),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let refused = gap(body.clone()).await;
        assert_eq!(refused.status, status, "{body}: {:?}", refused.json);
        assert!(refused.json["error"].is_string());
    }
}
