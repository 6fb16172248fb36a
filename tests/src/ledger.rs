//! A witness outside the server for what runs did: runs may write nothing outside their job
//! directory, but they may reach the network, so they report to an HTTP endpoint here.

/// An HTTP endpoint on loopback that records the bodies POSTed to it, one entry each.
pub struct Ledger {
    /// Where to POST.
    pub url: String,
    entries: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Ledger {
    pub fn start() -> Ledger {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let entries = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let recorded = entries.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream);
                let mut length = 0;
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 2 {
                    if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = value.trim().parse().unwrap_or(0);
                    }
                    line.clear();
                }
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_ok() {
                    recorded
                        .lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&body).into_owned());
                }
                let _ = reader.get_mut().write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
            }
        });
        Ledger { url, entries }
    }

    /// The bodies received so far, in order.
    pub fn entries(&self) -> Vec<String> {
        self.entries.lock().unwrap().clone()
    }
}
