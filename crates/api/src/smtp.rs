//! A minimal SMTP client for e-mail notifications: EHLO, AUTH PLAIN or LOGIN, MAIL, RCPT and
//! DATA (dot-stuffed), QUIT, to the one address the domain checked, bounded in time. No
//! STARTTLS: the SMTP server is expected on a trusted network (or a local relay), and the
//! documentation says so.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use terrace_domain::notifications::email::{Mail, SmtpAuth, SmtpServer};
use tokio::io::{AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// The whole conversation, from connecting to QUIT.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Sends `mail` through `server`; the error names the step and the server's answer.
pub async fn send(server: &SmtpServer, mail: &Mail) -> Result<(), String> {
    tokio::time::timeout(TIMEOUT, conversation(server, mail))
        .await
        .map_err(|_| format!("the SMTP server {} did not finish in time", server.host))?
}

async fn conversation(server: &SmtpServer, mail: &Mail) -> Result<(), String> {
    let stream = TcpStream::connect(server.addr)
        .await
        .map_err(|e| format!("cannot connect to {} ({}): {e}", server.host, server.addr))?;
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut step = async |command: Option<String>, what: &str, expect: u16| {
        if let Some(command) = command {
            write_all(&mut write, command.as_bytes()).await?;
        }
        let (code, text) = reply(&mut read).await?;
        if code / 100 != expect / 100 {
            return Err(format!("{what}: the SMTP server answered {code} {text}"));
        }
        Ok::<(), String>(())
    };
    step(None, "greeting", 220).await?;
    step(Some("EHLO terrace\r\n".into()), "EHLO", 250).await?;
    match server.auth {
        SmtpAuth::None => {}
        SmtpAuth::Plain => {
            let token = STANDARD.encode(format!("\0{}\0{}", server.username, server.password));
            step(Some(format!("AUTH PLAIN {token}\r\n")), "AUTH PLAIN", 235).await?;
        }
        SmtpAuth::Login => {
            step(Some("AUTH LOGIN\r\n".into()), "AUTH LOGIN", 334).await?;
            let user = STANDARD.encode(&server.username);
            step(Some(format!("{user}\r\n")), "AUTH LOGIN username", 334).await?;
            let password = STANDARD.encode(&server.password);
            step(Some(format!("{password}\r\n")), "AUTH LOGIN password", 235).await?;
        }
    }
    let from = format!("MAIL FROM:<{}>\r\n", server.sender);
    step(Some(from), "MAIL FROM", 250).await?;
    step(Some(format!("RCPT TO:<{}>\r\n", mail.to)), "RCPT TO", 250).await?;
    step(Some("DATA\r\n".into()), "DATA", 354).await?;
    let message = message(&server.sender, mail);
    step(Some(message), "the message", 250).await?;
    // The mail is accepted; a failed QUIT changes nothing.
    let _ = step(Some("QUIT\r\n".into()), "QUIT", 221).await;
    Ok(())
}

async fn write_all(write: &mut (impl AsyncWrite + Unpin), bytes: &[u8]) -> Result<(), String> {
    write
        .write_all(bytes)
        .await
        .map_err(|e| format!("writing to the SMTP server: {e}"))
}

/// One reply (its lines `NNN-...` up to `NNN ...`): the code and the last line's text.
async fn reply(read: &mut (impl AsyncBufReadExt + Unpin)) -> Result<(u16, String), String> {
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
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok((code, line.get(4..).unwrap_or("").to_string()));
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
}
