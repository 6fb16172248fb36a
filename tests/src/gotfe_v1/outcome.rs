//! What one test's process (`gotfe-v1.test -test.run '^NAME$' -test.v`) says about it.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    Pass,
    Fail,
    Skip,
    Panic,
    Timeout,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // pad, not write_str: the progress lines align on it.
        f.pad(match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Skip => "skip",
            Outcome::Panic => "panic",
            Outcome::Timeout => "timeout",
        })
    }
}

/// One finished test: its outcome and its whole -test.v output.
#[derive(Debug, Clone)]
pub struct TestRun {
    pub name: String,
    pub outcome: Outcome,
    pub log: String,
    /// The suite settings (`ENABLE_TFE=0`, `ENABLE_BETA=1`) this run was made with, beyond
    /// the harness's defaults.
    pub settings: Vec<Setting>,
}

/// An environment variable of go-tfe's suite and its value.
pub type Setting = (&'static str, &'static str);

/// go-tfe's helpers skip a whole test with these messages when the suite runs in the other
/// mode; the harness runs such a test again in the mode it asks for. HCP mode
/// (`ENABLE_TFE=0`) and beta features are what the test exercises, so each test gets the mode
/// it was written for instead of one mode for the whole suite.
const MODE_SKIPS: &[(&str, Setting)] = &[
    ("Set ENABLE_TFE=0 to run.", ("ENABLE_TFE", "0")),
    ("Set ENABLE_BETA=1 to run.", ("ENABLE_BETA", "1")),
];

impl TestRun {
    /// `exited_ok`: the process exited with status 0; `killed`: the harness killed it at
    /// its timeout.
    pub fn new(name: &str, exited_ok: bool, killed: bool, log: String) -> TestRun {
        TestRun {
            name: name.to_string(),
            outcome: classify(name, exited_ok, killed, &log),
            log,
            settings: Vec::new(),
        }
    }

    /// The setting a test skipped as a whole asks for, if it is one the harness gives and
    /// this run did not have (a test may ask for a second one once it has the first).
    pub fn asks_for(&self) -> Option<Setting> {
        if self.outcome != Outcome::Skip {
            return None;
        }
        let skip_line = format!("--- SKIP: {} (", self.name);
        // The reason is logged before the top-level SKIP line (cleanup warnings may follow it).
        self.log
            .lines()
            .take_while(|l| !l.starts_with(&skip_line))
            .filter_map(logged_message)
            .find_map(|reason| {
                MODE_SKIPS
                    .iter()
                    .find(|(message, _)| reason.ends_with(message))
                    .map(|(_, setting)| *setting)
            })
            .filter(|setting| !self.settings.iter().any(|s| s.0 == setting.0))
    }

