//! Bayeux messages and the Change Data Capture event they carry.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Any Bayeux message (meta replies and data deliveries share this shape).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BayeuxMessage {
    pub channel: String,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub successful: Option<bool>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub advice: Option<Advice>,
    #[serde(default)]
    pub subscription: Option<String>,
    #[serde(default)]
    pub data: Option<Value>,
    #[serde(default)]
    pub ext: Option<Value>,
}

impl BayeuxMessage {
    pub fn is_meta(&self) -> bool {
        self.channel.starts_with("/meta/")
    }

    /// `ext.sfdc.failureReason` (e.g. `401::Authentication invalid` on a denied handshake).
    pub fn failure_reason(&self) -> Option<&str> {
        self.ext
            .as_ref()?
            .get("sfdc")?
            .get("failureReason")?
            .as_str()
    }

    /// The error text and the failure reason together, for classification.
    pub fn error_text(&self) -> String {
        match (self.error.as_deref(), self.failure_reason()) {
            (Some(error), Some(reason)) => format!("{error} ({reason})"),
            (Some(error), None) => error.to_string(),
            (None, Some(reason)) => reason.to_string(),
            (None, None) => "unsuccessful without an error message".to_string(),
        }
    }
}

/// Server advice: how and when to reconnect.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct Advice {
    /// `retry`, `handshake` or `none`.
    #[serde(default)]
    pub reconnect: Option<String>,
    /// Milliseconds to wait before the next connect.
    #[serde(default)]
    pub interval: Option<u64>,
    /// Milliseconds the server may hold a connect open.
    #[serde(default)]
    pub timeout: Option<u64>,
}

/// Parses a response body: Bayeux answers with an array, tolerate a lone object.
pub fn parse_messages(body: &[u8]) -> Result<Vec<BayeuxMessage>, serde_json::Error> {
    serde_json::from_slice::<Vec<BayeuxMessage>>(body)
        .or_else(|_| serde_json::from_slice::<BayeuxMessage>(body).map(|message| vec![message]))
}

/// `CREATE | UPDATE | DELETE | UNDELETE` and the gap events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum ChangeType {
    Create,
    Update,
    Delete,
    Undelete,
    GapCreate,
    GapUpdate,
    GapDelete,
    GapUndelete,
    /// Too many changes in one transaction: resync the object.
    GapOverflow,
    Other(String),
}

impl From<String> for ChangeType {
    fn from(text: String) -> Self {
        match text.as_str() {
            "CREATE" => ChangeType::Create,
            "UPDATE" => ChangeType::Update,
            "DELETE" => ChangeType::Delete,
            "UNDELETE" => ChangeType::Undelete,
            "GAP_CREATE" => ChangeType::GapCreate,
            "GAP_UPDATE" => ChangeType::GapUpdate,
            "GAP_DELETE" => ChangeType::GapDelete,
            "GAP_UNDELETE" => ChangeType::GapUndelete,
            "GAP_OVERFLOW" => ChangeType::GapOverflow,
            _ => ChangeType::Other(text),
        }
    }
}

impl From<ChangeType> for String {
    fn from(change: ChangeType) -> Self {
        match change {
            ChangeType::Create => "CREATE".into(),
            ChangeType::Update => "UPDATE".into(),
            ChangeType::Delete => "DELETE".into(),
            ChangeType::Undelete => "UNDELETE".into(),
            ChangeType::GapCreate => "GAP_CREATE".into(),
            ChangeType::GapUpdate => "GAP_UPDATE".into(),
            ChangeType::GapDelete => "GAP_DELETE".into(),
            ChangeType::GapUndelete => "GAP_UNDELETE".into(),
            ChangeType::GapOverflow => "GAP_OVERFLOW".into(),
            ChangeType::Other(text) => text,
        }
    }
}

impl ChangeType {
    /// Gap events carry no values: the records must be re-read.
    pub fn is_gap(&self) -> bool {
        matches!(
            self,
            ChangeType::GapCreate
                | ChangeType::GapUpdate
                | ChangeType::GapDelete
                | ChangeType::GapUndelete
                | ChangeType::GapOverflow
        )
    }
}

