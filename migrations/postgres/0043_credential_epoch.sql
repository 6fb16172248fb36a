-- What a replica knows of the credentials it has seen (crates/domain/src/credentials.rs) it
-- keeps between requests while this number stays the same. Every change to what a token
-- stands for (the token, its user, organization, team, memberships, single sign-on) adds one
-- in the same transaction, from triggers, so no way of writing those tables is missed: a
-- request that reads the number after a revocation commits sees it changed, on every replica.
-- Making a token changes nothing cached (nothing stood for it yet), nor does recording its
-- use; job and task-result tokens are never cached.
CREATE TABLE credential_epoch (
    singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    n         BIGINT NOT NULL
);
INSERT INTO credential_epoch (singleton, n) VALUES (TRUE, 0);

CREATE FUNCTION bump_credential_epoch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE credential_epoch SET n = n + 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER users_credential_epoch AFTER INSERT OR UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION bump_credential_epoch();
CREATE TRIGGER organizations_credential_epoch AFTER INSERT OR UPDATE OR DELETE ON organizations
    FOR EACH ROW EXECUTE FUNCTION bump_credential_epoch();
CREATE TRIGGER teams_credential_epoch AFTER INSERT OR UPDATE OR DELETE ON teams
    FOR EACH ROW EXECUTE FUNCTION bump_credential_epoch();
CREATE TRIGGER organization_memberships_credential_epoch AFTER INSERT OR UPDATE OR DELETE ON organization_memberships
    FOR EACH ROW EXECUTE FUNCTION bump_credential_epoch();
CREATE TRIGGER team_memberships_credential_epoch AFTER INSERT OR UPDATE OR DELETE ON team_memberships
    FOR EACH ROW EXECUTE FUNCTION bump_credential_epoch();
CREATE TRIGGER organization_sso_configurations_credential_epoch AFTER INSERT OR UPDATE OR DELETE ON organization_sso_configurations
    FOR EACH ROW EXECUTE FUNCTION bump_credential_epoch();
CREATE TRIGGER tokens_credential_epoch AFTER DELETE OR UPDATE OF kind, owner_id, secret_hash, expires_at, signed_in_with ON tokens
    FOR EACH ROW WHEN (OLD.kind NOT IN ('job', 'task-result'))
    EXECUTE FUNCTION bump_credential_epoch();