    /// The last `lines` lines of the output.
    pub fn tail(&self, lines: usize) -> String {
        let all: Vec<&str> = self.log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// The first thing that went wrong, on one line: a testify `Error:` with its
    /// continuation, a panic, or the first message a test logged (a skip's reason).
    pub fn first_error(&self) -> String {
        let lines: Vec<&str> = self.log.lines().collect();
        let found = lines.iter().enumerate().find_map(|(i, line)| {
            let rest = line.trim_start().strip_prefix("Error:")?;
            let more = lines[i + 1..].iter().map_while(|l| continuation(l));
            Some(
                std::iter::once(rest.trim())
                    .chain(more)
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(" "),
            )
        });
        let found = found
            .or_else(|| {
                lines
                    .iter()
                    .find(|l| l.starts_with("panic: "))
                    .map(|l| l.to_string())
            })
            .or_else(|| lines.iter().find_map(|l| logged_message(l)));
        let mut text = found.unwrap_or_else(|| format!("{} with no message", self.outcome));
        if text.len() > 160 {
            let mut end = 160;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            text.push_str("...");
        }
        text
    }
}

/// testify continues a message on lines whose label column is blank: `\t      \tmore`.
fn continuation(line: &str) -> Option<&str> {
    let rest = line.trim_start_matches(' ').strip_prefix('\t')?;
    let (label, text) = rest.split_once('\t')?;
    label.trim().is_empty().then_some(text.trim())
}

/// The message of a `    file_test.go:123: message` line, if it has one.
fn logged_message(line: &str) -> Option<String> {
    let (place, message) = line.trim_start().split_once(": ")?;
    let (file, number) = place.rsplit_once(':')?;
    let is_place = file.ends_with(".go") && number.chars().all(|c| c.is_ascii_digit());
    (is_place && !message.trim().is_empty()).then(|| message.trim().to_string())
}

/// Top-level results are the unindented `--- PASS: NAME (0.01s)` lines; a panic or Go's own
/// -test.timeout ends the process without one.
pub fn classify(name: &str, exited_ok: bool, killed: bool, log: &str) -> Outcome {
    let has = |verb: &str| {
        let start = format!("--- {verb}: {name} (");
        log.lines().any(|l| l.starts_with(&start))
    };
    if killed || log.contains("panic: test timed out after") {
        Outcome::Timeout
    } else if log.lines().any(|l| l.starts_with("panic: ")) {
        Outcome::Panic
    } else if exited_ok && has("PASS") {
        Outcome::Pass
    } else if exited_ok && has("SKIP") {
        Outcome::Skip
    } else {
        // A FAIL line, a crash, or no such test ("testing: warning: no tests to run").
        Outcome::Fail
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSED: &str = "=== RUN   TestA\n--- PASS: TestA (0.10s)\nPASS\n";

    #[test]
    fn the_top_level_line_decides() {
        assert_eq!(classify("TestA", true, false, PASSED), Outcome::Pass);
        // Another test's line (a longer name) is not this test's.
        assert_eq!(
            classify("TestA", true, false, "--- PASS: TestAB (0.1s)\n"),
            Outcome::Fail
        );
        // A passing subtest is indented.
        let sub = "    --- PASS: TestA/x (0.1s)\n--- FAIL: TestA (0.2s)\nFAIL\n";
        assert_eq!(classify("TestA", false, false, sub), Outcome::Fail);
        let skipped = "    helper_test.go:3377: Skipping\n--- SKIP: TestA (0.00s)\nPASS\n";
        assert_eq!(classify("TestA", true, false, skipped), Outcome::Skip);
        let none = "testing: warning: no tests to run\nPASS\n";
        assert_eq!(classify("TestA", true, false, none), Outcome::Fail);
    }

    #[test]
    fn panics_and_hangs_are_their_own_outcomes() {
        let panicked = "--- FAIL: TestA (0.2s)\npanic: runtime error: invalid memory address\n";
        assert_eq!(classify("TestA", false, false, panicked), Outcome::Panic);
        let go_timeout = "panic: test timed out after 2m50s\n\trunning tests:\n";
        assert_eq!(
            classify("TestA", false, false, go_timeout),
            Outcome::Timeout
        );
        assert_eq!(classify("TestA", false, true, ""), Outcome::Timeout);
        // A pass line does not hide a process that did not exit cleanly.
        assert_eq!(classify("TestA", false, false, PASSED), Outcome::Fail);
    }

    #[test]
    fn the_first_error_is_one_line() {
        let log = "=== RUN   TestA\n    a_test.go:9: \n        \tError Trace:\t/x/a_test.go:9\n        \tError:      \tReceived unexpected error:\n        \t            \tresource not found\n        \tTest:       \tTestA\n--- FAIL: TestA (0.1s)\n";
        let run = TestRun::new("TestA", false, false, log.into());
        assert_eq!(
            run.first_error(),
            "Received unexpected error: resource not found"
        );
        let skipped = "=== RUN   TestA\n    helper_test.go:3377: Skipping test that requires GITHUB_TOKEN\n--- SKIP: TestA (0.00s)\n";
        let run = TestRun::new("TestA", true, false, skipped.into());
        assert_eq!(
            run.first_error(),
            "Skipping test that requires GITHUB_TOKEN"
        );
        let run = TestRun::new("TestA", false, true, String::new());
        assert_eq!(run.first_error(), "timeout with no message");
    }

    #[test]
    fn a_test_skipped_for_its_mode_asks_for_it_once() {
        let hcp = "=== RUN   TestA\n    subscription_updater_test.go:99: Cannot upgrade an organization's subscription when enterprise is enabled. Set ENABLE_TFE=0 to run.\n    helper_test.go:1350: Warning: failed to list stacks during cleanup\n--- SKIP: TestA (2.27s)\nPASS\n";
        let mut run = TestRun::new("TestA", true, false, hcp.into());
        assert_eq!(run.asks_for(), Some(("ENABLE_TFE", "0")));
        run.settings.push(("ENABLE_TFE", "0"));
        assert_eq!(run.asks_for(), None, "already had it: a skip for good");

        let beta = "=== RUN   TestA\n    helper_test.go:3406: Skipping test related to a HCP Terraform beta feature. Set ENABLE_BETA=1 to run.\n--- SKIP: TestA (0.00s)\nPASS\n";
        let run = TestRun::new("TestA", true, false, beta.into());
        assert_eq!(run.asks_for(), Some(("ENABLE_BETA", "1")));

        // Other skips, a skipped subtest of a passing test, and failures ask for nothing.
        let github = "=== RUN   TestA\n    helper_test.go:1292: Export a valid OAUTH_CLIENT_GITHUB_TOKEN before running this test!\n--- SKIP: TestA (0.00s)\n";
        assert_eq!(
            TestRun::new("TestA", true, false, github.into()).asks_for(),
            None
        );
        let sub = "=== RUN   TestA/x\n    a_test.go:3: Skipping test related to Terraform Enterprise. Set ENABLE_TFE=0 to run.\n    --- SKIP: TestA/x (0.00s)\n--- PASS: TestA (0.10s)\n";
        assert_eq!(
            TestRun::new("TestA", true, false, sub.into()).asks_for(),
            None
        );
    }
}
