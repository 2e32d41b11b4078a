-- The keys that sign access tokens (HMAC-SHA-256), shared by every instance, so that a
-- token this deployment did not issue is refused without a lookup. The newest key that is
-- not retired signs; tokens under any key that is not retired are accepted.
-- `billing keys rotate` adds a key, `billing keys retire` retires one.
CREATE TABLE token_keys (
    key_id     INTEGER GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    secret     BYTEA NOT NULL CHECK (octet_length(secret) = 32),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    retired_at TIMESTAMPTZ
);

-- The first key: 32 bytes from PostgreSQL's strong random source (two version-4 UUIDs,
-- 244 random bits), so that a new deployment signs from its first token on.
INSERT INTO token_keys (secret)
SELECT decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex');
