//! A minimal SMTP client for e-mail notifications: EHLO, STARTTLS when the server offers it
//! (TLS from the start on port 465), AUTH PLAIN or LOGIN, MAIL, RCPT and DATA (dot-stuffed),
//! QUIT, to the one address the domain checked, bounded in time.
//!
//! TLS is never given up once chosen: a certificate that does not verify (against the
//! platform's roots) ends the delivery rather than falling back to plain text. A password is
//! only sent over TLS, or to a server on the loopback interface (a local relay), where
//! nobody on the network can read it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rustls::pki_types::ServerName;
use terrace_domain::notifications::email::{Mail, SmtpAuth, SmtpServer};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// The whole conversation, from connecting to QUIT.
const TIMEOUT: Duration = Duration::from_secs(30);
/// SMTP submission over TLS from the first byte (RFC 8314), rather than STARTTLS.
const IMPLICIT_TLS_PORT: u16 = 465;

/// Sends `mail` through `server`; the error names the step and the server's answer.
pub async fn send(
    server: &SmtpServer,
    mail: &Mail,
    tls: Arc<rustls::ClientConfig>,
) -> Result<(), String> {
    tokio::time::timeout(TIMEOUT, conversation(server, mail, tls))
        .await
        .map_err(|_| format!("the SMTP server {} did not finish in time", server.host))?
}

/// Whether a password may cross this connection: over TLS, or to the loopback interface.
fn may_authenticate(secure: bool, addr: SocketAddr) -> bool {
    secure || addr.ip().is_loopback()
}

async fn conversation(
    server: &SmtpServer,
    mail: &Mail,
    tls: Arc<rustls::ClientConfig>,
) -> Result<(), String> {
    let tcp = TcpStream::connect(server.addr)
        .await
        .map_err(|e| format!("cannot connect to {} ({}): {e}", server.host, server.addr))?;
    let name = ServerName::try_from(server.host.clone())
        .map_err(|e| format!("{} is not a host name for TLS: {e}", server.host))?;
    let connector = tokio_rustls::TlsConnector::from(tls);
    let handshake = |tcp| async {
        connector
            .connect(name.clone(), tcp)
            .await
            .map_err(|e| format!("TLS with the SMTP server {}: {e}", server.host))
    };
    if server.addr.port() == IMPLICIT_TLS_PORT {
        let mut session = Session::new(handshake(tcp).await?);
        session.step(None, "greeting", 220).await?;
        session.step(Some("EHLO terrace\r\n"), "EHLO", 250).await?;
        return session.deliver(server, mail, true).await;
    }
    let mut session = Session::new(tcp);
    session.step(None, "greeting", 220).await?;
    let offers = session.step(Some("EHLO terrace\r\n"), "EHLO", 250).await?;
    if !offers
        .iter()
        .any(|line| line.eq_ignore_ascii_case("STARTTLS"))
    {
        return session.deliver(server, mail, false).await;
    }
    session.step(Some("STARTTLS\r\n"), "STARTTLS", 220).await?;
    let mut session = Session::new(handshake(session.into_inner()).await?);
    session.step(Some("EHLO terrace\r\n"), "EHLO", 250).await?;
    session.deliver(server, mail, true).await
}

