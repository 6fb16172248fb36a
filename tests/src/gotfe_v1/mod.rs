//! go-tfe v1's test suite as a standing oracle (tests/tests/gotfe_v1.rs runs it): the
//! expectation file saying which tests must pass and why the others do not apply, what one
//! test's process says about its outcome, and the verdict and tally of a run. Pure functions:
//! the test file starts the server and the processes.

pub mod expectations;
pub mod outcome;
pub mod verdict;

pub use expectations::{Expect, Expectations, ReasonClass, Rule};
pub use outcome::{Outcome, Setting, TestRun};
pub use verdict::{problems, rewrite, run_tally, tally_table, Problem};
