-- What the HTTP conventions need: a version of each customer's answers, which every change
-- to its invoices, groups or subscribers bumps, so that a conditional GET is answered from
-- the version alone; and the keys that make writes safe to retry.

-- Bumped in the transaction of every statement that changes what the API answers of the
-- customer; an answer's ETag is made of it (src/api/caching.rs).
ALTER TABLE customers ADD COLUMN data_version BIGINT NOT NULL DEFAULT 0;

-- A customer's version becomes the id of the transaction that changes it, which no earlier
-- transaction had: every committed change gives a new version, and a transaction that
-- changes a customer in many statements (an import batch, staged 5,000 records at a time)
-- writes its row once, not once a statement. Customers are updated in ascending order of
-- their key, so that two statements bumping the same customers never deadlock.
CREATE FUNCTION customers_bump_data_version() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    changed BIGINT[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        changed := ARRAY(SELECT DISTINCT customer_id FROM new_rows ORDER BY 1);
    ELSIF TG_OP = 'DELETE' THEN
        changed := ARRAY(SELECT DISTINCT customer_id FROM old_rows ORDER BY 1);
    ELSE
        changed := ARRAY(SELECT customer_id FROM new_rows
                         UNION SELECT customer_id FROM old_rows ORDER BY 1);
    END IF;
    UPDATE customers SET data_version = txid_current()
     WHERE customer_id = ANY (changed) AND data_version <> txid_current();
    RETURN NULL;
END
$$;

CREATE TRIGGER invoices_version_after_insert AFTER INSERT ON invoices
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION customers_bump_data_version();
CREATE TRIGGER invoices_version_after_update AFTER UPDATE ON invoices
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION customers_bump_data_version();
CREATE TRIGGER invoices_version_after_delete AFTER DELETE ON invoices
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION customers_bump_data_version();
CREATE TRIGGER billing_groups_version_after_insert AFTER INSERT ON billing_groups
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION customers_bump_data_version();
CREATE TRIGGER billing_groups_version_after_update AFTER UPDATE ON billing_groups
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION customers_bump_data_version();
CREATE TRIGGER billing_groups_version_after_delete AFTER DELETE ON billing_groups
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION customers_bump_data_version();
CREATE TRIGGER subscribers_version_after_insert AFTER INSERT ON subscribers
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION customers_bump_data_version();
CREATE TRIGGER subscribers_version_after_update AFTER UPDATE ON subscribers
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION customers_bump_data_version();
CREATE TRIGGER subscribers_version_after_delete AFTER DELETE ON subscribers
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION customers_bump_data_version();

-- A write's answer, stored in the transaction of the write under the key its client sent,
-- so that the same request sent again is answered the same without a second change. A key
-- is good for 24 hours; the server deletes older ones.
CREATE TABLE idempotency_keys (
    client_id      TEXT NOT NULL,
    idempotency_key TEXT NOT NULL CHECK (idempotency_key ~ '^[!-~]{1,255}$'),
    -- SHA-256 of the operation, its parameters and its body.
    request_digest BYTEA NOT NULL CHECK (octet_length(request_digest) = 32),
    status         SMALLINT NOT NULL,
    answer         TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (client_id, idempotency_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
