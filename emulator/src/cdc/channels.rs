//! CDC channel names (`/data/ChangeEvents`, `/data/<Object>ChangeEvent`, `/data/<Name>__ChangeEvent`) and the set
//! of objects selected for Change Data Capture (`--cdc-objects`, `PUT /__emulator/cdc`).

use std::collections::HashSet;
use std::sync::Arc;

use crate::app::AppState;
use crate::store::Org;

/// Every change event of every selected object.
pub const ALL_CHANGE_EVENTS: &str = "/data/ChangeEvents";

/// What a channel streams.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChannelTarget {
    /// `/data/ChangeEvents`.
    AllSelected,
    /// One object's channel; holds the object's API name as the schema spells it.
    Object(Arc<str>),
}

/// The objects with CDC on, as of now. Names compare case-insensitively.
#[derive(Clone, Debug)]
pub enum Selection {
    All,
    Some(HashSet<String>),
}

impl Selection {
    /// The org's current selection.
    pub fn current(app: &AppState) -> Selection {
        match &*app.cdc_objects.lock() {
            None => Selection::All,
            Some(names) => Selection::Some(names.iter().map(|n| n.to_ascii_lowercase()).collect()),
        }
    }

    pub fn contains(&self, object: &str) -> bool {
        match self {
            Selection::All => true,
            Selection::Some(names) => names.contains(&object.to_ascii_lowercase()),
        }
    }
}

/// The channel of one object: `Account` → `/data/AccountChangeEvent`, `Foo__c` → `/data/Foo__ChangeEvent`.
pub fn object_channel(object: &str) -> String {
    match object.strip_suffix("__c") {
        Some(stem) => format!("/data/{stem}__ChangeEvent"),
        None => format!("/data/{object}ChangeEvent"),
    }
}

/// Resolves a channel name (case-sensitive, as Salesforce's are) to what it streams. `None` when no such channel
/// exists, including channels of objects that are not selected for CDC.
pub fn resolve(channel: &str, org: &Org, selection: &Selection) -> Option<ChannelTarget> {
    if channel == ALL_CHANGE_EVENTS {
        return Some(ChannelTarget::AllSelected);
    }
    let name = channel.strip_prefix("/data/")?;
    let object = if let Some(stem) = name.strip_suffix("__ChangeEvent") {
        format!("{stem}__c")
    } else {
        let standard = name.strip_suffix("ChangeEvent")?;
        if standard.contains("__") {
            return None;
        }
        standard.to_string()
    };
    if object.is_empty() || object.contains('/') {
        return None;
    }
    let store = org.object(&object)?;
    // Channel names are case-sensitive: `/data/accountChangeEvent` is not Account's channel.
    if *store.schema.name != *object || !selection.contains(&object) {
        return None;
    }
    Some(ChannelTarget::Object(store.schema.name.clone()))
}

impl ChannelTarget {
    /// Whether an event of `entity` belongs on this channel (given the current selection).
    pub fn accepts(&self, entity: &str, selection: &Selection) -> bool {
        let on_channel = match self {
            ChannelTarget::AllSelected => true,
            ChannelTarget::Object(object) => object.eq_ignore_ascii_case(entity),
        };
        on_channel && selection.contains(entity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org() -> Org {
        let mut org = Org::new("admin@x").expect("org");
        let spec = serde_json::from_value(serde_json::json!({
            "name": "Foo__c", "fields": [{"name": "Size__c", "type": "int"}]
        }))
        .expect("spec");
        org.define_object(spec).expect("define");
        org
    }

    #[test]
    fn channel_names_follow_the_object_kind() {
        assert_eq!(object_channel("Account"), "/data/AccountChangeEvent");
        assert_eq!(object_channel("Foo__c"), "/data/Foo__ChangeEvent");
    }

    #[test]
    fn resolves_standard_custom_and_all() {
        let org = org();
        let all = Selection::All;
        assert_eq!(
            resolve("/data/ChangeEvents", &org, &all),
            Some(ChannelTarget::AllSelected)
        );
        assert_eq!(
            resolve("/data/AccountChangeEvent", &org, &all),
            Some(ChannelTarget::Object("Account".into()))
        );
        assert_eq!(
            resolve("/data/Foo__ChangeEvent", &org, &all),
            Some(ChannelTarget::Object("Foo__c".into()))
        );
        for unknown in [
            "/data/accountChangeEvent",
            "/data/Foo__cChangeEvent",
            "/data/NopeChangeEvent",
            "/data/Bar__ChangeEvent",
            "/topic/AccountChangeEvent",
            "/data/ChangeEvent",
            "/data/Sales__chn",
        ] {
            assert_eq!(resolve(unknown, &org, &all), None, "{unknown}");
        }
    }

    #[test]
    fn unselected_objects_have_no_channel() {
        let org = org();
        let selection = Selection::Some(["contact".to_string()].into_iter().collect());
        assert_eq!(resolve("/data/AccountChangeEvent", &org, &selection), None);
        assert!(resolve("/data/ContactChangeEvent", &org, &selection).is_some());
        let all = ChannelTarget::AllSelected;
        assert!(all.accepts("Contact", &selection));
        assert!(!all.accepts("Account", &selection));
    }
}
