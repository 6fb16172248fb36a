-- Site settings a site administrator changes through the admin API
-- (`PATCH /admin/general-settings`). A setting without a row keeps the value the server was
-- started with (its flag, variable or file).

CREATE TABLE site_settings (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
