-- SAML 2.0 single sign-on. Its sign-ins in progress share sso_requests (the AuthnRequest's ID
-- as the nonce, bound to the browser by the hash of a cookie's value, taken once); each says
-- which protocol started it, so one protocol's callback never finishes the other's.
ALTER TABLE sso_requests ADD COLUMN protocol TEXT NOT NULL DEFAULT 'oidc';

-- The replay cache: the IDs of the assertions already used, per identity provider, kept until
-- the assertion could no longer be presented; a second use is refused, on any replica.
CREATE TABLE saml_assertions (
    issuer       TEXT NOT NULL,
    assertion_id TEXT NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (issuer, assertion_id)
);
CREATE INDEX saml_assertions_expires_at ON saml_assertions (expires_at);

-- Why a sign-in was refused (`sso-sign-in-failed`: `signature`, `expired`, `replayed`, ...).
ALTER TABLE audit_events ADD COLUMN reason TEXT;
