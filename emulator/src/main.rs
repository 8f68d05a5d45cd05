//! sfsync-emulator: a local Salesforce org (placeholder until the emulator issue lands).
fn main() {
    eprintln!("sfsync-emulator is not built yet");
    std::process::exit(2);
}
