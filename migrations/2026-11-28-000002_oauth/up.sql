-- OAuth 2.0 clients (client-credentials grant) and the access tokens issued to them.
-- Neither table holds anything usable: secrets are Argon2id hashes, tokens SHA-256 digests.

CREATE TABLE oauth_clients (
    client_id   TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    -- Space-separated, as OAuth writes a scope (RFC 6749 §3.3).
    scopes      TEXT NOT NULL CHECK (scopes ~ '^(read|write)( (read|write))?$'),
    status      TEXT NOT NULL DEFAULT 'approved' CHECK (status IN ('approved', 'revoked')),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at  TIMESTAMPTZ
);

CREATE TABLE oauth_tokens (
    token_hash BYTEA PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    client_id  TEXT NOT NULL REFERENCES oauth_clients ON DELETE CASCADE,
    scopes     TEXT NOT NULL,
    issued_at  TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX oauth_tokens_client ON oauth_tokens (client_id);
CREATE INDEX oauth_tokens_expiry ON oauth_tokens (expires_at);
