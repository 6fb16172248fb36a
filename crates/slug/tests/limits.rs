//! Archives that are small to upload but large (or endless) to unpack.

mod support;

use support::*;
use tar::EntryType;

/// A file whose basic header says 0 bytes but whose pax `size` record says `claimed`, followed
/// by `claimed` zero bytes: the `tar` crate (and GNU tar, and Go) read `claimed` bytes of data;
/// a reader trusting the basic header sees an empty file and then zero blocks (the end).
fn pax_size_lie(claimed: u64) -> Vec<u8> {
    let mut tar = Tar::new()
        .file("main.tf", b"# ok\n")
        .pax(&[("size", claimed.to_string().as_bytes())])
        .raw("bomb", EntryType::Regular, "", 0, 0o644, b"")
        .unterminated();
    tar.resize(tar.len() + claimed as usize, 0);
    tar.extend_from_slice(&[0; 1024]);
    gzip(&tar)
}

#[test]
fn a_pax_size_larger_than_the_header_size_is_held_to_the_limit() {
    let bomb = pax_size_lie(8 << 20);
    assert!(bomb.len() < 64 << 10, "{} bytes compressed", bomb.len());
    // It really is an 8 MiB file to the `tar` crate.
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&bomb[..]));
    let sizes: Vec<u64> = archive
        .entries()
        .unwrap()
        .map(|e| std::io::copy(&mut e.unwrap(), &mut std::io::sink()).unwrap())
        .collect();
    assert_eq!(sizes, [5, 8 << 20]);

    let err = refused_by_both(&bomb, &small_limits());
    assert_eq!(err, "the archive unpacks to more than 1048576 bytes");
    // At the default limits it is fine (8 MiB is not a bomb there), and written in full.
    let dest = Dest::new();
    dest.unpack(&bomb, &Limits::default()).unwrap();
    assert_eq!(
        std::fs::metadata(dest.root().join("bomb")).unwrap().len(),
        8 << 20
    );
}

#[test]
fn a_pax_size_claiming_more_than_the_default_limit_is_refused_at_once() {
    // 3 GiB claimed, a few bytes sent: refused on the claim, without reading on.
    let mut tar = Tar::new()
        .pax(&[("size", (3u64 << 30).to_string().as_bytes())])
        .raw("bomb", EntryType::Regular, "", 0, 0o644, b"")
        .unterminated();
    tar.extend_from_slice(&[0; 4096]);
    let err = refused_by_both(&gzip(&tar), &Limits::default());
    assert_eq!(err, "the archive unpacks to more than 2147483648 bytes");
}

#[test]
fn a_gzip_bomb_is_refused_without_being_written() {
    let zeros = vec![0u8; 16 << 20];
    let bomb = Tar::new()
        .file("main.tf", b"# ok\n")
        .file("zeros", &zeros)
        .gz();
    assert!(bomb.len() < 256 << 10, "{} bytes compressed", bomb.len());
    let err = refused_by_both(&bomb, &small_limits());
    assert!(err.contains("unpacks to more than"), "{err}");
    let dest = Dest::new();
    dest.unpack(&bomb, &small_limits()).unwrap_err();
    assert_eq!(dest.tree(), ["main.tf"], "the bomb was not even started");
}

#[test]
fn the_total_counts_not_just_each_file() {
    // Eight files of 200 KiB each: each under the 1 MiB limit, together over it.
    let chunk = vec![b'x'; 200 << 10];
    let mut tar = Tar::new();
    for i in 0..8 {
        tar = tar.file(&format!("f{i}"), &chunk);
    }
    let err = refused_by_both(&tar.gz(), &small_limits());
    assert!(err.contains("unpacks to more than 1048576 bytes"), "{err}");
}

#[test]
fn endless_padding_after_the_end_is_refused() {
    let mut tar = Tar::new().file("main.tf", b"# ok\n").finish();
    tar.resize(tar.len() + (4 << 20), 0);
    let err = refused_by_both(&gzip(&tar), &Limits::default());
    assert!(err.contains("metadata or padding"), "{err}");
    // The usual padding (GNU tar pads to 10 KiB records) is fine.
    let mut tar = Tar::new().file("main.tf", b"# ok\n").finish();
    tar.resize(10240, 0);
    check(&gzip(&tar)[..], &Limits::default()).unwrap();
}

#[test]
fn huge_pax_headers_are_refused() {
    // The `tar` crate holds pax records in memory: they must not be allowed to be large.
    let big = vec![b'a'; 2 << 20];
    let gz = Tar::new()
        .pax(&[("comment", &big)])
        .file("main.tf", b"# ok\n")
        .gz();
    let err = refused_by_both(&gz, &Limits::default());
    assert!(err.contains("metadata or padding"), "{err}");
}

#[test]
fn too_many_entries_are_refused() {
    let mut tar = Tar::new();
    for i in 0..10 {
        tar = tar.file(&format!("f{i}.tf"), b"");
    }
    check(&tar.gz()[..], &small_limits()).expect("ten entries are fine");
    let mut tar = Tar::new();
    for i in 0..11 {
        tar = tar.file(&format!("f{i}.tf"), b"");
    }
    let err = refused_by_both(&tar.gz(), &small_limits());
    assert_eq!(err, "the archive has more than 10 entries");
}

#[test]
fn long_paths_are_refused() {
    let limits = Limits {
        max_path_bytes: 300,
        ..Limits::default()
    };
    let long = format!("{}/main.tf", "d".repeat(300));
    let err = refused_by_both(&Tar::new().gnu_file(&long, b"x").gz(), &limits);
    assert!(err.contains("the path is longer than 300 bytes"), "{err}");
    let err = refused_by_both(
        &Tar::new().gnu_symlink("link", &"t/".repeat(200)).gz(),
        &limits,
    );
    assert!(err.contains("the path is longer than 300 bytes"), "{err}");
}
