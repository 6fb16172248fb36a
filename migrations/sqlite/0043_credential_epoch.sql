-- What a replica knows of the credentials it has seen (crates/domain/src/credentials.rs) it
-- keeps between requests while this number stays the same. Every change to what a token
-- stands for (the token, its user, organization, team, memberships, single sign-on) adds one
-- in the same transaction, from triggers, so no way of writing those tables is missed: a
-- request that reads the number after a revocation commits sees it changed, on every replica.
-- Making a token changes nothing cached (nothing stood for it yet), nor does recording its
-- use; job and task-result tokens are never cached.
CREATE TABLE credential_epoch (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    n         INTEGER NOT NULL
);
INSERT INTO credential_epoch (singleton, n) VALUES (1, 0);

CREATE TRIGGER users_insert_credential_epoch AFTER INSERT ON users
    BEGIN UPDATE credential_epoch SET n = n + 1; END;
CREATE TRIGGER users_update_credential_epoch AFTER UPDATE ON users
    BEGIN UPDATE credential_epoch SET n = n + 1; END;
CREATE TRIGGER users_delete_credential_epoch AFTER DELETE ON users
    BEGIN UPDATE credential_epoch SET n = n + 1; END;
CREATE TRIGGER organizations_insert_credential_epoch AFTER INSERT ON organizations
    BEGIN UPDATE credential_epoch SET n = n + 1; END;
CREATE TRIGGER organizations_update_credential_epoch AFTER UPDATE ON organizations
    BEGIN UPDATE credential_epoch SET n = n + 1; END;
CREATE TRIGGER organizations_delete_credential_epoch AFTER DELETE ON organizations
    BEGIN UPDATE credential_epoch SET n = n + 1; END;
CREATE TRIGGER teams_insert_credential_epoch AFTER INSERT ON teams
    BEGIN UPDATE credential_epoch SET n = n + 1; END;
CREATE TRIGGER teams_update_credential_epoch AFTER UPDATE ON teams
    BEGIN UPDATE credential_epoch SET n = n + 1; END;
CREATE TRIGGER teams_delete_credential_epoch AFTER DELETE ON teams
    BEGIN UPDATE credential_epoch SET n = n + 1; END;
CREATE TRIGGER organization_memberships_insert_credential_epoch AFTER INSERT ON organization_memberships
    BEGIN UPDATE credential_epoch SET n = n + 1; END;
CREATE TRIGGER organization_memberships_update_credential_epoch AFTER UPDATE ON organization_memberships
    BEGIN UPDATE credential_epoch SET n = n + 1; END;
CREATE TRIGGER organization_memberships_delete_credential_epoch AFTER DELETE ON organization_memberships
    BEGIN UPDATE credential_epoch SET n = n + 1; END;
CREATE TRIGGER team_memberships_insert_credential_epoch AFTER INSERT ON team_memberships
    BEGIN UPDATE credential_epoch SET n = n + 1; END;
CREATE TRIGGER team_memberships_update_credential_epoch AFTER UPDATE ON team_memberships
    BEGIN UPDATE credential_epoch SET n = n + 1; END;
CREATE TRIGGER team_memberships_delete_credential_epoch AFTER DELETE ON team_memberships
    BEGIN UPDATE credential_epoch SET n = n + 1; END;
CREATE TRIGGER organization_sso_configurations_insert_credential_epoch AFTER INSERT ON organization_sso_configurations
    BEGIN UPDATE credential_epoch SET n = n + 1; END;
CREATE TRIGGER organization_sso_configurations_update_credential_epoch AFTER UPDATE ON organization_sso_configurations
    BEGIN UPDATE credential_epoch SET n = n + 1; END;
CREATE TRIGGER organization_sso_configurations_delete_credential_epoch AFTER DELETE ON organization_sso_configurations
    BEGIN UPDATE credential_epoch SET n = n + 1; END;
CREATE TRIGGER tokens_delete_credential_epoch AFTER DELETE ON tokens
    WHEN OLD.kind NOT IN ('job', 'task-result') BEGIN UPDATE credential_epoch SET n = n + 1; END;
CREATE TRIGGER tokens_update_credential_epoch AFTER UPDATE OF kind, owner_id, secret_hash, expires_at, signed_in_with ON tokens
    WHEN OLD.kind NOT IN ('job', 'task-result') BEGIN UPDATE credential_epoch SET n = n + 1; END;
