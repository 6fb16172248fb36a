//! Checks configuration tarballs as they stream in: gzip, then tar, block by block, without
//! holding more than a few blocks. A tarball is refused if it is not gzip or tar, if an entry
//! would land outside the extraction directory (absolute paths, `..`, symlinks pointing out),
//! or if it exceeds the size and entry limits (a small archive that inflates to gigabytes).

use std::io::Write;

use flate2::write::GzDecoder;

const BLOCK: usize = 512;
/// GNU long names and pax headers are kept to check the paths they carry; larger ones are
/// not something a configuration needs.
const MAX_METADATA: u64 = 64 * 1024;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Bytes once decompressed.
    pub max_unpacked: u64,
    pub max_entries: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_unpacked: 2 << 30,
            max_entries: 100_000,
        }
    }
}

/// Feed the compressed bytes with [`push`](TarballCheck::push), then [`finish`](TarballCheck::finish).
pub struct TarballCheck {
    gz: GzDecoder<TarCheck>,
}

impl TarballCheck {
    pub fn new(limits: Limits) -> TarballCheck {
        TarballCheck {
            gz: GzDecoder::new(TarCheck::new(limits)),
        }
    }

    pub fn push(&mut self, compressed: &[u8]) -> Result<(), String> {
        self.gz.write_all(compressed).map_err(|e| describe(&e))
    }

    /// Checks that the gzip stream and the tar archive ended properly.
    pub fn finish(mut self) -> Result<(), String> {
        self.gz.try_finish().map_err(|e| describe(&e))?;
        let tar = self.gz.finish().map_err(|e| describe(&e))?;
        tar.finish()
    }
}

/// Errors of the tar check carry their own message ([`invalid`]); anything else comes from
/// the gzip decoder.
fn describe(err: &std::io::Error) -> String {
    match err.kind() {
        std::io::ErrorKind::Other => err.to_string(),
        _ => format!("not a gzip-compressed tar archive ({err})"),
    }
}

enum State {
    Header,
    /// Inside an entry's data: bytes left, padding after them, and whether the data is kept
    /// (long names and pax records, whose paths need checking).
    Data {
        remaining: u64,
        padding: u64,
        keep: Option<Metadata>,
    },
    End,
}

#[derive(Clone, Copy)]
enum Metadata {
    LongName,
    LongLink,
    Pax,
}

struct TarCheck {
    limits: Limits,
    block: Vec<u8>,
    state: State,
    entries: u64,
    unpacked: u64,
    kept: Vec<u8>,
    long_name: Option<String>,
    long_link: Option<String>,
    pax_path: Option<String>,
    pax_link: Option<String>,
}

fn invalid(message: String) -> std::io::Error {
    std::io::Error::other(message)
}

impl TarCheck {
    fn new(limits: Limits) -> TarCheck {
        TarCheck {
            limits,
            block: Vec::with_capacity(BLOCK),
            state: State::Header,
            entries: 0,
            unpacked: 0,
            kept: Vec::new(),
            long_name: None,
            long_link: None,
            pax_path: None,
            pax_link: None,
        }
    }

    fn finish(self) -> Result<(), String> {
        match self.state {
            State::End => Ok(()),
            _ => Err("the tar archive is truncated (no end-of-archive marker)".into()),
        }
    }