/// `payload.ChangeEventHeader` (Change Data Capture Developer Guide: ChangeEventHeader fields).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeEventHeader {
    pub entity_name: String,
    #[serde(default)]
    pub record_ids: Vec<String>,
    pub change_type: ChangeType,
    #[serde(default)]
    pub changed_fields: Vec<String>,
    #[serde(default)]
    pub nulled_fields: Vec<String>,
    #[serde(default)]
    pub diff_fields: Vec<String>,
    #[serde(default)]
    pub change_origin: Option<String>,
    #[serde(default)]
    pub transaction_key: Option<String>,
    #[serde(default)]
    pub sequence_number: Option<i64>,
    /// Epoch milliseconds.
    #[serde(default)]
    pub commit_timestamp: Option<i64>,
    #[serde(default)]
    pub commit_number: Option<i64>,
    #[serde(default)]
    pub commit_user: Option<String>,
}

impl ChangeEventHeader {
    /// The `client=` part of `changeOrigin` (what `Sforce-Call-Options: client=...` set), which is
    /// how the reader recognises its own writes.
    pub fn origin_client(&self) -> Option<&str> {
        let origin = self.change_origin.as_deref()?;
        origin
            .split(';')
            .find_map(|part| part.trim().strip_prefix("client="))
            .map(|client| client.trim_end_matches('/'))
            .filter(|client| !client.is_empty())
    }
}

/// One delivered event.
#[derive(Debug, Clone)]
pub struct StreamEvent {
    pub channel: String,
    /// `data.event.replayId`: store it to resume after a restart.
    pub replay_id: i64,
    /// `data.payload` (CDC) or `data.sobject` (PushTopic); record values keep their exact text.
    pub payload: Map<String, Value>,
    /// Present for Change Data Capture events.
    pub header: Option<ChangeEventHeader>,
    /// The whole `data` object.
    pub data: Value,
}

