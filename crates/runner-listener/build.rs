//! `TERRACE_RUNNER_BUILD`: a digest of the runner's sources (this crate, the job protocol,
//! the configuration unpacker). A listener starts the `terrace-runner` next to it only if
//! that binary was built from the same sources, never a stale one left from another build.

use std::hash::Hasher;
use std::path::{Path, PathBuf};

const SOURCES: &[&str] = &["src", "Cargo.toml", "../protocol/src", "../slug/src"];

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    // Fixed keys: the same sources give the same digest (reproducible builds).
    let mut digest = std::hash::DefaultHasher::new();
    for source in SOURCES {
        let path = manifest.join(source);
        println!("cargo:rerun-if-changed={}", path.display());
        let mut files = Vec::new();
        collect(&path, &mut files);
        files.sort();
        for file in files {
            digest.write(
                file.strip_prefix(&manifest)
                    .unwrap_or(&file)
                    .as_os_str()
                    .as_encoded_bytes(),
            );
            digest.write(&std::fs::read(&file).expect("a source file is readable"));
        }
    }
    println!(
        "cargo:rustc-env=TERRACE_RUNNER_BUILD={:016x}",
        digest.finish()
    );
}

fn collect(path: &Path, files: &mut Vec<PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).expect("a source directory is readable") {
            collect(&entry.expect("a directory entry").path(), files);
        }
    } else {
        files.push(path.to_path_buf());
    }
}
