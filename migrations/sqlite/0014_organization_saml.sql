-- SAML 2.0 as the second protocol of an organization's own single sign-on: the identity
-- provider's metadata as its owners pasted it (never fetched from a URL, so an owner cannot
-- make the server reach internal addresses) and the attributes read from its assertions.
ALTER TABLE organization_sso_configurations ADD COLUMN saml_idp_metadata TEXT;
ALTER TABLE organization_sso_configurations ADD COLUMN saml_username_attribute TEXT NOT NULL DEFAULT 'uid';
ALTER TABLE organization_sso_configurations ADD COLUMN saml_email_attribute TEXT NOT NULL DEFAULT 'email';
ALTER TABLE organization_sso_configurations ADD COLUMN saml_groups_attribute TEXT NOT NULL DEFAULT 'groups';
