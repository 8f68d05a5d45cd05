//! Change Data Capture over CometD against a real `sfsync-emulator` process per test: documented message shapes,
//! every write path reaching one session in commit order, replay, recovery, fan-out, retention, gap events and
//! the authentication errors.

mod bayeux_client;
#[allow(dead_code)]
#[path = "../api/common.rs"]
mod common;
mod delivery;
mod errors;
mod fanout;
mod golden;
mod replay;
mod support;
