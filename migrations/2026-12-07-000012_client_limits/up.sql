-- Each client's own limits. A mode of `default` follows the server's BILLING_DEFAULT_RATE
-- and BILLING_DEFAULT_QUOTA; `none` is no limit of that kind whatever the default; `own`
-- is the values beside it.
ALTER TABLE oauth_clients
    ADD COLUMN rate_mode text NOT NULL DEFAULT 'default'
        CHECK (rate_mode IN ('default', 'none', 'own')),
    ADD COLUMN rate_per_second integer CHECK (rate_per_second > 0),
    ADD COLUMN rate_burst integer CHECK (rate_burst > 0),
    ADD COLUMN quota_mode text NOT NULL DEFAULT 'default'
        CHECK (quota_mode IN ('default', 'none', 'own')),
    ADD COLUMN quota_limit bigint CHECK (quota_limit > 0),
    ADD COLUMN quota_window text CHECK (quota_window IN ('minute', 'hour', 'day', 'month')),
    ADD CONSTRAINT oauth_clients_rate_own
        CHECK ((rate_mode = 'own') = (rate_per_second IS NOT NULL AND rate_burst IS NOT NULL)),
    ADD CONSTRAINT oauth_clients_quota_own
        CHECK ((quota_mode = 'own') = (quota_limit IS NOT NULL AND quota_window IS NOT NULL));

-- The requests counted against each client's quota in each calendar window (UTC), as the
-- instances lease them in blocks: `used` never exceeds the quota in force when leased, and
-- `last_grant` is what the last lease got (RETURNING sees only the new row).
CREATE TABLE quota_counts (
    client_id text NOT NULL REFERENCES oauth_clients (client_id) ON DELETE CASCADE,
    window_start timestamptz NOT NULL,
    used bigint NOT NULL CHECK (used >= 0),
    last_grant bigint NOT NULL,
    PRIMARY KEY (client_id, window_start)
);