    fn header(&mut self, header: &[u8]) -> std::io::Result<()> {
        if header.iter().all(|&b| b == 0) {
            self.state = State::End;
            return Ok(());
        }
        let stored: u64 =
            octal(&header[148..156]).ok_or_else(|| invalid("not a tar archive".into()))?;
        let computed: u64 = header
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    u64::from(b' ')
                } else {
                    u64::from(b)
                }
            })
            .sum();
        if stored != computed {
            return Err(invalid(
                "not a tar archive (header checksum mismatch)".into(),
            ));
        }
        let size = size(&header[124..136])
            .ok_or_else(|| invalid("a tar header has an invalid size".into()))?;
        let kind = header[156];
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(invalid(format!(
                "the archive has more than {} entries",
                self.limits.max_entries
            )));
        }
        self.unpacked += size;
        if self.unpacked > self.limits.max_unpacked {
            return Err(invalid(format!(
                "the archive unpacks to more than {} bytes",
                self.limits.max_unpacked
            )));
        }
        let keep = match kind {
            b'L' => Some(Metadata::LongName),
            b'K' => Some(Metadata::LongLink),
            b'x' => Some(Metadata::Pax),
            _ => None,
        };
        if keep.is_some() {
            if size > MAX_METADATA {
                return Err(invalid("a tar metadata entry is too large".into()));
            }
        } else if kind != b'g' {
            self.check_entry(header, kind)?;
        }
        self.kept.clear();
        let padding = (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64;
        self.state = State::Data {
            remaining: size,
            padding,
            keep,
        };
        self.end_data_if_empty()
    }

    /// Checks the path (and link target) of an ordinary entry, taking names from preceding
    /// GNU long-name or pax records.
    fn check_entry(&mut self, header: &[u8], kind: u8) -> std::io::Result<()> {
        let mut name = cstr(&header[0..100]);
        if &header[257..262] == b"ustar" {
            let prefix = cstr(&header[345..500]);
            if !prefix.is_empty() {
                name = format!("{prefix}/{name}");
            }
        }
        let name = self
            .pax_path
            .take()
            .or(self.long_name.take())
            .unwrap_or(name);
        let link = self
            .pax_link
            .take()
            .or(self.long_link.take())
            .unwrap_or_else(|| cstr(&header[157..257]));
        match kind {
            b'0' | 0 | b'7' | b'5' | b'2' | b'1' => {}
            b'3' | b'4' | b'6' => {
                return Err(invalid(format!(
                    "{name}: device and fifo entries are not allowed"
                )))
            }
            other => {
                return Err(invalid(format!(
                    "{name}: unsupported tar entry type {:?}",
                    other as char
                )))
            }
        }
        contained(&name, "").map_err(invalid)?;
        match kind {
            // A symlink is resolved from its own directory.
            b'2' => {
                let dir = name
                    .trim_end_matches('/')
                    .rsplit_once('/')
                    .map(|(d, _)| d)
                    .unwrap_or("");
                contained(&link, dir)
                    .map_err(|e| invalid(format!("{name} links to {link}: {e}")))?;
            }
            b'1' => {
                contained(&link, "").map_err(|e| invalid(format!("{name} links to {link}: {e}")))?
            }
            _ => {}
        }
        Ok(())
    }

    fn end_data_if_empty(&mut self) -> std::io::Result<()> {
        if let State::Data {
            remaining: 0,
            padding: 0,
            keep,
        } = self.state
        {
            self.finish_metadata(keep)?;
            self.state = State::Header;
        }
        Ok(())
    }

    fn finish_metadata(&mut self, keep: Option<Metadata>) -> std::io::Result<()> {
        let text = String::from_utf8_lossy(&self.kept)
            .trim_end_matches('\0')
            .to_string();
        match keep {
            Some(Metadata::LongName) => self.long_name = Some(text),
            Some(Metadata::LongLink) => self.long_link = Some(text),
            Some(Metadata::Pax) => {
                // Records: "<len> <key>=<value>\n".
                for record in text.lines() {
                    if let Some((_, kv)) = record.split_once(' ') {
                        match kv.split_once('=') {
                            Some(("path", v)) => self.pax_path = Some(v.to_string()),
                            Some(("linkpath", v)) => self.pax_link = Some(v.to_string()),
                            _ => {}
                        }
                    }
                }
            }
            None => {}
        }
        Ok(())
    }
}

