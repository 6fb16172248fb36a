//! Terraform variables as `-var-file` files (notes §6.6). The server sends them already merged
//! into files in precedence order; later files override earlier ones, and all of them override
//! the configuration's own `*.auto.tfvars` / `terraform.tfvars`. Never `-var`: for a string
//! variable, `-var 'k="hi"'` would keep the quotes.

use std::collections::BTreeMap;

use terrace_protocol::VarFile;

/// A rendered file and the warnings for the job log.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Rendered {
    pub content: String,
    pub warnings: Vec<String>,
}

/// `key = value` lines. HCL values are written as they are (an invalid one fails the plan, as
/// on HCP); others become quoted HCL strings. A key appears once (HCL rejects a duplicate
/// attribute): the last one wins.
pub(crate) fn render(file: &VarFile) -> Rendered {
    let mut rendered = Rendered::default();
    let mut values: BTreeMap<&str, String> = BTreeMap::new();
    for var in &file.variables {
        if !is_identifier(&var.key) {
            // Such a key makes the whole file unparseable, and no `variable` block could
            // declare it anyway.
            rendered.warnings.push(format!(
                "Warning: skipped the variable {:?} of {}: not a valid Terraform variable name",
                var.key, file.name
            ));
            continue;
        }
        let value = if var.hcl {
            var.value.clone()
        } else {
            quote(&var.value)
        };
        values.insert(&var.key, value);
    }
    for (key, value) in values {
        rendered.content.push_str(key);
        rendered.content.push_str(" = ");
        rendered.content.push_str(&value);
        rendered.content.push('\n');
    }
    rendered
}