impl StreamEvent {
    /// Builds an event from a data message; `None` when it has no replay id (not a stored event).
    pub fn from_message(message: &BayeuxMessage) -> Option<Result<Self, serde_json::Error>> {
        let data = message.data.as_ref()?;
        let replay_id = data.get("event")?.get("replayId")?.as_i64()?;
        let payload = data
            .get("payload")
            .or_else(|| data.get("sobject"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let header = match payload.get("ChangeEventHeader") {
            Some(header) => match serde_json::from_value::<ChangeEventHeader>(header.clone()) {
                Ok(header) => Some(header),
                Err(error) => return Some(Err(error)),
            },
            None => None,
        };
        Some(Ok(Self {
            channel: message.channel.clone(),
            replay_id,
            payload,
            header,
            data: data.clone(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Streaming API Developer Guide: CometD and Bayeux, handshake response, verbatim.
    const HANDSHAKE: &str = r#"{"ext":{"replay":true,"payload.format":true},"minimumVersion":"1.0","clientId":"41kdiuvgig2tfxdh9weakuiwyh",
 "supportedConnectionTypes":["long-polling"],"channel":"/meta/handshake","id":"1","version":"1.0",
 "successful":true,"reestablish":false}"#;

    /// Change Data Capture Developer Guide: change event message, the CDC message, verbatim.
    const CDC_EVENT: &str = r#"{"channel":"/data/AccountChangeEvent",
 "data":{"schema":"I8b-dYxvxs5wOtCBr4qsew",
  "payload":{"LastModifiedDate":"2020-12-15T23:09:18.000Z","Fax":"4155551212",
   "ChangeEventHeader":{"commitNumber":74487681550,"commitUser":"005RM000001hv4SYAQ","sequenceNumber":1,
     "entityName":"Account","changeType":"UPDATE","changedFields":["Fax","LastModifiedDate"],
     "changeOrigin":"com/salesforce/api/soap/51.0;client=SfdcInternalAPI/",
     "transactionKey":"0005e192-9e62-2554-3880-3c3718bd6308","commitTimestamp":1608073758000,
     "recordIds":["001RM000004UF9sYAG"]}},
  "event":{"replayId":12}}}"#;

    #[test]
    fn handshake_response_parses() {
        let messages = parse_messages(HANDSHAKE.as_bytes()).expect("parses");
        assert_eq!(messages[0].channel, "/meta/handshake");
        assert_eq!(
            messages[0].client_id.as_deref(),
            Some("41kdiuvgig2tfxdh9weakuiwyh")
        );
        assert_eq!(messages[0].successful, Some(true));
    }

    #[test]
    fn subscribe_and_connect_responses_parse() {
        let messages = parse_messages(
            br#"[{"clientId":"abc","channel":"/meta/subscribe","id":"15","subscription":"/data/AccountChangeEvent","successful":true}]"#,
        )
        .expect("parses");
        assert_eq!(
            messages[0].subscription.as_deref(),
            Some("/data/AccountChangeEvent")
        );
        let body = format!(
            r#"[{CDC_EVENT},{{"clientId":"abc","channel":"/meta/connect","id":"2","successful":true,"advice":{{"interval":0,"timeout":110000,"reconnect":"retry"}}}}]"#
        );
        let messages = parse_messages(body.as_bytes()).expect("parses");
        assert_eq!(messages.len(), 2);
        assert_eq!(
            messages[1].advice,
            Some(Advice {
                reconnect: Some("retry".into()),
                interval: Some(0),
                timeout: Some(110000)
            })
        );
    }

    #[test]
    fn cdc_event_parses() {
        let messages = parse_messages(CDC_EVENT.as_bytes()).expect("parses");
        let event = StreamEvent::from_message(&messages[0])
            .expect("is an event")
            .expect("valid header");
        assert_eq!(event.replay_id, 12);
        assert_eq!(event.channel, "/data/AccountChangeEvent");
        let header = event.header.expect("CDC header");
        assert_eq!(header.entity_name, "Account");
        assert_eq!(header.change_type, ChangeType::Update);
        assert_eq!(header.record_ids, ["001RM000004UF9sYAG"]);
        assert_eq!(header.changed_fields, ["Fax", "LastModifiedDate"]);
        assert_eq!(header.commit_number, Some(74487681550));
        assert_eq!(header.commit_timestamp, Some(1608073758000));
        assert_eq!(header.origin_client(), Some("SfdcInternalAPI"));
        assert_eq!(event.payload["Fax"], "4155551212");
    }

    #[test]
    fn documented_errors_parse() {
        // Streaming API Developer Guide: CometD and Bayeux: invalidated session on connect, denied re-handshake, expired client.
        let messages = parse_messages(
            br#"[{"clientId":"x","advice":{"reconnect":"none","interval":0},"channel":"/meta/connect","id":7,"error":"401::Authentication invalid","successful":false}]"#,
        )
        .expect("parses");
        assert_eq!(
            messages[0].error.as_deref(),
            Some("401::Authentication invalid")
        );
        let messages = parse_messages(
            br#"{"ext":{"sfdc":{"failureReason":"401::Authentication invalid"}},"advice":{"reconnect":"none"},"channel":"/meta/handshake","error":"403::Handshake denied","successful":false}"#,
        )
        .expect("parses");
        assert_eq!(
            messages[0].failure_reason(),
            Some("401::Authentication invalid")
        );
        assert_eq!(
            messages[0].error_text(),
            "403::Handshake denied (401::Authentication invalid)"
        );
        let messages = parse_messages(
            br#"{"advice":{"interval":0,"reconnect":"handshake"},"channel":"/meta/connect","error":"403::Unknown client","successful":false}"#,
        )
        .expect("parses");
        assert_eq!(
            messages[0]
                .advice
                .as_ref()
                .and_then(|a| a.reconnect.as_deref()),
            Some("handshake")
        );
    }

    #[test]
    fn gap_and_delete_events() {
        let header: ChangeEventHeader = serde_json::from_str(
            r#"{"entityName":"Account","recordIds":["001*"],"changeType":"GAP_OVERFLOW","changedFields":[]}"#,
        )
        .expect("parses");
        assert!(header.change_type.is_gap());
        assert_eq!(header.origin_client(), None);
        let header: ChangeEventHeader = serde_json::from_str(
            r#"{"entityName":"Account","recordIds":["001RM000004UF9sYAG"],"changeType":"DELETE","changedFields":[],"changeOrigin":"com/salesforce/api/rest/62.0;client=sfsync-abc"}"#,
        )
        .expect("parses");
        assert_eq!(header.change_type, ChangeType::Delete);
        assert_eq!(header.origin_client(), Some("sfsync-abc"));
    }
}
