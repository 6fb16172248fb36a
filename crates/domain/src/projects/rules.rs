//! The rules of a project's settings as pure functions: its default execution mode and agent
//! pool (what a change may set, what is in effect), and the tag bindings its workspaces
//! inherit.

use terrace_storage::model::{ExecutionMode, Organization, Project, TagBinding};

use crate::{DomainError, DomainResult};

const POOL: &str = "/data/attributes/default-agent-pool-id";

/// What a request says about the project's defaults; `None` says nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DefaultsChange {
    pub execution_mode: Option<ExecutionMode>,
    /// `Some(None)`: the pool given as null.
    pub agent_pool_id: Option<Option<String>>,
    /// `setting-overwrites.default-execution-mode`: false inherits the organization's.
    pub overwrites_execution_mode: Option<bool>,
    /// `setting-overwrites.default-agent-pool`: must agree with the one above.
    pub overwrites_agent_pool: Option<bool>,
}

/// A project's own defaults: `(None, None)` inherits the organization's.
pub type Defaults = (Option<ExecutionMode>, Option<String>);

/// The execution mode and agent pool a workspace created in `project` takes when the request
/// sets neither: the project's own defaults, if it has them.
pub fn new_workspace_defaults(project: &Project) -> Option<Defaults> {
    project
        .default_execution_mode
        .map(|mode| (Some(mode), project.default_agent_pool_id.clone()))
}

/// The defaults after `change`, with HCP Terraform's rules (and messages): a pool only with
/// the `agent` mode and always with it; `setting-overwrites` false returns to the
/// organization's and cannot come with values of its own.
pub fn change_defaults(current: Defaults, change: DefaultsChange) -> DomainResult<Defaults> {
    let pool_invalid = |detail: &str| DomainError::Invalid {
        pointer: Some(POOL.into()),
        detail: detail.into(),
    };
    let overwrites = match (change.overwrites_execution_mode, change.overwrites_agent_pool) {
        (Some(mode), Some(pool)) if mode != pool => {
            return Err(DomainError::invalid(
                "setting-overwrites",
                "If agent-pool and execution-mode are both included in setting-overwrites, their values must be the same.",
            ))
        }
        (mode, pool) => mode.or(pool),
    };
    let pool_named = matches!(change.agent_pool_id, Some(Some(_)));
    if overwrites == Some(false) {
        if change.execution_mode.is_some() || pool_named {
            return Err(DomainError::invalid(
                "setting-overwrites",
                "default-execution-mode and default-agent-pool cannot be set while setting-overwrites says to inherit them from the organization",
            ));
        }
        return Ok((None, None));
    }
    let (current_mode, current_pool) = current;
    let mode = change.execution_mode.or(current_mode);
    let pool = match change.agent_pool_id {
        Some(pool) => pool,
        // Leaving agent execution releases the pool.
        None if change.execution_mode.is_some() && mode != Some(ExecutionMode::Agent) => None,
        None => current_pool,
    };
    match (mode, pool) {
        (None, _) if overwrites == Some(true) => Err(DomainError::invalid(
            "default-execution-mode",
            "setting-overwrites marks the default execution mode as the project's own: give default-execution-mode too",
        )),
        (Some(ExecutionMode::Agent), None) => Err(pool_invalid(
            "Default agent pool must be specified when using 'agent' execution mode",
        )),
        (Some(ExecutionMode::Agent), Some(pool)) => Ok((mode, Some(pool))),
        (_, Some(_)) => Err(pool_invalid(
            "Default agent pool must not be specified unless using 'agent' execution mode",
        )),
        (mode, None) => Ok((mode, None)),
    }
}

/// The execution mode and agent pool in effect for the project: its own, or the
/// organization's defaults.
pub fn defaults_in_effect<'a>(
    project: &'a Project,
    org: &'a Organization,
) -> (ExecutionMode, Option<&'a str>) {
    match project.default_execution_mode {
        Some(mode) => (mode, project.default_agent_pool_id.as_deref()),
        None => (
            org.default_execution_mode,
            (org.default_execution_mode == ExecutionMode::Agent)
                .then_some(org.default_agent_pool_id.as_deref())
                .flatten(),
        ),
    }
}

/// A tag binding in effect on a workspace, and the project it comes from when inherited.
#[derive(Debug, Clone, PartialEq)]
pub struct EffectiveTagBinding {
    pub binding: TagBinding,
    pub inherited_from: Option<String>,
}

