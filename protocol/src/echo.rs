//! The echo identity: how the sync recognises its own writes coming back from Salesforce.
//!
//! Every call the writer makes carries `Sforce-Call-Options: client=sfsync-<instance id>`
//! (`sfsync._instance_id()`, one per database); Salesforce reports that client in a CDC event's
//! `changeOrigin`, so a reader skips events of changes this database made itself.

/// The client name of this database's sync: `sfsync-<instance>`.
pub fn echo_client(instance: &str) -> String {
    format!("sfsync-{instance}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_client_name_carries_the_instance_id() {
        assert_eq!(super::echo_client("abc"), "sfsync-abc");
    }
}
