//! sfsync-sidecar: the worker process (placeholder until the sidecar issue lands).
fn main() {
    eprintln!("sfsync-sidecar is not built yet");
    std::process::exit(2);
}
