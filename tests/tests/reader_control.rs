//! The reader's control loop across processes: pause, resume and drop take effect within seconds;
//! two sidecars never read the same mapping at once; when the reading sidecar dies, the other one
//! takes over.

use serde_json::json;
use sfsync_tests::{free_port, metric, metrics, World};
use std::time::Duration;

/// `sfsync_reader_mappings_owned` from a sidecar's /metrics, or None while it is not serving.
async fn owned(port: u16) -> Option<i64> {
    metric(&metrics(port).await, "sfsync_reader_mappings_owned").map(|value| value as i64)
}

#[tokio::test]
async fn pause_resume_and_drop_take_effect_within_seconds() {
    let world = World::reader().start().await;
    let ids = world.create("Account", json!([{"Name": "A"}])).await;
    let _sidecar = world
        .synced(
            "Account",
            &["Name"],
            "read_only",
            json!({"poll_seconds": 1}),
        )
        .await;
    world.wait_count("salesforce.account", "true", 1).await;
    let name = format!(
        "SELECT name FROM salesforce.account WHERE sfid = '{}'",
        ids[0]
    );

    world
        .sql
        .execute("SELECT sfsync.pause('Account')", &[])
        .await
        .expect("pause");
    world
        .until("the reading lease is given up", || async {
            world
                .text("SELECT coalesce(reader_owner, '') FROM sfsync.mapping")
                .await
                .as_deref()
                == Some("")
        })
        .await;
    world
        .update("Account", json!([{"Id": ids[0], "Name": "While paused"}]))
        .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        world.text(&name).await.as_deref(),
        Some("A"),
        "nothing is read while paused"
    );
    assert_eq!(world.state("Account").await.0, "PAUSED");

    world
        .sql
        .execute("SELECT sfsync.resume('Account')", &[])
        .await
        .expect("resume");
    world.wait_text(&name, Some("While paused")).await;
    world.wait_state("Account", "SYNCED").await;

    world
        .sql
        .execute("SELECT sfsync.drop_mapping('Account')", &[])
        .await
        .expect("drop");
    tokio::time::sleep(Duration::from_secs(3)).await;
    world
        .update("Account", json!([{"Id": ids[0], "Name": "After the drop"}]))
        .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        world.text(&name).await.as_deref(),
        Some("While paused"),
        "a dropped mapping is not read"
    );
}

#[tokio::test]
async fn two_sidecars_share_mappings_without_double_reading_and_take_over() {
    let world = World::reader().start().await;
    let ids = world.create("Account", json!([{"Name": "A"}])).await;
    world.create("Contact", json!([{"LastName": "C"}])).await;
    let ports = [free_port(), free_port()];
    let mut sidecars: Vec<_> = ports
        .iter()
        .map(|port| {
            let mut env = world.env.clone();
            env.push(("SFSYNC_HTTP_LISTEN".into(), format!("127.0.0.1:{port}")));
            sfsync_tests::Sidecar::start(&env)
        })
        .collect();
    world
        .map(
            "Account",
            &["Name"],
            "read_only",
            json!({"poll_seconds": 1}),
        )
        .await;
    world
        .map(
            "Contact",
            &["LastName"],
            "read_only",
            json!({"poll_seconds": 1}),
        )
        .await;
    world.wait_state("Account", "SYNCED").await;
    world.wait_state("Contact", "SYNCED").await;

    // every mapping has exactly one reader, for as long as we watch
    for _ in 0..10 {
        let (a, b) = (owned(ports[0]).await, owned(ports[1]).await);
        assert_eq!(
            a.unwrap_or(0) + b.unwrap_or(0),
            2,
            "two mappings, one reader each: {a:?} + {b:?}"
        );
        let owners = world.text("SELECT count(DISTINCT reader_owner)::text FROM sfsync.mapping WHERE reader_owner IS NOT NULL").await;
        assert!(matches!(owners.as_deref(), Some("1") | Some("2")));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // kill the sidecar that reads Account; the other one takes over
    let owner = world
        .text("SELECT reader_owner FROM sfsync.mapping WHERE object_name = 'Account'")
        .await
        .expect("owner");
    let owner_pid: u32 = owner
        .split(':')
        .nth(1)
        .and_then(|pid| pid.parse().ok())
        .expect("pid in owner name");
    let victim = sidecars
        .iter()
        .position(|s| s.pid() == Some(owner_pid))
        .expect("owner is one of ours");
    sidecars[victim].kill9();
    let survivor_pid = sidecars[1 - victim].pid().expect("survivor pid");
    world
        .until("the surviving sidecar reads Account", || async {
            world
                .text("SELECT reader_owner FROM sfsync.mapping WHERE object_name = 'Account'")
                .await
                .is_some_and(|owner| {
                    owner.split(':').nth(1) == Some(survivor_pid.to_string().as_str())
                })
        })
        .await;
    world
        .update(
            "Account",
            json!([{"Id": ids[0], "Name": "Read by the survivor"}]),
        )
        .await;
    world
        .wait_text(
            &format!(
                "SELECT name FROM salesforce.account WHERE sfid = '{}'",
                ids[0]
            ),
            Some("Read by the survivor"),
        )
        .await;
    assert_eq!(owned(ports[1 - victim]).await, Some(2));
}
