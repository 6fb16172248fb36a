//! Teams and their access, set up through the API as an organization's owner would.

use serde_json::{json, Value};

use crate::Api;

/// Creates a team with `organization_access` (an `organization-access` object); returns its ID.
pub fn create_team(owner: &Api, org: &str, name: &str, organization_access: Value) -> String {
    owner
        .post(
            &format!("organizations/{org}/teams"),
            &json!({"data": {"type": "teams", "attributes": {
                "name": name, "visibility": "organization",
                "organization-access": organization_access}}}),
        )
        .expect(201)
        .id()
}

/// Makes the user (created as `USERNAME@terrace.local` by the harness) a member of the
/// organization and of the team.
pub fn add_member(owner: &Api, org: &str, team: &str, username: &str) {
    let membership = owner.post(
        &format!("organizations/{org}/organization-memberships"),
        &json!({"data": {"type": "organization-memberships",
            "attributes": {"email": format!("{username}@terrace.local")}}}),
    );
    assert!(
        membership.status == 201 || membership.status == 422 || membership.status == 409,
        "membership: {}",
        membership.text
    );
    owner
        .post(
            &format!("teams/{team}/relationships/users"),
            &json!({"data": [{"type": "users", "id": username}]}),
        )
        .expect(204);
}

/// Gives the team `access` (and, for `custom`, the given parts) on the workspace; returns the
/// team-workspaces ID.
pub fn grant_workspace(owner: &Api, team: &str, workspace_id: &str, attributes: Value) -> String {
    owner
        .post(
            "team-workspaces",
            &json!({"data": {"type": "team-workspaces", "attributes": attributes,
                "relationships": {
                    "team": {"data": {"type": "teams", "id": team}},
                    "workspace": {"data": {"type": "workspaces", "id": workspace_id}}}}}),
        )
        .expect(201)
        .id()
}

/// Gives the team `access` on the project; returns the team-projects ID.
pub fn grant_project(owner: &Api, team: &str, project_id: &str, attributes: Value) -> String {
    owner
        .post(
            "team-projects",
            &json!({"data": {"type": "team-projects", "attributes": attributes,
                "relationships": {
                    "team": {"data": {"type": "teams", "id": team}},
                    "project": {"data": {"type": "projects", "id": project_id}}}}}),
        )
        .expect(201)
        .id()
}

/// Creates a workspace; returns its ID.
pub fn create_workspace(api: &Api, org: &str, name: &str, project_id: Option<&str>) -> String {
    let mut data = json!({"type": "workspaces", "attributes": {"name": name}});
    if let Some(project) = project_id {
        data["relationships"] = json!({"project": {"data": {"type": "projects", "id": project}}});
    }
    api.post(
        &format!("organizations/{org}/workspaces"),
        &json!({ "data": data }),
    )
    .expect(201)
    .id()
}
