-- The console's login sessions (contract rev 3): kept on the server, so that
-- `POST /logout` ends one for good and a changed ID2META_CONSOLE_TOKEN ends them all
-- (src/console/sessions.rs). The cookie holds a random secret; only its SHA-256 is
-- stored, so a read of this table gives no cookie. `id` is the session's public name
-- (logs, the audit log); it is never the cookie.
CREATE TABLE IF NOT EXISTS console_sessions (
    id                uuid PRIMARY KEY,
    secret_sha256     bytea NOT NULL UNIQUE,
    -- The CSRF token the session's forms carry.
    csrf              text NOT NULL,
    -- HMAC of the token the session logged in with: a session of another token is no session.
    token_fingerprint text NOT NULL,
    -- The address that logged in (the TCP peer; a proxy's, behind one).
    client_addr       text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    expires_at        timestamptz NOT NULL
);

-- The sweep of expired sessions.
CREATE INDEX IF NOT EXISTS console_sessions_expires ON console_sessions (expires_at);
