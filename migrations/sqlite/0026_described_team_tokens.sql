-- A team has one token without a description (the legacy `authentication-token`, which
-- regenerating replaces) and any number with a description, unique within the team.
CREATE UNIQUE INDEX tokens_team_description ON tokens (owner_id, description)
    WHERE kind = 'team' AND description IS NOT NULL;