/// `^[A-Za-z_][A-Za-z0-9_-]*$`: the names HCL accepts as attribute names.
pub(crate) fn is_identifier(key: &str) -> bool {
    let mut chars = key.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A quoted HCL string that reads back as exactly `value`: escapes as hclwrite does, with
/// template introducers doubled (`${` → `$${`, `%{` → `%%{`) so they stay literal.
pub(crate) fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' | '%' => {
                out.push(c);
                if chars.peek() == Some(&'{') {
                    out.push(c);
                }
            }
            // Other control characters are not allowed raw in a quoted string.
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A safe file name for a var file: the server's name if it is a plain one, else a generic one.
pub(crate) fn file_name(name: &str, index: usize, taken: &[String]) -> String {
    let plain = !name.is_empty()
        && name != "."
        && name != ".."
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if plain && !taken.iter().any(|t| t == name) {
        name.to_string()
    } else {
        format!("terrace-{index}.tfvars")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use terrace_protocol::TerraformVar;

    fn var(key: &str, value: &str, hcl: bool) -> TerraformVar {
        TerraformVar {
            key: key.into(),
            value: value.into(),
            hcl,
        }
    }

    /// Reads a quoted HCL string back the way HCL does (the subset `quote` produces).
    fn unquote(s: &str) -> String {
        let inner = &s[1..s.len() - 1];
        let chars: Vec<char> = inner.chars().collect();
        let mut out = String::new();
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '\\' => {
                    i += 1;
                    match chars[i] {
                        'n' => out.push('\n'),
                        'r' => out.push('\r'),
                        't' => out.push('\t'),
                        '\\' => out.push('\\'),
                        '"' => out.push('"'),
                        'u' => {
                            let hex: String = chars[i + 1..i + 5].iter().collect();
                            out.push(
                                char::from_u32(u32::from_str_radix(&hex, 16).unwrap()).unwrap(),
                            );
                            i += 4;
                        }
                        other => panic!("unexpected escape \\{other}"),
                    }
                }
                c @ ('$' | '%')
                    if chars.get(i + 1) == Some(&c) && chars.get(i + 2) == Some(&'{') =>
                {
                    out.push(c);
                    out.push('{');
                    i += 2;
                }
                c @ ('$' | '%') if chars.get(i + 1) == Some(&'{') => {
                    panic!("unescaped template introducer {c}{{ in {s}")
                }
                '"' => panic!("unescaped quote in {s}"),
                c if c.is_control() => panic!("raw control character in {s}"),
                c => out.push(c),
            }
            i += 1;
        }
        out
    }

    #[test]
    fn strings_are_escaped() {
        assert_eq!(quote("plain"), r#""plain""#);
        assert_eq!(
            quote("a \"q\" \\ ${x} %{y}\nz"),
            r#""a \"q\" \\ $${x} %%{y}\nz""#
        );
        assert_eq!(quote("\r\t"), r#""\r\t""#);
        assert_eq!(quote("$ % $$ {"), r#""$ % $$ {""#);
        assert_eq!(quote("\u{1}"), r#""\u0001""#);
        // As hclwrite: each `$` before a `{` is doubled, earlier ones stay.
        assert_eq!(quote("$${x}"), r#""$$${x}""#);
    }

    #[test]
    fn quoted_strings_read_back_unchanged() {
        for value in [
            "",
            "hello",
            "a \"q\" \\ ${x} %{y}\n",
            "$${literal}",
            "%%{x}",
            "${${}}",
            "trailing $",
            "trailing %",
            "\\n is not a newline",
            "tabs\tand\rreturns\u{7f}\u{0}",
            "unicode: héllo ✓ 🎉",
        ] {
            assert_eq!(unquote(&quote(value)), value, "value {value:?}");
        }
    }

    #[test]
    fn files_have_one_line_per_key_last_wins() {
        let file = VarFile {
            name: "workspace.tfvars".into(),
            variables: vec![
                var("region", "us-east-1", false),
                var("count_", "3", true),
                var("region", "eu-west-1", false),
                var("list", "[\"a\", \"b\"]", true),
            ],
        };
        let rendered = render(&file);
        assert_eq!(
            rendered.content,
            "count_ = 3\nlist = [\"a\", \"b\"]\nregion = \"eu-west-1\"\n"
        );
        assert!(rendered.warnings.is_empty());
    }

    #[test]
    fn keys_that_are_not_identifiers_are_skipped_with_a_warning() {
        let file = VarFile {
            name: "run.tfvars".into(),
            variables: vec![
                var("0f8c1d7e-uuid", "\"x\"", true),
                var("has space", "x", false),
                var("", "x", false),
                var("dash-ok", "x", false),
                var("_under", "x", false),
                var("bad\nkey = \"injected\"", "x", false),
            ],
        };
        let rendered = render(&file);
        assert_eq!(rendered.content, "_under = \"x\"\ndash-ok = \"x\"\n");
        assert_eq!(rendered.warnings.len(), 4);
        assert!(rendered.warnings[0].contains("0f8c1d7e-uuid"));
        assert!(rendered.warnings[0].contains("run.tfvars"));
        // The warning is one line even for a key with a newline.
        assert!(rendered.warnings.iter().all(|w| !w.contains('\n')));
    }

    #[test]
    fn identifiers() {
        for ok in ["a", "A_b-c9", "_", "_1"] {
            assert!(is_identifier(ok), "{ok}");
        }
        for bad in ["", "1a", "-a", "a.b", "a b", "é", "a$"] {
            assert!(!is_identifier(bad), "{bad}");
        }
    }

    #[test]
    fn file_names_are_plain() {
        assert_eq!(file_name("run.tfvars", 1, &[]), "run.tfvars");
        assert_eq!(file_name("../x", 1, &[]), "terrace-1.tfvars");
        assert_eq!(file_name("a/b", 2, &[]), "terrace-2.tfvars");
        assert_eq!(file_name("..", 0, &[]), "terrace-0.tfvars");
        assert_eq!(
            file_name("run.tfvars", 3, &["run.tfvars".to_string()]),
            "terrace-3.tfvars"
        );
    }
}
