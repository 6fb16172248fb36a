//! Markdown (a configuration's README) as HTML for a page: CommonMark with tables and
//! strikethrough. Raw HTML in it is shown as text, links go only to http(s), mailto and
//! relative targets, and images are not loaded (their text is shown instead), so a README
//! can neither run script nor make a reader's browser fetch anything. Its headings start at
//! `h3`, under the page's own.

use pulldown_cmark::{CowStr, Event, HeadingLevel, Options, Parser, Tag, TagEnd};

/// A README as the pages show it: where it is, its HTML, and whether it was cut short.
pub fn readme_view(readme: terrace_domain::configuration::readme::Readme) -> minijinja::Value {
    minijinja::context! {
        path => readme.path,
        truncated => readme.truncated,
        html => minijinja::Value::from_safe_string(to_html(&readme.markdown)),
    }
}

pub fn to_html(markdown: &str) -> String {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    let events = Parser::new_ext(markdown, options).map(|event| match event {
        Event::Html(html) | Event::InlineHtml(html) => Event::Text(html),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            link_type,
            dest_url: if allowed_link(&dest_url) {
                dest_url
            } else {
                CowStr::Borrowed("#")
            },
            title,
            id,
        }),
        Event::Start(Tag::Image { .. }) => Event::Start(Tag::Emphasis),
        Event::End(TagEnd::Image) => Event::End(TagEnd::Emphasis),
        Event::Start(Tag::Heading {
            level,
            id,
            classes,
            attrs,
        }) => Event::Start(Tag::Heading {
            level: below_page(level),
            id,
            classes,
            attrs,
        }),
        Event::End(TagEnd::Heading(level)) => Event::End(TagEnd::Heading(below_page(level))),
        other => other,
    });
    let mut html = String::with_capacity(markdown.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut html, events);
    html
}

/// A heading two levels down (the page has its `h1` and the README section's `h2`).
fn below_page(level: HeadingLevel) -> HeadingLevel {
    use HeadingLevel::*;
    match level {
        H1 => H3,
        H2 => H4,
        H3 => H5,
        _ => H6,
    }
}

/// Whether a link may keep its target: a relative one, or http(s) and mailto. Browsers ignore
/// whitespace and control characters in a scheme (`java\tscript:`), so they are ignored here.
fn allowed_link(url: &str) -> bool {
    let plain: String = url
        .chars()
        .filter(|c| !c.is_ascii_whitespace() && !c.is_control())
        .collect::<String>()
        .to_ascii_lowercase();
    let scheme_end = plain.find(':');
    let path_start = plain.find(['/', '?', '#']);
    match (scheme_end, path_start) {
        // No scheme: relative.
        (None, _) => true,
        (Some(colon), Some(slash)) if slash < colon => true,
        (Some(colon), _) => matches!(&plain[..colon], "http" | "https" | "mailto"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_readme_renders_without_its_html_script_links_or_images() {
        let html = to_html(
            "# Network\n\nSee [docs](https://example.com/x) and [local](docs/a.md).\n\n\
             <script>alert(1)</script>\n\n[bad](javascript:alert(1)) [worse](JavaScript:alert(2))\n\n\
             ![tracker](https://tracker.example/p.png)\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
        );
        assert!(html.contains("<h3>Network</h3>"), "{html}");
        assert!(
            html.contains("<a href=\"https://example.com/x\">docs</a>"),
            "{html}"
        );
        assert!(html.contains("<a href=\"docs/a.md\">local</a>"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.to_lowercase().contains("href=\"javascript"), "{html}");
        assert!(
            html.contains("<a href=\"#\">bad</a> <a href=\"#\">worse</a>"),
            "{html}"
        );
        assert!(
            !html.contains("<img") && html.contains("<em>tracker</em>"),
            "{html}"
        );
        assert!(html.contains("<table>"), "{html}");
    }

    #[test]
    fn only_web_and_mail_schemes_are_linked() {
        for (url, allowed) in [
            ("https://x.example", true),
            ("HTTP://x.example", true),
            ("mailto:a@b.example", true),
            ("docs/a.md", true),
            ("#usage", true),
            ("./a:b", true),
            ("javascript:alert(1)", false),
            (" JavaScript:alert(1)", false),
            ("data:text/html,x", false),
            ("vbscript:x", false),
        ] {
            assert_eq!(allowed_link(url), allowed, "{url}");
        }
    }
}
