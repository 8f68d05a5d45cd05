//! sfsync's settings: the echo guard (`sfsync.origin`) and the optional NOTIFY wake-up (`sfsync.notify`).

use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};
use pgrx::PostgresGucEnum;

/// Who is writing in this transaction. `salesforce` means the sidecar is applying Salesforce data,
/// so the capture triggers must not queue it back (the echo guard).
#[derive(PostgresGucEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum Origin {
    #[name = c"local"]
    Local,
    #[name = c"salesforce"]
    Salesforce,
}

pub static ORIGIN: GucSetting<Origin> = GucSetting::<Origin>::new(Origin::Local);
pub static NOTIFY: GucSetting<bool> = GucSetting::<bool>::new(false);

pub fn register() {
    // SUSET: only superusers and roles granted `SET ON PARAMETER sfsync.origin` (sfsync_agent) may
    // change it, so an application cannot silently switch capture off.
    GucRegistry::define_enum_guc(
        c"sfsync.origin",
        c"Origin of the writes in this session: local (captured) or salesforce (not captured).",
        c"The sfsync sidecar sets it to salesforce while applying Salesforce data so that nothing is echoed back.",
        &ORIGIN,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"sfsync.notify",
        c"Send NOTIFY sfsync_changes when a change is queued.",
        c"Off by default: NOTIFY serialises committing writers; the sidecar polls the queue every 50 ms anyway.",
        &NOTIFY,
        GucContext::Userset,
        GucFlags::default(),
    );
}

/// True while the sidecar applies Salesforce data in this transaction.
#[inline]
pub fn applying_salesforce_data() -> bool {
    ORIGIN.get() == Origin::Salesforce
}
