//! The expectation file, tests/gotfe-v1/expected.tsv: one rule a line,
//! `NAME<TAB>pass` or `NAME<TAB>n/a<TAB>REASON`, where NAME is a test's exact name or a
//! prefix ending in `*`. For a test the most specific rule wins: its exact rule, else the
//! longest prefix. Lines starting with `#` and blank lines are comments, kept on rewrite.

use std::fmt;

/// What a rule expects of the tests it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    Pass,
    /// Does not apply to Terrace (yet), for the reason given.
    NotApplicable(String),
}

/// Why a test does not apply, from the start of its reason. The start is fixed so the
/// tally can count by class and nobody writes "fails" as a reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ReasonClass {
    /// `HCP-only: SERVICE`: a service of HashiCorp's own platform (Sentinel, cost
    /// estimation, HYOK, Stacks, GitHub App, ...) that Terrace does not offer.
    HcpOnly,
    /// `arrives with CAPABILITY (issue N)`: an open issue brings it.
    Arrives,
    /// `skips without ENV`: the suite skips it in this setup (a credential or service the
    /// harness does not have, a feature flag, HCP Terraform rather than TFE).
    Skips,
    /// `gap: WHAT`: the server does not do it (yet), and no open issue names it.
    Gap,
    /// `outside: WHY`: not about the server (a client unit test that needs the internet).
    Outside,
    /// `unreviewed: ...`: written by GOTFE_V1_WRITE for a new test that does not pass;
    /// fails the run until a person writes the real reason.
    Unreviewed,
}

impl ReasonClass {
    const PREFIXES: [(&'static str, ReasonClass); 6] = [
        ("HCP-only: ", ReasonClass::HcpOnly),
        ("arrives with ", ReasonClass::Arrives),
        ("skips without ", ReasonClass::Skips),
        ("gap: ", ReasonClass::Gap),
        ("outside: ", ReasonClass::Outside),
        ("unreviewed: ", ReasonClass::Unreviewed),
    ];

    pub fn of(reason: &str) -> Option<ReasonClass> {
        Self::PREFIXES
            .iter()
            .find(|(prefix, _)| reason.starts_with(prefix))
            .map(|(_, class)| *class)
    }

    pub fn label(self) -> &'static str {
        match self {
            ReasonClass::HcpOnly => "HCP-only",
            ReasonClass::Arrives => "arrives with an issue",
            ReasonClass::Skips => "skips here",
            ReasonClass::Gap => "server gap",
            ReasonClass::Outside => "outside the server",
            ReasonClass::Unreviewed => "unreviewed",
        }
    }

    pub const ALL: [ReasonClass; 6] = [
        ReasonClass::HcpOnly,
        ReasonClass::Arrives,
        ReasonClass::Skips,
        ReasonClass::Gap,
        ReasonClass::Outside,
        ReasonClass::Unreviewed,
    ];
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The test name, or the prefix without its `*`.
    pub name: String,
    pub prefix: bool,
    pub expect: Expect,
}

impl Rule {
    pub fn matches(&self, test: &str) -> bool {
        if self.prefix {
            test.starts_with(&self.name)
        } else {
            test == self.name
        }
    }

    pub fn reason_class(&self) -> Option<ReasonClass> {
        match &self.expect {
            Expect::Pass => None,
            Expect::NotApplicable(reason) => ReasonClass::of(reason),
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let star = if self.prefix { "*" } else { "" };
        match &self.expect {
            Expect::Pass => write!(f, "{}{star}\tpass", self.name),
            Expect::NotApplicable(reason) => write!(f, "{}{star}\tn/a\t{reason}", self.name),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Line {
    Comment(String),
    Rule(Rule),
}

/// The parsed file, in its order (so a rewrite keeps comments and grouping).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectations {
    pub(crate) lines: Vec<Line>,
}

impl Expectations {
    /// Parses the file; every malformed line is reported with its number.
    pub fn parse(text: &str) -> Result<Expectations, Vec<String>> {
        let mut lines = Vec::new();
        let mut errors = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let number = i + 1;
            if raw.trim().is_empty() || raw.starts_with('#') {
                lines.push(Line::Comment(raw.to_string()));
                continue;
            }
            match parse_rule(raw) {
                Ok(rule) => {
                    let duplicate = lines.iter().any(|l| match l {
                        Line::Rule(r) => r.name == rule.name && r.prefix == rule.prefix,
                        Line::Comment(_) => false,
                    });
                    if duplicate {
                        errors.push(format!("line {number}: a second rule for {raw:?}"));
                    }
                    lines.push(Line::Rule(rule));
                }
                Err(e) => errors.push(format!("line {number}: {e}: {raw:?}")),
            }
        }
        if errors.is_empty() {
            Ok(Expectations { lines })
        } else {
            Err(errors)
        }
    }

    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.lines.iter().filter_map(|l| match l {
            Line::Rule(r) => Some(r),
            Line::Comment(_) => None,
        })
    }

    /// The rule for `test`: its exact rule, else the longest matching prefix.
    pub fn rule_for(&self, test: &str) -> Option<&Rule> {
        let mut best: Option<&Rule> = None;
        for rule in self.rules().filter(|r| r.matches(test)) {
            if !rule.prefix {
                return Some(rule);
            }
            if best.is_none_or(|b| rule.name.len() > b.name.len()) {
                best = Some(rule);
            }
        }
        best
    }

    /// The file's text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for line in &self.lines {
            match line {
                Line::Comment(c) => out.push_str(c),
                Line::Rule(r) => out.push_str(&r.to_string()),
            }
            out.push('\n');
        }
        out
    }
}

