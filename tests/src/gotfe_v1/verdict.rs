//! The verdict of a run against the expectation file, the file rewritten from a run
//! (GOTFE_V1_WRITE), and the tally by resource group for docs/compatibility.md.

use std::collections::BTreeMap;
use std::fmt;

use super::expectations::{Expect, Expectations, Line, ReasonClass, Rule};
use super::outcome::{Outcome, TestRun};

/// Something that fails the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A test in the binary that no rule names.
    NoRule(String),
    /// An exact rule for a test the binary does not have.
    UnknownTest(String),
    /// A prefix rule that names no test of the binary.
    EmptyPrefix(String),
    /// An expected pass that did not pass.
    DidNotPass(String, Outcome),
    /// A test listed as not applicable that passes: its reason no longer holds.
    NowPasses(String),
    /// A test whose reason nobody wrote yet.
    Unreviewed(String),
}

impl Problem {
    /// The test whose output explains the problem, if it ran.
    pub fn test(&self) -> Option<&str> {
        match self {
            Problem::DidNotPass(t, _) | Problem::Unreviewed(t) => Some(t),
            _ => None,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::NoRule(t) => write!(f, "{t}: no rule names it (add a line)"),
            Problem::UnknownTest(t) => write!(f, "{t}: the rule names no test of this go-tfe"),
            Problem::EmptyPrefix(t) => write!(f, "{t}*: the prefix names no test of this go-tfe"),
            Problem::DidNotPass(t, o) => write!(f, "{t}: expected to pass, {o}"),
            Problem::NowPasses(t) => write!(f, "{t}: now passes: move it to pass"),
            Problem::Unreviewed(t) => write!(f, "{t}: unreviewed: write the reason"),
        }
    }
}

/// Everything that is wrong with a run of `runs` (a subset of `all`, the binary's tests).
pub fn problems(
    expectations: &Expectations,
    all: &[String],
    runs: &BTreeMap<String, TestRun>,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    for rule in expectations.rules() {
        if !all.iter().any(|t| rule.matches(t)) {
            problems.push(if rule.prefix {
                Problem::EmptyPrefix(rule.name.clone())
            } else {
                Problem::UnknownTest(rule.name.clone())
            });
        }
    }
    for test in all {
        let Some(rule) = expectations.rule_for(test) else {
            problems.push(Problem::NoRule(test.clone()));
            continue;
        };
        let Some(run) = runs.get(test) else { continue };
        match (&rule.expect, run.outcome) {
            (Expect::Pass, Outcome::Pass) => {}
            (Expect::Pass, other) => problems.push(Problem::DidNotPass(test.clone(), other)),
            (Expect::NotApplicable(_), Outcome::Pass) => {
                problems.push(Problem::NowPasses(test.clone()))
            }
            (Expect::NotApplicable(_), _)
                if rule.reason_class() == Some(ReasonClass::Unreviewed) =>
            {
                problems.push(Problem::Unreviewed(test.clone()))
            }
            (Expect::NotApplicable(_), _) => {}
        }
    }
    problems
}

/// The expectation file updated from `runs`: a listed test that now passes becomes a pass
/// (its exact line turns to pass; under a prefix it gets an exact pass line), rules naming
/// nothing are dropped, and a test no rule names is added: as a pass, or as `unreviewed`
/// with its first error when it does not pass. An expected pass that fails is never turned
/// into n/a: it is one of the notes, for a person to fix or explain.
pub fn rewrite(
    expectations: &Expectations,
    all: &[String],
    runs: &BTreeMap<String, TestRun>,
) -> (Expectations, Vec<String>) {
    let mut notes = Vec::new();
    let passed = |t: &str| runs.get(t).is_some_and(|r| r.outcome == Outcome::Pass);
    // Tests passing under a prefix n/a rule, by that prefix.
    let mut passes_under: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut unnamed = Vec::new();
    for test in all.iter().filter(|t| runs.contains_key(*t)) {
        match expectations.rule_for(test) {
            None => unnamed.push(test.as_str()),
            Some(rule) => match (&rule.expect, passed(test)) {
                (Expect::NotApplicable(_), true) if rule.prefix => {
                    notes.push(format!("{test}: now passes (was under {}*)", rule.name));
                    passes_under.entry(&rule.name).or_default().push(test);
                }
                (Expect::NotApplicable(_), true) => notes.push(format!("{test}: now passes")),
                (Expect::Pass, false) => notes.push(format!(
                    "{test}: expected to pass, {}: left as pass, fix it or write its reason",
                    runs[test].outcome
                )),
                _ => {}
            },
        }
    }

    let mut lines = Vec::new();
    for line in &expectations.lines {
        let rule = match line {
            Line::Comment(_) => {
                lines.push(line.clone());
                continue;
            }
            Line::Rule(rule) => rule,
        };
        if !all.iter().any(|t| rule.matches(t)) {
            notes.push(format!("{rule}: names no test, dropped"));
            continue;
        }
        if !rule.prefix && matches!(rule.expect, Expect::NotApplicable(_)) && passed(&rule.name) {
            lines.push(Line::Rule(pass(&rule.name)));
            continue;
        }
        lines.push(line.clone());
        if rule.prefix {
            for test in passes_under.get(rule.name.as_str()).into_iter().flatten() {
                lines.push(Line::Rule(pass(test)));
            }
        }
    }
    unnamed.sort_unstable();
    if !unnamed.is_empty() {
        lines.push(Line::Comment(
            "# Added by GOTFE_V1_WRITE: move these to their group.".into(),
        ));
    }
    for test in unnamed {
        let run = &runs[test];
        let rule = if run.outcome == Outcome::Pass {
            pass(test)
        } else {
            let reason = format!("unreviewed: {}: {}", run.outcome, run.first_error());
            notes.push(format!("{test}: new, {reason}"));
            Rule {
                name: test.to_string(),
                prefix: false,
                expect: Expect::NotApplicable(reason.replace('\t', " ")),
            }
        };
        lines.push(Line::Rule(rule));
    }
    (Expectations { lines }, notes)
}

