//! A public provider registry for the provider mirror's tests, standing in for
//! registry.terraform.io: service discovery, the provider registry protocol (`versions`,
//! `download`) and the files it names, over plain HTTP on a loopback port, signed by a test
//! GnuPG key. It counts what it serves, can serve a tampered archive, and can go away.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::json;

use crate::providers::{package, sha256, Gpg};

/// A provider's published versions: version → platforms.
type Versions = BTreeMap<String, Vec<(String, String)>>;

#[derive(Default)]
struct Contents {
    /// Path → body.
    files: HashMap<String, Vec<u8>>,
    /// (namespace, type) → versions.
    providers: BTreeMap<(String, String), Versions>,
    /// Path → times served.
    hits: HashMap<String, usize>,
}

pub struct UpstreamRegistry {
    /// The registry's base URL (`http://127.0.0.1:PORT/`).
    pub url: String,
    contents: Arc<Mutex<Contents>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl UpstreamRegistry {
    pub fn start() -> UpstreamRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let contents = Arc::new(Mutex::new(Contents::default()));
        contents.lock().unwrap().files.insert(
            "/.well-known/terraform.json".into(),
            br#"{"providers.v1": "/v1/providers/"}"#.to_vec(),
        );
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (contents, stop) = (contents.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let contents = contents.clone();
                            std::thread::spawn(move || serve(stream, &contents));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            })
        };
        UpstreamRegistry {
            url,
            contents,
            stop,
            thread: Some(thread),
        }
    }

    /// Publishes `namespace/kind` `version` for `platforms`, its SHA256SUMS signed by `signer`
    /// and the download answers naming `listed_key`'s public key (the same, unless a test
    /// forges). Returns each platform's zip.
    pub fn publish(
        &self,
        namespace: &str,
        kind: &str,
        version: &str,
        platforms: &[(String, String)],
        signer: &Gpg,
        listed_key: &Gpg,
    ) -> Vec<Vec<u8>> {
        let mut c = self.contents.lock().unwrap();
        let mut shasums = String::new();
        let mut zips = Vec::new();
        for (os, arch) in platforms {
            let zip = package(kind, version, &format!("upstream {os}_{arch}"));
            let filename = format!("terraform-provider-{kind}_{version}_{os}_{arch}.zip");
            shasums.push_str(&format!("{}  {filename}\n", sha256(&zip)));
            c.files.insert(format!("/files/{filename}"), zip.clone());
            zips.push(zip);
        }
        let sums_name = format!("terraform-provider-{kind}_{version}_SHA256SUMS");
        c.files.insert(
            format!("/files/{sums_name}.sig"),
            signer.sign(shasums.as_bytes()),
        );
        c.files
            .insert(format!("/files/{sums_name}"), shasums.clone().into_bytes());
        let armor = listed_key.armor();
        for (os, arch) in platforms {
            let filename = format!("terraform-provider-{kind}_{version}_{os}_{arch}.zip");
            let zip = c.files[&format!("/files/{filename}")].clone();
            let download = json!({
                "protocols": ["5.0"], "os": os, "arch": arch, "filename": filename,
                // Relative URLs, which the protocol allows.
                "download_url": format!("/files/{filename}"),
                "shasums_url": format!("/files/{sums_name}"),
                "shasums_signature_url": format!("/files/{sums_name}.sig"),
                "shasum": sha256(&zip),
                "signing_keys": {"gpg_public_keys": [{"key_id": listed_key.key_id, "ascii_armor": armor}]},
            });
            c.files.insert(
                format!("/v1/providers/{namespace}/{kind}/{version}/download/{os}/{arch}"),
                download.to_string().into_bytes(),
            );
        }
        let versions = c
            .providers
            .entry((namespace.to_string(), kind.to_string()))
            .or_default();
        versions.insert(version.to_string(), platforms.to_vec());
        let doc = json!({"versions": versions.iter().map(|(v, platforms)| json!({
            "version": v, "protocols": ["5.0"],
            "platforms": platforms.iter().map(|(os, arch)| json!({"os": os, "arch": arch})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>()});
        c.files.insert(
            format!("/v1/providers/{namespace}/{kind}/versions"),
            doc.to_string().into_bytes(),
        );
        zips
    }

    /// Replaces what a path serves (a tampered archive).
    pub fn replace(&self, path: &str, body: Vec<u8>) {
        self.contents
            .lock()
            .unwrap()
            .files
            .insert(path.to_string(), body);
    }

    /// The body a path serves.
    pub fn file(&self, path: &str) -> Vec<u8> {
        self.contents.lock().unwrap().files[path].clone()
    }

    /// How many times a path was served.
    pub fn hits(&self, path: &str) -> usize {
        self.contents
            .lock()
            .unwrap()
            .hits
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    /// Stops listening: from now on every connection is refused.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }
}

impl Drop for UpstreamRegistry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Answers one request (HTTP/1.1, GET only, one request per connection).
fn serve(stream: TcpStream, contents: &Mutex<Contents>) {
    let _ = stream.set_nonblocking(false);
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line == "\r\n" => break,
            Ok(_) => {}
        }
    }
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let body = {
        let mut c = contents.lock().unwrap();
        let body = c.files.get(path).cloned();
        if body.is_some() {
            *c.hits.entry(path.to_string()).or_default() += 1;
        }
        body
    };
    let (status, body) = match (method, body) {
        ("GET", Some(body)) => ("200 OK", body),
        ("GET", None) => ("404 Not Found", b"{\"errors\":[\"Not Found\"]}".to_vec()),
        _ => ("405 Method Not Allowed", Vec::new()),
    };
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(&body);
    let _ = stream.flush();
}
