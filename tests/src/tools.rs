//! The Go-built tools of `scripts/go-tools.sh` (clients, test providers, go-tfe's test suite),
//! in the cache folder the test command owns. A missing tool fails the test that needs it,
//! saying how to build it: a test never skips for want of one.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

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

/// The provider mirror of `go-tools.sh build providers`, where the runs' user can read it: the
/// tool cache may be in root's home, which runs (as `nobody` under a root server) cannot enter.
/// A hard-linked copy in the temporary directory, one per build of the mirror, made once and
/// shared by the tests.
pub fn provider_mirror() -> PathBuf {
    let source = path("providers");
    let stamp = std::fs::read_to_string(source.join(".stamp")).expect("the mirror's stamp");
    let shared = std::env::temp_dir().join(format!("terrace-provider-mirror-{}", stamp.trim()));
    if shared.exists() {
        return owned_like(shared, &source);
    }
    let building = tempfile::Builder::new()
        .prefix(".terrace-provider-mirror-")
        .tempdir()
        .expect("a temporary directory");
    link_tree(&source, building.path()).expect("copying the provider mirror");
    let built = building.keep();
    std::fs::set_permissions(&built, std::fs::Permissions::from_mode(0o755))
        .expect("opening the mirror to every user");
    // Another test may have made it meanwhile: theirs is as good.
    if std::fs::rename(&built, &shared).is_err() {
        let _ = std::fs::remove_dir_all(&built);
        assert!(shared.exists(), "cannot make {}", shared.display());
    }
    owned_like(shared, &source)
}

/// `copy`, refused unless its owner is `source`'s: a shared temporary directory must not hand
/// the tests providers or binaries someone else planted.
pub(crate) fn owned_like(copy: PathBuf, source: &Path) -> PathBuf {
    use std::os::unix::fs::MetadataExt;
    let owner = |path: &Path| std::fs::symlink_metadata(path).expect("the mirror").uid();
    assert_eq!(
        owner(&copy),
        owner(source),
        "{} belongs to another user",
        copy.display()
    );
    copy
}

/// Recreates `from`'s folders in `to` (readable by everyone), its files as hard links (or
/// copies across file systems).
fn link_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type()?.is_dir() {
            std::fs::create_dir(&target)?;
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))?;
            link_tree(&source, &target)?;
        } else if std::fs::hard_link(&source, &target).is_err() {
            std::fs::copy(&source, &target)?;
        }
    }
    Ok(())
}
