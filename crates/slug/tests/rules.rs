//! What an archive may contain, checked the same way by the server and the runner.

mod support;

use std::io::Read;

use support::*;
use tar::EntryType;

/// A reader handing out a few bytes at a time, as an upload arrives.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fn go_slug() -> Vec<u8> {
    Tar::new()
        .dir("./")
        .file("main.tf", b"resource \"terraform_data\" \"x\" {}\n")
        .dir("modules/")
        .dir("modules/net/")
        .file("modules/net/main.tf", &[b'x'; 1000])
        .symlink("modules/current", "net")
        .symlink("modules/net/up", "../../main.tf")
        .gz()
}

#[test]
fn a_configuration_passes_whatever_the_pieces_it_arrives_in() {
    let gz = go_slug();
    for step in [1, 7, 512, gz.len()] {
        check(Trickle { data: &gz, step }, &Limits::default())
            .unwrap_or_else(|e| panic!("in pieces of {step}: {e}"));
    }
}

#[test]
fn paths_out_of_the_configuration_are_refused() {
    for (what, gz, message) in [
        (
            "absolute",
            Tar::new().file("/etc/passwd", b"x").gz(),
            "unsafe path /etc/passwd: absolute paths are not allowed",
        ),
        (
            "dot-dot",
            Tar::new().file("../../x.tf", b"x").gz(),
            "unsafe path ../../x.tf: it leads outside the configuration",
        ),
        (
            "nested dot-dot",
            Tar::new().file("a/../../x.tf", b"x").gz(),
            "unsafe path a/../../x.tf: it leads outside the configuration",
        ),
        (
            "dot-dot directory",
            Tar::new().dir("../x/").gz(),
            "unsafe path ../x/: it leads outside the configuration",
        ),
        (
            "a file for the root",
            Tar::new().file("./", b"x").gz(),
            "unsafe path ./: it names the root directory",
        ),
    ] {
        assert_eq!(refused_by_both(&gz, &Limits::default()), message, "{what}");
    }
}

#[test]
fn symlinks_pointing_out_are_refused() {
    for (what, gz, message) in [
        (
            "absolute",
            Tar::new().symlink("evil", "/etc/shadow").gz(),
            "unsafe symlink evil -> /etc/shadow: absolute targets are not allowed",
        ),
        (
            "to the parent",
            Tar::new().symlink("evil", "..").gz(),
            "unsafe symlink evil -> ..: it points outside the configuration",
        ),
        (
            "climbing out from a subdirectory",
            Tar::new().symlink("a/evil", "../../etc").gz(),
            "unsafe symlink a/evil -> ../../etc: it points outside the configuration",
        ),
        (
            "climbing out through a name",
            Tar::new().symlink("evil", "a/../../x").gz(),
            "unsafe symlink evil -> a/../../x: it points outside the configuration",
        ),
        (
            "without a target",
            Tar::new().symlink("evil", "").gz(),
            "unsafe symlink evil -> : it has no target",
        ),
    ] {
        assert_eq!(refused_by_both(&gz, &Limits::default()), message, "{what}");
    }
}

#[test]
fn hard_links_are_refused_even_inside() {
    for target in ["main.tf", "../outside", "/etc/passwd"] {
        let gz = Tar::new()
            .file("main.tf", b"x")
            .kind("copy.tf", EntryType::Link, target)
            .gz();
        let err = refused_by_both(&gz, &Limits::default());
        assert!(
            err.starts_with("copy.tf: hard links are not supported"),
            "{target}: {err}"
        );
    }
}

#[test]
fn devices_and_fifos_are_refused() {
    for kind in [EntryType::Char, EntryType::Block, EntryType::Fifo] {
        let gz = Tar::new().kind("dev", kind, "").gz();
        assert_eq!(
            refused_by_both(&gz, &Limits::default()),
            "dev: device and fifo entries are not allowed",
            "{kind:?}"
        );
    }
    let gz = Tar::new().kind("odd", EntryType::new(b'Z'), "").gz();
    assert_eq!(
        refused_by_both(&gz, &Limits::default()),
        "odd: unsupported tar entry type 'Z'"
    );
}

#[test]
fn gnu_long_names_are_read_like_any_name() {
    let deep = format!("{}/main.tf", ["module"; 30].join("/"));
    assert!(deep.len() > 100);
    let gz = Tar::new()
        .gnu_file(&deep, b"# deep\n")
        .gnu_symlink("shortcut", &format!("{}/main.tf", ["module"; 30].join("/")))
        .gz();
    check(&gz[..], &Limits::default()).unwrap();
    let dest = Dest::new();
    dest.unpack(&gz, &Limits::default()).unwrap();
    assert_eq!(
        std::fs::read_to_string(dest.root().join("shortcut")).unwrap(),
        "# deep\n"
    );

    let escaping = format!("{}/{}x.tf", ["a"; 60].join("/"), "../".repeat(61));
    assert!(escaping.len() > 100);
    let err = refused_by_both(
        &Tar::new().gnu_file(&escaping, b"x").gz(),
        &Limits::default(),
    );
    assert!(err.ends_with("it leads outside the configuration"), "{err}");
    let err = refused_by_both(
        &Tar::new()
            .gnu_symlink("evil", &format!("{}..", "../".repeat(60)))
            .gz(),
        &Limits::default(),
    );
    assert!(
        err.ends_with("it points outside the configuration"),
        "{err}"
    );
}

