-- Site administration: a suspended user keeps their account, memberships and tokens, but
-- none of them sign anything in until a site administrator unsuspends them.

ALTER TABLE users ADD COLUMN suspended_at TEXT;
