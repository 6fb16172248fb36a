//! Terraform's logs as HTML: the ANSI colour and bold codes of its human output become
//! `<span>`s with classes (the stylesheet gives them colours that read in both themes), every
//! other escape sequence is dropped, and the text is HTML-escaped. A pure function.

/// `text` with its SGR sequences as `<span class="...">`, HTML-escaped.
pub fn to_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let mut open = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                if chars.peek() != Some(&'[') {
                    continue;
                }
                chars.next();
                let mut params = String::new();
                let mut last = None;
                for c in chars.by_ref() {
                    if c.is_ascii_digit() || c == ';' {
                        params.push(c);
                    } else {
                        last = Some(c);
                        break;
                    }
                }
                if last != Some('m') {
                    continue; // cursor movement and the like: nothing to show
                }
                if open {
                    out.push_str("</span>");
                    open = false;
                }
                let classes = classes(&params);
                if !classes.is_empty() {
                    out.push_str(&format!("<span class=\"{}\">", classes.join(" ")));
                    open = true;
                }
            }
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\r' => {}
            c if c.is_control() && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    if open {
        out.push_str("</span>");
    }
    out
}

/// The classes of one SGR sequence's parameters (a reset gives none).
fn classes(params: &str) -> Vec<&'static str> {
    let mut classes = Vec::new();
    for param in params.split(';') {
        let class = match param {
            "1" => "ansi-bold",
            "2" => "ansi-dim",
            "4" => "ansi-underline",
            "31" | "91" => "ansi-red",
            "32" | "92" => "ansi-green",
            "33" | "93" => "ansi-yellow",
            "34" | "94" => "ansi-blue",
            "35" | "95" => "ansi-magenta",
            "36" | "96" => "ansi-cyan",
            _ => continue,
        };
        if !classes.contains(&class) {
            classes.push(class);
        }
    }
    classes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_become_classes_and_resets_close_them() {
        assert_eq!(
            to_html("\u{1b}[0m\u{1b}[1m\u{1b}[32mApply complete!\u{1b}[0m Resources: 1 added."),
            "<span class=\"ansi-bold\"></span><span class=\"ansi-green\">Apply complete!</span> Resources: 1 added."
        );
        assert_eq!(
            to_html("\u{1b}[1;31mError\u{1b}[0m"),
            "<span class=\"ansi-bold ansi-red\">Error</span>"
        );
    }

    #[test]
    fn markup_is_escaped_and_other_escapes_dropped() {
        assert_eq!(
            to_html("<script>alert('x')</script> & \"q\"\u{1b}[2K\r\n"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;\n"
        );
        // An unterminated span is closed; a lone ESC vanishes.
        assert_eq!(
            to_html("\u{1b}[33mwarn\u{1b}"),
            "<span class=\"ansi-yellow\">warn</span>"
        );
    }
}
