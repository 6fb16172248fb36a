//! Comments on runs, and the run's events read one by one. A comment adds a `commented`
//! event to the run's timeline; both are written together.

use terrace_auth::policy::Action;
use terrace_storage::model::{RunComment, RunEvent};
use terrace_storage::{clock, ids};

use super::event;
use crate::{Caller, DomainError, DomainResult, Services};

/// Comments are prose for people, not payloads.
const MAX_COMMENT_CHARS: usize = 10_000;

impl Services {
    /// Comments on a run: those who may queue runs on its workspace may.
    pub async fn comment_on_run(
        &self,
        caller: &Caller,
        run_id: &str,
        body: &str,
    ) -> DomainResult<RunComment> {
        let (run, _, _, _) = self.run_for(caller, run_id, Action::QueueRun).await?;
        validate_comment(body)?;
        let author_id = caller.user().map(|u| u.id.clone());
        let comment = RunComment {
            id: ids::new_id(ids::RUN_COMMENT),
            run_id: run.id.clone(),
            body: body.to_string(),
            author_id: author_id.clone(),
            created_at: clock::now(),
        };
        let event = RunEvent {
            comment_id: Some(comment.id.clone()),
            ..event(&run.id, "commented", None, author_id)
        };
        self.store.add_run_comment(&comment, &event).await?;
        Ok(comment)
    }

    pub async fn run_comments(
        &self,
        caller: &Caller,
        run_id: &str,
    ) -> DomainResult<Vec<RunComment>> {
        let (run, _, _, _) = self.run_for(caller, run_id, Action::ReadRuns).await?;
        Ok(self.store.run_comments(&run.id).await?)
    }

    pub async fn run_comment(&self, caller: &Caller, id: &str) -> DomainResult<RunComment> {
        const WHAT: &str = "comment";
        let comment = self
            .store
            .run_comment_by_id(id)
            .await?
            .ok_or(DomainError::NotFound(WHAT))?;
        self.run_for(caller, &comment.run_id, Action::ReadRuns)
            .await
            .map_err(|e| hidden_as(e, WHAT))?;
        Ok(comment)
    }

    pub async fn run_event(&self, caller: &Caller, id: &str) -> DomainResult<RunEvent> {
        const WHAT: &str = "run event";
        let event = self
            .store
            .run_event_by_id(id)
            .await?
            .ok_or(DomainError::NotFound(WHAT))?;
        self.run_for(caller, &event.run_id, Action::ReadRuns)
            .await
            .map_err(|e| hidden_as(e, WHAT))?;
        Ok(event)
    }
}

/// What hangs off a hidden run is not found itself.
fn hidden_as(err: DomainError, what: &'static str) -> DomainError {
    match err {
        DomainError::NotFound(_) => DomainError::NotFound(what),
        other => other,
    }
}

/// A comment's body: some prose, not a payload. Actions that carry a comment check it before
/// they act, so a bad one changes nothing.
pub fn validate_comment(body: &str) -> DomainResult<()> {
    if body.trim().is_empty() {
        return Err(DomainError::invalid("body", "a comment needs a body"));
    }
    if body.chars().count() > MAX_COMMENT_CHARS {
        return Err(DomainError::invalid(
            "body",
            format!("a comment may be at most {MAX_COMMENT_CHARS} characters"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_need_some_prose() {
        assert!(validate_comment("Looks good").is_ok());
        assert!(validate_comment("").is_err());
        assert!(validate_comment(" \n").is_err());
        assert!(validate_comment(&"x".repeat(MAX_COMMENT_CHARS + 1)).is_err());
    }
}