fn pass(test: &str) -> Rule {
    Rule {
        name: test.to_string(),
        prefix: false,
        expect: Expect::Pass,
    }
}

/// A markdown table of what the file expects, by resource group (`groups`: test name to
/// group, from go-tfe's test file names), with a total line.
pub fn tally_table(
    expectations: &Expectations,
    all: &[String],
    groups: &BTreeMap<String, String>,
) -> String {
    const OTHER: &str = "(no rule)";
    let columns: Vec<&str> = std::iter::once("pass")
        .chain(ReasonClass::ALL.iter().map(|c| c.label()))
        .chain([OTHER])
        .collect();
    let mut counts: BTreeMap<&str, BTreeMap<&str, usize>> = BTreeMap::new();
    for test in all {
        let group = groups.get(test).map_or("(unknown)", String::as_str);
        let column = match expectations.rule_for(test) {
            None => OTHER,
            Some(rule) => rule.reason_class().map_or("pass", ReasonClass::label),
        };
        *counts.entry(group).or_default().entry(column).or_default() += 1;
        *counts
            .entry("**total**")
            .or_default()
            .entry(column)
            .or_default() += 1;
    }
    // Only the columns some test falls in.
    let used: Vec<&str> = columns
        .into_iter()
        .filter(|c| counts.values().any(|row| row.contains_key(c)))
        .collect();
    let mut out = format!("| group | tests | {} |\n", used.join(" | "));
    out.push_str(&format!("|---|--:|{}\n", "--:|".repeat(used.len())));
    let total = counts.remove("**total**").unwrap_or_default();
    for (group, row) in counts.iter().chain([(&"**total**", &total)]) {
        let cells: Vec<String> = used
            .iter()
            .map(|c| row.get(c).map_or(String::new(), usize::to_string))
            .collect();
        out.push_str(&format!(
            "| {group} | {} | {} |\n",
            row.values().sum::<usize>(),
            cells.join(" | ")
        ));
    }
    out
}