/// One side of the conversation over a plain or TLS stream.
struct Session<S> {
    stream: BufReader<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Session<S> {
    fn new(stream: S) -> Session<S> {
        Session {
            stream: BufReader::new(stream),
        }
    }

    fn into_inner(self) -> S {
        self.stream.into_inner()
    }

    /// Sends `command` (if any) and reads the reply, which must be of `expect`'s class;
    /// returns the reply's lines' texts.
    async fn step(
        &mut self,
        command: Option<&str>,
        what: &str,
        expect: u16,
    ) -> Result<Vec<String>, String> {
        if let Some(command) = command {
            self.stream
                .write_all(command.as_bytes())
                .await
                .map_err(|e| format!("writing to the SMTP server: {e}"))?;
            self.stream
                .flush()
                .await
                .map_err(|e| format!("writing to the SMTP server: {e}"))?;
        }
        let (code, lines) = reply(&mut self.stream).await?;
        if code / 100 != expect / 100 {
            let text = lines.last().cloned().unwrap_or_default();
            return Err(format!("{what}: the SMTP server answered {code} {text}"));
        }
        Ok(lines)
    }

    /// Signs in if the settings say so, then sends the mail and says goodbye.
    async fn deliver(
        &mut self,
        server: &SmtpServer,
        mail: &Mail,
        secure: bool,
    ) -> Result<(), String> {
        if server.auth != SmtpAuth::None && !may_authenticate(secure, server.addr) {
            return Err(format!(
                "the SMTP server {} offers no STARTTLS: Terrace does not send the password in \
                 clear text (use TLS, port 465, or a relay on this host)",
                server.host
            ));
        }
        match server.auth {
            SmtpAuth::None => {}
            SmtpAuth::Plain => {
                let token = STANDARD.encode(format!("\0{}\0{}", server.username, server.password));
                let command = format!("AUTH PLAIN {token}\r\n");
                self.step(Some(&command), "AUTH PLAIN", 235).await?;
            }
            SmtpAuth::Login => {
                self.step(Some("AUTH LOGIN\r\n"), "AUTH LOGIN", 334).await?;
                let user = format!("{}\r\n", STANDARD.encode(&server.username));
                self.step(Some(&user), "AUTH LOGIN username", 334).await?;
                let password = format!("{}\r\n", STANDARD.encode(&server.password));
                self.step(Some(&password), "AUTH LOGIN password", 235)
                    .await?;
            }
        }
        let from = format!("MAIL FROM:<{}>\r\n", server.sender);
        self.step(Some(&from), "MAIL FROM", 250).await?;
        let to = format!("RCPT TO:<{}>\r\n", mail.to);
        self.step(Some(&to), "RCPT TO", 250).await?;
        self.step(Some("DATA\r\n"), "DATA", 354).await?;
        let message = message(&server.sender, mail);
        self.step(Some(&message), "the message", 250).await?;
        // The mail is accepted; a failed QUIT changes nothing.
        let _ = self.step(Some("QUIT\r\n"), "QUIT", 221).await;
        Ok(())
    }
}

/// One reply (its lines `NNN-...` up to `NNN ...`): the code and each line's text.
async fn reply(read: &mut (impl AsyncBufReadExt + Unpin)) -> Result<(u16, Vec<String>), String> {
    let mut texts = Vec::new();
    loop {
        let mut line = String::new();
        let n = read
            .read_line(&mut line)
            .await
            .map_err(|e| format!("reading from the SMTP server: {e}"))?;
        if n == 0 {
            return Err("the SMTP server closed the connection".into());
        }
        let line = line.trim_end();
        let code = line
            .get(..3)
            .and_then(|c| c.parse::<u16>().ok())
            .ok_or_else(|| format!("the SMTP server answered {line:?}"))?;
        texts.push(line.get(4..).unwrap_or("").to_string());
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok((code, texts));
        }
    }
}

/// The message as DATA sends it: headers, the body with CRLF line ends and lines starting
/// with a dot doubled, the final dot.
fn message(from: &str, mail: &Mail) -> String {
    let date = chrono::Utc::now().to_rfc2822();
    let mut out = format!(
        "From: {from}\r\nTo: {}\r\nSubject: {}\r\nDate: {date}\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
        mail.to,
        mail.subject.replace(['\r', '\n'], " ")
    );
    for line in mail.body.lines() {
        if line.starts_with('.') {
            out.push('.');
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str(".\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_is_dot_stuffed_and_ends_with_a_dot() {
        let mail = Mail {
            to: "a@example.com".into(),
            subject: "Hi\r\nBcc: x@y".into(),
            body: "one\n.two\n".into(),
        };
        let text = message("t@example.com", &mail);
        assert!(text.contains("Subject: Hi  Bcc: x@y\r\n"));
        assert!(text.ends_with("one\r\n..two\r\n.\r\n"));
    }

    #[test]
    fn a_password_crosses_only_tls_or_the_loopback_interface() {
        let remote: SocketAddr = "192.0.2.7:25".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:25".parse().unwrap();
        assert!(may_authenticate(true, remote));
        assert!(!may_authenticate(false, remote));
        assert!(may_authenticate(false, local));
    }

    #[tokio::test]
    async fn a_reply_keeps_each_lines_text() {
        let mut input: &[u8] = b"250-mail.example.com\r\n250-STARTTLS\r\n250 AUTH PLAIN\r\n";
        let (code, lines) = reply(&mut input).await.unwrap();
        assert_eq!(code, 250);
        assert_eq!(lines, ["mail.example.com", "STARTTLS", "AUTH PLAIN"]);
    }
}
