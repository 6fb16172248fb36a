//! A run phase's log as HTML. Runs with structured output log terraform's JSON lines: each
//! becomes its human message, styled by level (and summaries in bold), as HCP Terraform's UI
//! shows them; other lines (plain or ANSI-coloured text) go through [`super::ansi`]. Pure.

use serde_json::Value;

use super::ansi;

/// `log` as HTML, escaped.
pub fn to_html(log: &str) -> String {
    let mut out = String::with_capacity(log.len());
    for line in log.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\n', '\r']);
        match structured(bare) {
            Some((classes, message)) => {
                out.push_str(&format!(
                    "<span class=\"{classes}\">{}</span>\n",
                    ansi::to_html(&message)
                ));
            }
            None => out.push_str(&ansi::to_html(line)),
        }
    }
    out
}

/// A JSON log line's classes and message.
fn structured(line: &str) -> Option<(String, String)> {
    if !line.starts_with('{') {
        return None;
    }
    let doc: Value = serde_json::from_str(line).ok()?;
    let message = doc.get("@message")?.as_str()?.to_string();
    let level = match doc.get("@level").and_then(Value::as_str) {
        Some("error") => "log-error",
        Some("warn") => "log-warn",
        _ => "log-info",
    };
    let summary = matches!(
        doc.get("type").and_then(Value::as_str),
        Some("change_summary" | "apply_complete" | "outputs")
    );
    let classes = if summary {
        format!("{level} log-summary")
    } else {
        level.to_string()
    };
    Some((classes, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_become_their_messages() {
        let log = concat!(
            "{\"@level\":\"info\",\"@message\":\"Terraform 1.11.4\",\"type\":\"version\"}\n",
            "{\"@level\":\"info\",\"@message\":\"Plan: 1 to add, 0 to change, 0 to destroy.\",\"type\":\"change_summary\"}\n",
            "{\"@level\":\"error\",\"@message\":\"Error: <bad> & worse\",\"type\":\"diagnostic\"}\n",
            "plain text line\n",
        );
        assert_eq!(
            to_html(log),
            "<span class=\"log-info\">Terraform 1.11.4</span>\n\
             <span class=\"log-info log-summary\">Plan: 1 to add, 0 to change, 0 to destroy.</span>\n\
             <span class=\"log-error\">Error: &lt;bad&gt; &amp; worse</span>\n\
             plain text line\n"
        );
    }

    #[test]
    fn lines_that_are_not_terraform_json_stay_text() {
        assert_eq!(to_html("{not json}\n"), "{not json}\n");
        assert_eq!(to_html("{\"a\":1}"), "{&quot;a&quot;:1}");
    }
}
