-- The site's SMTP server (TFE's /admin/smtp-settings), through which e-mail notifications
-- are sent: one row ('smtp'); the settings besides the password as a JSON record, the
-- password write-only and sealed with the keyring.

CREATE TABLE smtp_settings (
    id                  TEXT PRIMARY KEY,
    settings            TEXT NOT NULL,
    password_ciphertext TEXT,
    updated_at          TIMESTAMPTZ NOT NULL
);
