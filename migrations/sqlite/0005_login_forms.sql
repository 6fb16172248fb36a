-- Sign-in forms issued by the consent page: the hash of each form's CSRF token, taken (deleted)
-- when the form is submitted, so a form works once.
CREATE TABLE login_forms (
    csrf_hash  TEXT PRIMARY KEY,
    expires_at TEXT NOT NULL
);
CREATE INDEX login_forms_expires_at ON login_forms (expires_at);