/// How many tests of a run ended how, and how many listed n/a tests fall in each class.
pub fn run_tally(expectations: &Expectations, runs: &BTreeMap<String, TestRun>) -> String {
    let mut outcomes: BTreeMap<Outcome, usize> = BTreeMap::new();
    let mut classes: BTreeMap<ReasonClass, usize> = BTreeMap::new();
    let mut passes = 0;
    for (test, run) in runs {
        *outcomes.entry(run.outcome).or_default() += 1;
        match expectations.rule_for(test).map(|r| (r.reason_class(), r)) {
            Some((Some(class), _)) => *classes.entry(class).or_default() += 1,
            Some((None, _)) => passes += 1,
            None => {}
        }
    }
    let outcomes: Vec<String> = outcomes.iter().map(|(o, n)| format!("{n} {o}")).collect();
    let classes: Vec<String> = classes
        .iter()
        .map(|(c, n)| format!("{n} {}", c.label()))
        .collect();
    format!(
        "{} tests ran: {}\nexpected: {passes} pass; n/a: {}",
        runs.len(),
        outcomes.join(", "),
        if classes.is_empty() {
            "none".to_string()
        } else {
            classes.join(", ")
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(name: &str, outcome: Outcome) -> (String, TestRun) {
        let log = match outcome {
            Outcome::Pass => format!("--- PASS: {name} (0.1s)\n"),
            Outcome::Skip => format!("--- SKIP: {name} (0.1s)\n"),
            Outcome::Fail => format!("    x_test.go:3: it broke\n--- FAIL: {name} (0.1s)\n"),
            Outcome::Panic => "panic: boom\n".into(),
            Outcome::Timeout => String::new(),
        };
        let run = TestRun::new(
            name,
            matches!(outcome, Outcome::Pass | Outcome::Skip),
            outcome == Outcome::Timeout,
            log,
        );
        assert_eq!(run.outcome, outcome);
        (name.to_string(), run)
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    const FILE: &str = "TestPolicy*\tn/a\tHCP-only: Sentinel\n\
        TestRunsList\tpass\n\
        TestRunsRead\tn/a\tgap: no cost estimate\n\
        TestGone\tpass\n\
        TestNothing*\tn/a\tHCP-only: none\n\
        TestNew\tn/a\tunreviewed: fail: it broke\n";

    #[test]
    fn a_run_fails_for_each_broken_expectation() {
        let e = Expectations::parse(FILE).unwrap();
        let all = names(&[
            "TestPolicyChecksList",
            "TestPolicySetsRead",
            "TestRunsList",
            "TestRunsRead",
            "TestNew",
            "TestUnnamed",
        ]);
        let runs: BTreeMap<_, _> = [
            run("TestPolicyChecksList", Outcome::Skip),
            run("TestPolicySetsRead", Outcome::Pass),
            run("TestRunsList", Outcome::Panic),
            run("TestRunsRead", Outcome::Fail),
            run("TestNew", Outcome::Fail),
            run("TestUnnamed", Outcome::Pass),
        ]
        .into_iter()
        .collect();
        let problems = problems(&e, &all, &runs);
        assert_eq!(
            problems,
            vec![
                Problem::UnknownTest("TestGone".into()),
                Problem::EmptyPrefix("TestNothing".into()),
                Problem::NowPasses("TestPolicySetsRead".into()),
                Problem::DidNotPass("TestRunsList".into(), Outcome::Panic),
                Problem::Unreviewed("TestNew".into()),
                Problem::NoRule("TestUnnamed".into()),
            ]
        );
    }

    #[test]
    fn tests_not_run_are_only_checked_for_a_rule() {
        let e = Expectations::parse("TestA\tpass\n").unwrap();
        let all = names(&["TestA", "TestB"]);
        assert_eq!(
            problems(&e, &all, &BTreeMap::new()),
            vec![Problem::NoRule("TestB".into())]
        );
    }

    #[test]
    fn a_rewrite_moves_passes_and_never_hides_a_failure() {
        let e = Expectations::parse(FILE).unwrap();
        let all = names(&[
            "TestPolicyChecksList",
            "TestPolicySetsRead",
            "TestRunsList",
            "TestRunsRead",
            "TestNew",
            "TestZebra",
            "TestAardvark",
        ]);
        let runs: BTreeMap<_, _> = [
            run("TestPolicyChecksList", Outcome::Skip),
            run("TestPolicySetsRead", Outcome::Pass),
            run("TestRunsList", Outcome::Fail),
            run("TestRunsRead", Outcome::Pass),
            run("TestNew", Outcome::Fail),
            run("TestZebra", Outcome::Pass),
            run("TestAardvark", Outcome::Timeout),
        ]
        .into_iter()
        .collect();
        let (rewritten, notes) = rewrite(&e, &all, &runs);
        assert_eq!(
            rewritten.render(),
            "TestPolicy*\tn/a\tHCP-only: Sentinel\n\
             TestPolicySetsRead\tpass\n\
             TestRunsList\tpass\n\
             TestRunsRead\tpass\n\
             TestNew\tn/a\tunreviewed: fail: it broke\n\
             # Added by GOTFE_V1_WRITE: move these to their group.\n\
             TestAardvark\tn/a\tunreviewed: timeout: timeout with no message\n\
             TestZebra\tpass\n"
        );
        let notes = notes.join("\n");
        assert!(notes.contains("TestRunsList: expected to pass, fail: left as pass"));
        assert!(notes.contains("TestGone\tpass: names no test, dropped"));
        // Written back, the file gives the same verdict but for what still needs a person.
        let again = problems(&rewritten, &all, &runs);
        assert_eq!(
            again,
            vec![
                Problem::DidNotPass("TestRunsList".into(), Outcome::Fail),
                Problem::Unreviewed("TestNew".into()),
                Problem::Unreviewed("TestAardvark".into()),
            ]
        );
    }

    #[test]
    fn the_table_counts_by_group_and_class() {
        let e = Expectations::parse(FILE).unwrap();
        let all = names(&["TestPolicyChecksList", "TestRunsList", "TestRunsRead"]);
        let groups: BTreeMap<String, String> = [
            ("TestPolicyChecksList", "policy_check"),
            ("TestRunsList", "run"),
            ("TestRunsRead", "run"),
        ]
        .into_iter()
        .map(|(t, g)| (t.to_string(), g.to_string()))
        .collect();
        assert_eq!(
            tally_table(&e, &all, &groups),
            "| group | tests | pass | HCP-only | server gap |\n\
             |---|--:|--:|--:|--:|\n\
             | policy_check | 1 |  | 1 |  |\n\
             | run | 2 | 1 |  | 1 |\n\
             | **total** | 3 | 1 | 1 | 1 |\n"
        );
    }
}
