//! The words of the catalog: every value here is spelled as the SQL stores and checks it (the
//! `CHECK` constraints of `sql/bootstrap.sql`, the cases of `sql/queue.sql` and `sql/apply.sql`).
//! [`as_str`](Action::as_str), `Display` and the serde names are that spelling; `FromStr` reads it.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A word that is not one of an enum's values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownWord {
    pub kind: &'static str,
    pub word: String,
}

impl fmt::Display for UnknownWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is not a {}", self.word, self.kind)
    }
}

impl std::error::Error for UnknownWord {}

macro_rules! words {
    ($(#[$meta:meta])* $name:ident, $kind:literal { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in the order the catalog lists them.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The word as the SQL spells it.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownWord;
            fn from_str(word: &str) -> Result<Self, UnknownWord> {
                match word {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownWord { kind: $kind, word: word.to_string() }),
                }
            }
        }
    };
}

words! {
    /// What a queue entry records (`sfsync.change.action`).
    Action, "change action" {
        Insert = "INSERT",
        Update = "UPDATE",
        Delete = "DELETE",
    }
}

words! {
    /// A queue entry's state (`sfsync.change.state`, `sfsync.change_archive.state`).
    ChangeState, "change state" {
        /// Queued.
        New = "NEW",
        /// Claimed, in flight under a lease.
        Pending = "PENDING",
        Success = "SUCCESS",
        Failed = "FAILED",
        Merged = "MERGED",
        Ignored = "IGNORED",
        /// Captured on a read-only mapping: archived, never sent.
        Readonly = "READONLY",
    }
}

words! {
    /// What the writer reports for one change (`outcome` of a `_complete_changes` result).
    Outcome, "change outcome" {
        /// Salesforce took it (`sfid` for creates and upserts).
        Success = "SUCCESS",
        /// Salesforce rejected it (`error`).
        Failed = "FAILED",
        /// Folded into another change of the same record that carried the operation.
        Merged = "MERGED",
        /// Nothing to send.
        Ignored = "IGNORED",
        /// Transient: released with a backoff.
        Retry = "RETRY",
    }
}

words! {
    /// A mapping's state (`sfsync.mapping.state`).
    MappingState, "mapping state" {
        New = "NEW",
        Describing = "DESCRIBING",
        Loading = "LOADING",
        Synced = "SYNCED",
        Reloading = "RELOADING",
        Paused = "PAUSED",
        Error = "ERROR",
    }
}

words! {
    /// A mapping's direction (`sfsync.mapping.access`).
    Access, "mapping access" {
        ReadOnly = "read_only",
        ReadWrite = "read_write",
    }
}

words! {
    /// A mapped row's sync state (`_hc_lastop`, Heroku Connect's names). `Pending` here means "a
    /// local change is queued or in flight", not the queue's `PENDING`.
    LastOp, "_hc_lastop value" {
        Pending = "PENDING",
        Synced = "SYNCED",
        Inserted = "INSERTED",
        Updated = "UPDATED",
        Failed = "FAILED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T>(all: &[T], words: &[&str])
    where
        T: Copy + fmt::Debug + PartialEq + fmt::Display + FromStr + Serialize,
        T: for<'de> Deserialize<'de>,
        <T as FromStr>::Err: fmt::Debug,
    {
        let spelled: Vec<String> = all.iter().map(ToString::to_string).collect();
        assert_eq!(spelled, words);
        for value in all {
            let text = value.to_string();
            assert_eq!(text.parse::<T>().expect("parses"), *value);
            let json = serde_json::to_value(value).expect("serializes");
            assert_eq!(json, serde_json::Value::String(text));
            assert_eq!(serde_json::from_value::<T>(json).expect("reads"), *value);
        }
    }

    #[test]
    fn the_words_are_the_catalogs() {
        round_trip(Action::ALL, &["INSERT", "UPDATE", "DELETE"]);
        round_trip(
            ChangeState::ALL,
            &[
                "NEW", "PENDING", "SUCCESS", "FAILED", "MERGED", "IGNORED", "READONLY",
            ],
        );
        round_trip(
            Outcome::ALL,
            &["SUCCESS", "FAILED", "MERGED", "IGNORED", "RETRY"],
        );
        round_trip(
            MappingState::ALL,
            &[
                "NEW",
                "DESCRIBING",
                "LOADING",
                "SYNCED",
                "RELOADING",
                "PAUSED",
                "ERROR",
            ],
        );
        round_trip(Access::ALL, &["read_only", "read_write"]);
        round_trip(
            LastOp::ALL,
            &["PENDING", "SYNCED", "INSERTED", "UPDATED", "FAILED"],
        );
        assert_eq!(
            "insert".parse::<Action>().unwrap_err().to_string(),
            "\"insert\" is not a change action"
        );
    }
}
