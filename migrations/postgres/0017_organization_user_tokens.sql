-- Whether users' API tokens reach the organization (TFE's user-tokens-enabled); browser
-- sessions and team and organization tokens are not affected.
ALTER TABLE organizations ADD COLUMN user_tokens_enabled BOOLEAN NOT NULL DEFAULT TRUE;
