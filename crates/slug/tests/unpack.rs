//! Unpacking on the runner: what an ordinary configuration becomes, and what only the real
//! tree shows (symlinks that escape through each other).

mod support;

use std::os::unix::fs::PermissionsExt;

use support::*;
use tar::EntryType;

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn a_go_slug_configuration_unpacks() {
    let gz = Tar::new()
        .dir("./")
        .file(
            "main.tf",
            b"module \"net\" { source = \"./modules/net\" }\n",
        )
        .file(".terraform.lock.hcl", b"# lock\n")
        .dir("modules/")
        .dir("modules/net/")
        .file("modules/net/main.tf", b"# net\n")
        .executable("modules/net/hook.sh", b"#!/bin/sh\necho hi\n")
        // Only the executable bit is kept: no setuid, no group or world write.
        .raw("setuid.sh", EntryType::Regular, "", 3, 0o4777, b"#!\n")
        .raw("private.tf", EntryType::Regular, "", 2, 0o600, b"{}")
        .symlink("shared", "modules/net")
        .symlink("modules/net/up", "../..")
        .symlink("dangling", "does/not/exist")
        // A file in a directory that has no entry of its own.
        .file("envs/prod/terraform.tfvars", b"region = \"eu\"\n")
        .gz();
    check(&gz[..], &Limits::default()).unwrap();
    let dest = Dest::new();
    dest.unpack(&gz, &Limits::default()).unwrap();
    let root = dest.root();
    assert_eq!(
        dest.tree(),
        [
            ".terraform.lock.hcl",
            "dangling",
            "envs",
            "envs/prod",
            "envs/prod/terraform.tfvars",
            "main.tf",
            "modules",
            "modules/net",
            "modules/net/hook.sh",
            "modules/net/main.tf",
            "modules/net/up",
            "private.tf",
            "setuid.sh",
            "shared",
        ]
    );
    let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
    assert_eq!(
        read("main.tf"),
        "module \"net\" { source = \"./modules/net\" }\n"
    );
    assert_eq!(read("shared/main.tf"), "# net\n");
    assert_eq!(read("modules/net/up/main.tf"), read("main.tf"));
    assert_eq!(read("envs/prod/terraform.tfvars"), "region = \"eu\"\n");
    assert_eq!(
        std::fs::read_link(root.join("shared")).unwrap(),
        std::path::Path::new("modules/net")
    );
    assert_eq!(mode(&root.join("modules/net/hook.sh")), 0o755);
    assert_eq!(mode(&root.join("setuid.sh")), 0o755);
    assert_eq!(mode(&root.join("main.tf")), 0o644);
    assert_eq!(mode(&root.join("private.tf")), 0o644);
    assert_eq!(dest.outside(), ["root"]);
}

#[test]
fn a_symlink_escaping_through_another_is_refused_in_either_order() {
    // Lexically inside (`s/..` looks like the root), but `s` is the root itself, so `l` is
    // its parent.
    for tar in [
        Tar::new().symlink("s", ".").symlink("l", "s/.."),
        Tar::new().symlink("l", "s/..").symlink("s", "."),
        Tar::new().symlink("s", ".").symlink("l", "s/../outside"),
    ] {
        let gz = tar.gz();
        check(&gz[..], &Limits::default()).expect("lexically inside");
        let dest = Dest::new();
        let err = dest.unpack(&gz, &Limits::default()).unwrap_err();
        assert!(
            err.to_string().starts_with("unsafe symlink l -> s/..")
                && err
                    .to_string()
                    .ends_with("it leads outside the configuration through other symlinks"),
            "{err}"
        );
        assert!(err.is_content());
        // The escaping link is not left behind.
        assert!(!dest.root().join("l").exists());
        assert_eq!(dest.outside(), ["root"]);
    }
}

#[test]
fn a_directory_entry_through_a_symlink_creates_nothing_outside() {
    for tar in [
        // Refused at once: the link itself points out.
        Tar::new().symlink("link", "..").dir("link/newdir/"),
        // A chain that is only out once resolved, then a directory through it.
        Tar::new()
            .symlink("s", ".")
            .symlink("link", "s/..")
            .dir("link/newdir/"),
        Tar::new()
            .symlink("s", ".")
            .symlink("link", "s/..")
            .dir("link/newdir/deeper/"),
        // A file through it.
        Tar::new()
            .symlink("s", ".")
            .symlink("link", "s/..")
            .file("link/newdir", b"x"),
    ] {
        let dest = Dest::new();
        let err = dest.unpack(&tar.gz(), &Limits::default()).unwrap_err();
        assert!(err.to_string().starts_with("unsafe "), "{err}");
        assert!(!dest.tmp.path().join("newdir").exists(), "{err}");
        assert_eq!(dest.outside(), ["root"], "{err}");
    }
}

#[test]
fn nothing_is_written_through_a_symlink_even_inside() {
    // `link/x` would land in `target/x`: it is refused rather than followed.
    let gz = Tar::new()
        .dir("target/")
        .symlink("link", "target")
        .file("link/x", b"x")
        .gz();
    let dest = Dest::new();
    let err = dest.unpack(&gz, &Limits::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unsafe path link/x: one of its directories is a symlink or a file"
    );
    assert!(!dest.root().join("target/x").exists());
}

#[test]
fn a_later_entry_replaces_an_earlier_one_rather_than_writing_through_it() {
    let gz = Tar::new()
        .file("target.tf", b"original")
        .symlink("link.tf", "target.tf")
        .file("link.tf", b"replacement")
        .file("twice.tf", b"first")
        .file("twice.tf", b"second")
        .symlink("was-a-link", "target.tf")
        .dir("was-a-link/")
        .file("was-a-link/inside.tf", b"x")
        .gz();
    let dest = Dest::new();
    dest.unpack(&gz, &Limits::default()).unwrap();
    let read = |p: &str| std::fs::read_to_string(dest.root().join(p)).unwrap();
    assert_eq!(read("target.tf"), "original");
    assert_eq!(read("link.tf"), "replacement");
    assert_eq!(read("twice.tf"), "second");
    assert!(!std::fs::symlink_metadata(dest.root().join("link.tf"))
        .unwrap()
        .is_symlink());
    assert_eq!(read("was-a-link/inside.tf"), "x");
}

#[test]
fn nothing_replaces_a_directory() {
    for tar in [
        Tar::new().dir("modules/").file("modules", b"x"),
        Tar::new()
            .file("modules/main.tf", b"x")
            .symlink("modules", "."),
    ] {
        let dest = Dest::new();
        let err = dest.unpack(&tar.gz(), &Limits::default()).unwrap_err();
        assert!(
            err.to_string().ends_with("it would replace a directory"),
            "{err}"
        );
        assert!(dest.root().join("modules").is_dir());
    }
}

#[test]
fn symlink_loops_are_refused() {
    let gz = Tar::new().symlink("a", "b").symlink("b", "a").gz();
    let dest = Dest::new();
    let err = dest.unpack(&gz, &Limits::default()).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("it goes through too many symlinks"),
        "{err}"
    );
}

#[test]
fn the_root_must_exist() {
    let tmp = tempfile::tempdir().unwrap();
    let err = unpack(
        &Tar::new().file("main.tf", b"x").gz()[..],
        &tmp.path().join("missing"),
        &Limits::default(),
    )
    .unwrap_err();
    assert!(!err.is_content(), "{err}");
}