#[test]
fn pax_paths_are_read_like_any_name() {
    let deep = format!("{}/main.tf", ["module"; 30].join("/"));
    let gz = Tar::new()
        .pax(&[("path", deep.as_bytes())])
        .file("ignored-short-name", b"# deep\n")
        .pax(&[("linkpath", deep.as_bytes())])
        .symlink("shortcut", "ignored")
        .gz();
    check(&gz[..], &Limits::default()).unwrap();
    let dest = Dest::new();
    dest.unpack(&gz, &Limits::default()).unwrap();
    assert_eq!(
        std::fs::read_to_string(dest.root().join(&deep)).unwrap(),
        "# deep\n"
    );
    assert_eq!(
        std::fs::read_link(dest.root().join("shortcut")).unwrap(),
        std::path::Path::new(&deep)
    );
    assert!(!dest.root().join("ignored-short-name").exists());

    // The pax path is the one that counts, whatever the header says.
    let err = refused_by_both(
        &Tar::new()
            .pax(&[("path", b"../../escaped.tf")])
            .file("harmless.tf", b"x")
            .gz(),
        &Limits::default(),
    );
    assert_eq!(
        err,
        "unsafe path ../../escaped.tf: it leads outside the configuration"
    );
    let err = refused_by_both(
        &Tar::new()
            .pax(&[("linkpath", b"/etc/shadow")])
            .symlink("link", "harmless")
            .gz(),
        &Limits::default(),
    );
    assert_eq!(
        err,
        "unsafe symlink link -> /etc/shadow: absolute targets are not allowed"
    );
}

#[test]
fn broken_archives_are_refused_with_the_reason() {
    let err = refused_by_both(b"resource \"x\" \"y\" {}", &Limits::default());
    assert!(
        err.starts_with("not a gzip-compressed tar archive"),
        "{err}"
    );
    assert_eq!(
        refused_by_both(b"", &Limits::default()),
        "not a gzip-compressed tar archive (it is empty)"
    );
    let err = refused_by_both(&gzip(&[b'x'; 4000]), &Limits::default());
    assert!(err.starts_with("not a valid tar archive"), "{err}");
}

#[test]
fn truncated_archives_are_refused() {
    let tar = Tar::new()
        .file("main.tf", b"# main\n")
        .file("big.tf", &[b'x'; 5000]);
    // The tar stream stops at an entry boundary: no end-of-archive marker.
    assert_eq!(
        refused_by_both(&gzip(&tar.unterminated()), &Limits::default()),
        "the archive is truncated (no end-of-archive marker)"
    );
    let whole = Tar::new()
        .file("main.tf", b"# main\n")
        .file("big.tf", &[b'x'; 5000])
        .finish();
    // In the middle of a file's data, and in the middle of a header.
    let err = refused_by_both(&gzip(&whole[..2048]), &Limits::default());
    assert_eq!(err, "the archive is truncated (big.tf ends early)");
    let err = refused_by_both(&gzip(&whole[..1024 + 100]), &Limits::default());
    assert!(err.starts_with("the archive is truncated"), "{err}");
    // The gzip stream itself is cut.
    let gz = gzip(&whole);
    for cut in [gz.len() - 4, gz.len() / 2] {
        let err = refused_by_both(&gz[..cut], &Limits::default());
        assert!(
            err.starts_with("the archive is truncated")
                || err.starts_with("not a gzip-compressed tar archive"),
            "cut at {cut}: {err}"
        );
    }
}

#[test]
fn data_after_the_end_is_refused() {
    let mut tar = Tar::new().file("main.tf", b"x").finish();
    tar.extend_from_slice(b"hidden");
    assert_eq!(
        refused_by_both(&gzip(&tar), &Limits::default()),
        "the archive has data after its end-of-archive marker"
    );
}

#[test]
fn a_failing_reader_is_not_the_archives_fault() {
    struct Failing;
    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "connection reset",
            ))
        }
    }
    let err = check(Failing, &Limits::default()).unwrap_err();
    assert!(!err.is_content());
    assert_eq!(err.to_string(), "cannot read the archive: connection reset");
    let err = check(&b"garbage"[..], &Limits::default()).unwrap_err();
    assert!(err.is_content());
}

#[test]
fn find_file_keeps_the_best_ranked_file_and_checks_the_rest() {
    let gz = Tar::new()
        .file("README.md", b"# root\n")
        .dir("app/")
        .file("app/readme.md", b"# app, the working directory\n")
        .file("app/main.tf", b"resource \"terraform_data\" \"x\" {}\n")
        .gz();
    let readme = |dir: &'static str| {
        move |path: &std::path::Path| {
            let named = path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().eq_ignore_ascii_case("readme.md"));
            let parent = path.parent().map(|p| p.to_string_lossy().into_owned());
            match (named, parent.as_deref()) {
                (true, Some(p)) if p == dir => Some(0),
                (true, Some("")) => Some(1),
                _ => None,
            }
        }
    };
    let found = terrace_slug::find_file(&gz[..], &Limits::default(), readme("app"), 1024)
        .unwrap()
        .unwrap();
    assert_eq!(found.path, std::path::Path::new("app/readme.md"));
    assert_eq!(found.content, b"# app, the working directory\n");
    assert!(!found.truncated);
    let root = terrace_slug::find_file(&gz[..], &Limits::default(), readme("elsewhere"), 4)
        .unwrap()
        .unwrap();
    assert_eq!(
        (root.content.as_slice(), root.truncated),
        (&b"# ro"[..], true)
    );
    assert_eq!(
        terrace_slug::find_file(&gz[..], &Limits::default(), |_| None, 1024).unwrap(),
        None
    );
    // The archive is checked as a whole: a bad entry after the file still refuses it.
    let bad = Tar::new()
        .file("README.md", b"# root\n")
        .file("../escape", b"x")
        .gz();
    assert!(terrace_slug::find_file(&bad[..], &Limits::default(), readme(""), 1024).is_err());
}
