//! Locates the workspace's binaries (`sfsync-emulator`, `sfsync-sidecar`) next to the test executable.

use std::path::PathBuf;

/// `$SFSYNC_<NAME>_BIN`, else the binary in the same target profile directory as this test.
pub fn binary(name: &str) -> PathBuf {
    let env = format!(
        "SFSYNC_{}_BIN",
        name.trim_start_matches("sfsync-").to_uppercase()
    );
    if let Ok(path) = std::env::var(&env) {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("current exe");
    // a test: target/<profile>/deps/<test> → target/<profile>/<name>;
    // a benchmark program (`cargo run --bin`): target/<profile>/<bench> → target/<profile>/<name>
    let exe_dir = exe.parent().expect("executable directory");
    let beside = exe_dir.join(name);
    let path = if beside.exists() {
        beside
    } else {
        exe_dir.parent().expect("target profile dir").join(name)
    };
    assert!(
        path.exists(),
        "{} not found: build it first (`cargo build --release -p {name}`, same profile and CARGO_TARGET_DIR as the tests) or set {env}",
        path.display()
    );
    path
}
