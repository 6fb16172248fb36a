-- Single sign-on. Sign-ins in progress (OpenID Connect): the hash of each request's `state`,
-- with its nonce, PKCE verifier and where to return; taken (deleted) by the callback, so a
-- state works once, on any replica.
CREATE TABLE sso_requests (
    state_hash    TEXT PRIMARY KEY,
    nonce         TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    return_to     TEXT NOT NULL,
    expires_at    TEXT NOT NULL
);
CREATE INDEX sso_requests_expires_at ON sso_requests (expires_at);

-- Who a user is at an identity provider: (issuer, subject) names one user, never an email.
CREATE TABLE user_identities (
    issuer     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX user_identities_user_id ON user_identities (user_id);