/// A workspace's bindings in effect, by key: its own, and its project's for the keys it does
/// not bind itself.
pub fn effective_tag_bindings(
    own: Vec<TagBinding>,
    project_id: &str,
    project: Vec<TagBinding>,
) -> Vec<EffectiveTagBinding> {
    let inherited: Vec<TagBinding> = project
        .into_iter()
        .filter(|p| !own.iter().any(|o| o.key == p.key))
        .collect();
    let mut all: Vec<EffectiveTagBinding> = own
        .into_iter()
        .map(|binding| EffectiveTagBinding {
            binding,
            inherited_from: None,
        })
        .chain(inherited.into_iter().map(|binding| EffectiveTagBinding {
            binding,
            inherited_from: Some(project_id.to_string()),
        }))
        .collect();
    all.sort_by(|a, b| a.binding.key.cmp(&b.binding.key));
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use ExecutionMode::{Agent, Local, Remote};

    fn pool(id: &str) -> Option<Option<String>> {
        Some(Some(id.to_string()))
    }

    fn detail(result: DomainResult<Defaults>) -> String {
        match result {
            Err(DomainError::Invalid { detail, .. }) => detail,
            other => panic!("expected a 422, got {other:?}"),
        }
    }

    #[test]
    fn a_new_workspace_takes_the_projects_own_defaults_only() {
        let project = |mode: Option<ExecutionMode>, pool: Option<&str>| Project {
            id: "prj-1".into(),
            organization_id: "org-1".into(),
            name: "p".into(),
            description: String::new(),
            is_default: false,
            created_at: chrono::Utc::now(),
            default_execution_mode: mode,
            default_agent_pool_id: pool.map(str::to_string),
            auto_destroy_activity_duration: None,
        };
        assert_eq!(
            new_workspace_defaults(&project(Some(Agent), Some("apool-1"))),
            Some((Some(Agent), Some("apool-1".to_string())))
        );
        assert_eq!(
            new_workspace_defaults(&project(Some(Local), None)),
            Some((Some(Local), None))
        );
        // Inheriting the organization's: nothing of the project's own.
        assert_eq!(new_workspace_defaults(&project(None, None)), None);
    }

    #[test]
    fn agent_mode_comes_with_a_pool_and_only_it_does() {
        let agent = DefaultsChange {
            execution_mode: Some(Agent),
            agent_pool_id: pool("apool-1"),
            ..Default::default()
        };
        assert_eq!(
            change_defaults((None, None), agent).unwrap(),
            (Some(Agent), Some("apool-1".into()))
        );
        let no_pool = DefaultsChange {
            execution_mode: Some(Agent),
            ..Default::default()
        };
        assert!(detail(change_defaults((None, None), no_pool.clone()))
            .contains("must be specified when using 'agent' execution mode"));
        // An agent project keeps its pool when the mode is restated.
        assert_eq!(
            change_defaults((Some(Agent), Some("apool-1".into())), no_pool).unwrap(),
            (Some(Agent), Some("apool-1".into()))
        );
        for mode in [Remote, Local] {
            let with_pool = DefaultsChange {
                execution_mode: Some(mode),
                agent_pool_id: pool("apool-1"),
                ..Default::default()
            };
            assert!(detail(change_defaults((None, None), with_pool))
                .contains("must not be specified unless using 'agent' execution mode"));
        }
        // A pool alone on a project that does not run on agents.
        let pool_only = DefaultsChange {
            agent_pool_id: pool("apool-1"),
            ..Default::default()
        };
        assert!(change_defaults((Some(Remote), None), pool_only).is_err());
    }

    #[test]
    fn leaving_agent_mode_releases_the_pool() {
        let agent = (Some(Agent), Some("apool-1".to_string()));
        let remote = DefaultsChange {
            execution_mode: Some(Remote),
            ..Default::default()
        };
        assert_eq!(
            change_defaults(agent, remote).unwrap(),
            (Some(Remote), None)
        );
    }

    #[test]
    fn setting_overwrites_false_inherits_and_must_agree() {
        let inherit = DefaultsChange {
            overwrites_execution_mode: Some(false),
            overwrites_agent_pool: Some(false),
            ..Default::default()
        };
        assert_eq!(
            change_defaults((Some(Agent), Some("apool-1".into())), inherit).unwrap(),
            (None, None)
        );
        let mixed = DefaultsChange {
            execution_mode: Some(Agent),
            agent_pool_id: pool("apool-1"),
            overwrites_execution_mode: Some(true),
            overwrites_agent_pool: Some(false),
        };
        assert!(
            detail(change_defaults((None, None), mixed)).contains("their values must be the same")
        );
        let contradicting = DefaultsChange {
            execution_mode: Some(Local),
            overwrites_execution_mode: Some(false),
            ..Default::default()
        };
        assert!(change_defaults((None, None), contradicting).is_err());
        let own_without_value = DefaultsChange {
            overwrites_execution_mode: Some(true),
            ..Default::default()
        };
        assert!(change_defaults((None, None), own_without_value).is_err());
        let own = DefaultsChange {
            execution_mode: Some(Local),
            overwrites_execution_mode: Some(true),
            overwrites_agent_pool: Some(true),
            ..Default::default()
        };
        assert_eq!(
            change_defaults((None, None), own).unwrap(),
            (Some(Local), None)
        );
    }

    fn binding(key: &str, value: &str) -> TagBinding {
        TagBinding {
            key: key.into(),
            value: value.into(),
        }
    }

    #[test]
    fn a_workspace_inherits_its_project_bindings_and_its_own_win() {
        let effective = effective_tag_bindings(
            vec![binding("env", "dev"), binding("team", "a")],
            "prj-1",
            vec![binding("env", "prod"), binding("cost", "42")],
        );
        let seen: Vec<(&str, &str, Option<&str>)> = effective
            .iter()
            .map(|e| {
                (
                    e.binding.key.as_str(),
                    e.binding.value.as_str(),
                    e.inherited_from.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            vec![
                ("cost", "42", Some("prj-1")),
                ("env", "dev", None),
                ("team", "a", None),
            ]
        );
    }
}