fn parse_rule(raw: &str) -> Result<Rule, String> {
    let fields: Vec<&str> = raw.split('\t').collect();
    let (pattern, expect) = match fields.as_slice() {
        [pattern, "pass"] => (*pattern, Expect::Pass),
        [pattern, "n/a", reason] => {
            let reason = reason.trim();
            if ReasonClass::of(reason).is_none() {
                let starts: Vec<&str> = ReasonClass::PREFIXES.iter().map(|(p, _)| *p).collect();
                return Err(format!("a reason starts with one of {starts:?}"));
            }
            (*pattern, Expect::NotApplicable(reason.to_string()))
        }
        _ => return Err("expected NAME<TAB>pass or NAME<TAB>n/a<TAB>REASON".into()),
    };
    let (name, prefix) = match pattern.strip_suffix('*') {
        Some(name) => (name, true),
        None => (pattern, false),
    };
    let valid =
        name.starts_with("Test") && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err("NAME is a Go test name (Test...), maybe ending in *".into());
    }
    Ok(Rule {
        name: name.to_string(),
        prefix,
        expect,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "# go-tfe v1\n\
        TestPolicy*\tn/a\tHCP-only: Sentinel\n\
        TestPolicySetVersions*\tn/a\tarrives with policy sets (issue 99)\n\
        TestPolicySetVersionsRead\tpass\n\
        \n\
        TestWorkspacesList\tpass\n";

    #[test]
    fn the_most_specific_rule_wins() {
        let e = Expectations::parse(FILE).unwrap();
        let expect = |t: &str| e.rule_for(t).map(|r| r.expect.clone());
        assert_eq!(expect("TestPolicySetVersionsRead"), Some(Expect::Pass));
        assert_eq!(
            expect("TestPolicySetVersionsList"),
            Some(Expect::NotApplicable(
                "arrives with policy sets (issue 99)".into()
            ))
        );
        assert_eq!(
            expect("TestPolicyChecksList"),
            Some(Expect::NotApplicable("HCP-only: Sentinel".into()))
        );
        assert_eq!(expect("TestWorkspacesList"), Some(Expect::Pass));
        // An exact rule names one test only.
        assert_eq!(expect("TestWorkspacesListWithOptions"), None);
        assert_eq!(expect("TestRunsList"), None);
    }

    #[test]
    fn rendering_gives_back_the_file() {
        let e = Expectations::parse(FILE).unwrap();
        assert_eq!(e.render(), FILE);
    }

    #[test]
    fn malformed_lines_are_reported_with_their_number() {
        let errors = Expectations::parse(
            "TestA\tpass\n\
             TestB\tfails\n\
             TestC\tn/a\tbroken somehow\n\
             TestD\tn/a\n\
             Foo*\tpass\n\
             Test*E\tpass\n\
             TestA\tn/a\tgap: twice\n",
        )
        .unwrap_err();
        assert_eq!(errors.len(), 6, "{errors:#?}");
        assert!(errors[0].starts_with("line 2: expected NAME"));
        assert!(errors[1].starts_with("line 3: a reason starts with"));
        assert!(errors[2].starts_with("line 4: expected NAME"));
        assert!(errors[3].starts_with("line 5: NAME is a Go test name"));
        assert!(errors[4].starts_with("line 6: NAME is a Go test name"));
        assert!(errors[5].starts_with("line 7: a second rule"));
    }

    #[test]
    fn reasons_are_classed_by_how_they_start() {
        assert_eq!(
            ReasonClass::of("HCP-only: HYOK"),
            Some(ReasonClass::HcpOnly)
        );
        assert_eq!(
            ReasonClass::of("arrives with the registry (issue 12)"),
            Some(ReasonClass::Arrives)
        );
        assert_eq!(
            ReasonClass::of("skips without GITHUB_TOKEN"),
            Some(ReasonClass::Skips)
        );
        assert_eq!(
            ReasonClass::of("gap: no query filter"),
            Some(ReasonClass::Gap)
        );
        assert_eq!(ReasonClass::of("does not work"), None);
    }
}
