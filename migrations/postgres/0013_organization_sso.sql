-- Single sign-on per organization. One configuration per organization: the protocol and its
-- fields (OpenID Connect now; SAML's IdP metadata and entity ID can be added as columns),
-- whether it is enabled, and whether the organization is reached only through single sign-on
-- (enforced). The client secret is encrypted with the server's keyring, never stored in clear.
CREATE TABLE organization_sso_configurations (
    organization_id          TEXT PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    protocol                 TEXT NOT NULL,
    enabled                  BOOLEAN NOT NULL,
    enforced                 BOOLEAN NOT NULL,
    oidc_issuer              TEXT,
    oidc_client_id           TEXT,
    oidc_client_secret_ciphertext TEXT,
    oidc_scopes              TEXT NOT NULL,
    oidc_groups_claim        TEXT NOT NULL,
    oidc_username_claim      TEXT NOT NULL,
    created_at               TIMESTAMPTZ NOT NULL,
    updated_at               TIMESTAMPTZ NOT NULL
);

-- Which configuration a sign-in in progress belongs to (NULL: the site's provider).
ALTER TABLE sso_requests ADD COLUMN organization_id TEXT;

-- How a session signed in, inherited by the user tokens made from it: NULL or 'password',
-- 'sso' (the site's provider) or 'sso:<organization id>' (that organization's provider).
ALTER TABLE sessions ADD COLUMN signed_in_with TEXT;
ALTER TABLE tokens ADD COLUMN signed_in_with TEXT;
ALTER TABLE oauth_codes ADD COLUMN signed_in_with TEXT;
