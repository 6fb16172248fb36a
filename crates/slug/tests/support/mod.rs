//! Archives crafted for the tests: the `tar` crate's builder where it allows what is needed,
//! headers written byte by byte where it does not (`..`, absolute paths, lying sizes).
#![allow(dead_code)]

use std::io::Write;
use std::path::Path;

use tar::{EntryType, Header};

pub use terrace_slug::{check, unpack, Limits, SlugError};

/// A tar stream, entry by entry.
#[derive(Default)]
pub struct Tar {
    bytes: Vec<u8>,
}

impl Tar {
    pub fn new() -> Tar {
        Tar::default()
    }

    /// An entry with a ustar header written by hand: any path (up to 100 bytes), any link,
    /// any declared size, followed by `data` (padded to a block).
    pub fn raw(
        mut self,
        path: &str,
        kind: EntryType,
        link: &str,
        size: u64,
        mode: u32,
        data: &[u8],
    ) -> Tar {
        let mut header = Header::new_ustar();
        {
            let old = header.as_old_mut();
            old.name[..path.len()].copy_from_slice(path.as_bytes());
            old.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_size(size);
        header.set_mtime(1_700_000_000);
        header.set_cksum();
        self.bytes.extend_from_slice(header.as_bytes());
        self.data(data)
    }

    /// Bytes after the last header, padded to a block.
    pub fn data(mut self, data: &[u8]) -> Tar {
        self.bytes.extend_from_slice(data);
        self.bytes.resize(self.bytes.len().div_ceil(512) * 512, 0);
        self
    }

    pub fn file(self, path: &str, data: &[u8]) -> Tar {
        self.raw(path, EntryType::Regular, "", data.len() as u64, 0o644, data)
    }

    pub fn executable(self, path: &str, data: &[u8]) -> Tar {
        self.raw(path, EntryType::Regular, "", data.len() as u64, 0o755, data)
    }

    pub fn dir(self, path: &str) -> Tar {
        self.raw(path, EntryType::Directory, "", 0, 0o755, b"")
    }

    pub fn symlink(self, path: &str, target: &str) -> Tar {
        self.raw(path, EntryType::Symlink, target, 0, 0o777, b"")
    }

    pub fn kind(self, path: &str, kind: EntryType, link: &str) -> Tar {
        self.raw(path, kind, link, 0, 0o644, b"")
    }

    /// A pax extended header (`x`) with these records, applying to the next entry.
    pub fn pax(self, records: &[(&str, &[u8])]) -> Tar {
        let mut data = Vec::new();
        for (key, value) in records {
            data.extend_from_slice(&pax_record(key, value));
        }
        self.raw(
            "PaxHeaders/x",
            EntryType::XHeader,
            "",
            data.len() as u64,
            0o644,
            &data,
        )
    }

    /// Entries through the `tar` crate's builder with GNU headers (long names and long link
    /// targets become `L`/`K` entries).
    pub fn gnu_file(mut self, path: &str, data: &[u8]) -> Tar {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        builder.append_data(&mut header, path, data).unwrap();
        self.bytes.extend(builder.into_inner().unwrap());
        // `into_inner` added the end-of-archive marker: take it off.
        self.bytes.truncate(self.bytes.len() - 1024);
        self
    }

    pub fn gnu_symlink(mut self, path: &str, target: &str) -> Tar {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = Header::new_gnu();
        header.set_entry_type(EntryType::Symlink);
        header.set_size(0);
        header.set_mode(0o777);
        builder.append_link(&mut header, path, target).unwrap();
        self.bytes.extend(builder.into_inner().unwrap());
        self.bytes.truncate(self.bytes.len() - 1024);
        self
    }

    /// The tar stream without an end-of-archive marker.
    pub fn unterminated(self) -> Vec<u8> {
        self.bytes
    }

    /// The tar stream, ended with two zero blocks.
    pub fn finish(mut self) -> Vec<u8> {
        self.bytes.extend_from_slice(&[0; 1024]);
        self.bytes
    }

    /// The finished tar stream, gzip'd.
    pub fn gz(self) -> Vec<u8> {
        gzip(&self.finish())
    }
}

/// One pax record: `<length> <key>=<value>\n`, the length counting itself.
pub fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let rest = key.len() + value.len() + 3;
    let mut len = rest + rest.to_string().len();
    if len.to_string().len() != rest.to_string().len() {
        len += 1;
    }
    let mut record = format!("{len} {key}=").into_bytes();
    record.extend_from_slice(value);
    record.push(b'\n');
    assert_eq!(record.len(), len);
    record
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// Limits small enough for the tests' bombs.
pub fn small_limits() -> Limits {
    Limits {
        max_unpacked_bytes: 1 << 20,
        max_entries: 10,
        ..Limits::default()
    }
}

/// A `<tmp>/root` to unpack into; `<tmp>` is the outside to watch.
pub struct Dest {
    pub tmp: tempfile::TempDir,
}

impl Dest {
    pub fn new() -> Dest {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("root")).unwrap();
        Dest { tmp }
    }

    pub fn root(&self) -> std::path::PathBuf {
        self.tmp.path().join("root")
    }

    pub fn unpack(&self, gz: &[u8], limits: &Limits) -> Result<(), SlugError> {
        unpack(gz, &self.root(), limits)
    }

    /// What is next to the root: nothing but the root, if nothing escaped.
    pub fn outside(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// Every path under the root, sorted.
    pub fn tree(&self) -> Vec<String> {
        fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let entry = entry.unwrap();
                let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
                let kind = entry.file_type().unwrap();
                out.push(name.clone());
                if kind.is_dir() {
                    walk(&entry.path(), &format!("{name}/"), out);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.root(), "", &mut out);
        out.sort();
        out
    }
}

/// Refused by both the check and the unpack, with the same error, and nothing written
/// outside the root. Returns the message.
pub fn refused_by_both(gz: &[u8], limits: &Limits) -> String {
    let checked = check(gz, limits)
        .expect_err("the check accepted it")
        .to_string();
    let dest = Dest::new();
    let unpacked = dest
        .unpack(gz, limits)
        .expect_err("the unpack accepted it")
        .to_string();
    assert_eq!(checked, unpacked, "the check and the unpack disagree");
    assert_eq!(dest.outside(), ["root"], "something was written outside");
    checked
}
