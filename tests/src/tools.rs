//! The Go-built tools of `scripts/go-tools.sh` (clients, test providers, go-tfe's test suite),
//! in the cache folder the test command owns. A missing tool fails the test that needs it,
//! saying how to build it: a test never skips for want of one.

use std::path::PathBuf;

/// `$TERRACE_TOOLS`, or `~/.cache/terrace-tools` like the script.
pub fn dir() -> PathBuf {
    match std::env::var_os("TERRACE_TOOLS") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").expect("HOME is set"))
            .join(".cache/terrace-tools"),
    }
}

/// `relative` inside the tool cache, which must exist.
pub fn path(relative: &str) -> PathBuf {
    let path = dir().join(relative);
    assert!(
        path.exists(),
        "{} is missing: run scripts/go-tools.sh build (scripts/test.sh does)",
        path.display()
    );
    path
}