impl Write for TarCheck {
    fn write(&mut self, mut data: &[u8]) -> std::io::Result<usize> {
        let len = data.len();
        while !data.is_empty() {
            match &mut self.state {
                State::End => {
                    // Anything after the end marker must be padding.
                    if data.iter().any(|&b| b != 0) {
                        return Err(invalid("data after the end of the tar archive".into()));
                    }
                    break;
                }
                State::Data {
                    remaining,
                    padding,
                    keep,
                } => {
                    if *remaining > 0 {
                        let take = (*remaining).min(data.len() as u64) as usize;
                        if keep.is_some() {
                            self.kept.extend_from_slice(&data[..take]);
                        }
                        *remaining -= take as u64;
                        data = &data[take..];
                    } else {
                        let take = (*padding).min(data.len() as u64) as usize;
                        *padding -= take as u64;
                        data = &data[take..];
                    }
                    self.end_data_if_empty()?;
                }
                State::Header => {
                    let take = (BLOCK - self.block.len()).min(data.len());
                    self.block.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    if self.block.len() == BLOCK {
                        let header = std::mem::take(&mut self.block);
                        self.header(&header)?;
                        self.block = header;
                        self.block.clear();
                    }
                }
            }
        }
        Ok(len)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn cstr(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

fn octal(field: &[u8]) -> Option<u64> {
    let text = cstr(field);
    let text = text.trim_matches(|c: char| c == ' ' || c == '\0');
    if text.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(text, 8).ok()
}

/// Tar sizes are octal, or base-256 with the high bit set for large files.
fn size(field: &[u8]) -> Option<u64> {
    if field[0] & 0x80 != 0 {
        field[1..]
            .iter()
            .try_fold(u64::from(field[0] & 0x7f), |acc, &b| {
                acc.checked_mul(256)?.checked_add(u64::from(b))
            })
    } else {
        octal(field)
    }
}

/// Checks that `path`, relative to directory `base` of the archive, stays inside it.
fn contained(path: &str, base: &str) -> Result<(), String> {
    let bytes = path.as_bytes();
    let drive = bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
    if path.starts_with('/') || path.contains('\\') || drive {
        return Err(format!("{path}: absolute paths are not allowed"));
    }
    let mut depth: i64 = 0;
    for part in base.split('/').chain(path.split('/')) {
        match part {
            "" | "." => {}
            ".." => {
                depth -= 1;
                if depth < 0 {
                    return Err(format!("{path}: leads outside the configuration"));
                }
            }
            _ => depth += 1,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tar archive from (name, type, link, content) entries, gzip-compressed.
    fn tarball(entries: &[(&str, u8, &str, &[u8])]) -> Vec<u8> {
        let mut tar = Vec::new();
        for (name, kind, link, content) in entries {
            let mut header = [0u8; BLOCK];
            header[..name.len()].copy_from_slice(name.as_bytes());
            header[100..107].copy_from_slice(b"0000644");
            header[124..135].copy_from_slice(format!("{:011o}", content.len()).as_bytes());
            header[156] = *kind;
            header[157..157 + link.len()].copy_from_slice(link.as_bytes());
            header[257..263].copy_from_slice(b"ustar\0");
            header[263..265].copy_from_slice(b"00");
            header[148..156].copy_from_slice(b"        ");
            let sum: u64 = header.iter().map(|&b| u64::from(b)).sum();
            header[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
            tar.extend_from_slice(&header);
            tar.extend_from_slice(content);
            tar.resize(tar.len().div_ceil(BLOCK) * BLOCK, 0);
        }
        tar.extend_from_slice(&[0u8; 2 * BLOCK]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        gz.finish().unwrap()
    }

    fn check(bytes: &[u8], split: usize) -> Result<(), String> {
        let mut c = TarballCheck::new(Limits::default());
        for piece in bytes.chunks(split) {
            c.push(piece)?;
        }
        c.finish()
    }

    #[test]
    fn accepts_configurations_in_any_split() {
        let ok = tarball(&[
            (
                "main.tf",
                b'0',
                "",
                b"resource \"terraform_data\" \"x\" {}\n",
            ),
            ("modules/", b'5', "", b""),
            ("modules/net/main.tf", b'0', "", &[b'x'; 1000]),
            ("modules/current", b'2', "net", b""),
            ("modules/net/up", b'2', "../shared.tf", b""),
        ]);
        for split in [1, 7, 512, ok.len()] {
            assert_eq!(check(&ok, split), Ok(()), "split {split}");
        }
    }

    #[test]
    fn refuses_escapes_and_garbage() {
        for (what, entries) in [
            ("absolute", vec![("/etc/passwd", b'0', "", &b"x"[..])]),
            ("dotdot", vec![("../../x.tf", b'0', "", &b"x"[..])]),
            ("symlink out", vec![("evil", b'2', "/etc/shadow", &b""[..])]),
            (
                "relative symlink out",
                vec![("a/evil", b'2', "../../etc", &b""[..])],
            ),
            ("hardlink out", vec![("evil", b'1', "../x", &b""[..])]),
            ("device", vec![("dev", b'3', "", &b""[..])]),
        ] {
            assert!(check(&tarball(&entries), 64).is_err(), "{what} accepted");
        }
        let err = check(b"just some text, not gzip", 5).unwrap_err();
        assert!(err.contains("gzip"), "{err}");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"gzip but not a tar archive at all............")
            .unwrap();
        assert!(check(&gz.finish().unwrap(), 10).is_err());
        let good = tarball(&[("main.tf", b'0', "", b"x")]);
        assert!(
            check(&good[..good.len() - 8], 10).is_err(),
            "truncated gzip"
        );
    }

    #[test]
    fn refuses_archives_that_inflate_too_far() {
        let big = tarball(&[("zeros", b'0', "", &vec![0u8; 4 << 20])]);
        assert!(big.len() < 64 << 10, "compresses well");
        let mut c = TarballCheck::new(Limits {
            max_unpacked: 1 << 20,
            max_entries: 10,
        });
        let err = c.push(&big).and_then(|_| c.finish()).unwrap_err();
        assert!(err.contains("unpacks to more than"), "{err}");
    }
}
