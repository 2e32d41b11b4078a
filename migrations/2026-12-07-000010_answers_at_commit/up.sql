-- Counts and versions written once per customer when the changing transaction commits, so
-- that a long one (an `--atomic` import) holds no customer row while it runs; TRUNCATE
-- kept exact too; and idempotency keys locked per client. docs/design.md says why.

-- What a transaction changed of each customer's answers: one row per transaction and
-- customer, noted by the statement triggers of invoices, billing_groups and subscribers,
-- and taken away (and applied to `customers`) by the transaction itself when it commits.
-- No row outlives its transaction, so nothing here needs to survive a crash: unlogged.
CREATE UNLOGGED TABLE customer_changes (
    transaction_id BIGINT NOT NULL DEFAULT txid_current(),
    customer_id    BIGINT NOT NULL,
    -- Invoices the transaction added less those it removed (0 for groups and subscribers).
    invoice_delta  BIGINT NOT NULL,
    PRIMARY KEY (transaction_id, customer_id)
);

-- Notes the customers a statement on billing_groups or subscribers changed.
CREATE OR REPLACE FUNCTION customers_bump_data_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO customer_changes (customer_id, invoice_delta)
        SELECT DISTINCT customer_id, 0 FROM new_rows
        ON CONFLICT DO NOTHING;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO customer_changes (customer_id, invoice_delta)
        SELECT DISTINCT customer_id, 0 FROM old_rows
        ON CONFLICT DO NOTHING;
    ELSE
        INSERT INTO customer_changes (customer_id, invoice_delta)
        SELECT customer_id, 0 FROM new_rows UNION SELECT customer_id, 0 FROM old_rows
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;

-- Notes how many invoices a statement added to or removed from each customer.
CREATE OR REPLACE FUNCTION customers_count_invoices() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO customer_changes (customer_id, invoice_delta)
        SELECT customer_id, count(*) FROM new_rows GROUP BY 1
        ON CONFLICT ON CONSTRAINT customer_changes_pkey
        DO UPDATE SET invoice_delta = customer_changes.invoice_delta + excluded.invoice_delta;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO customer_changes (customer_id, invoice_delta)
        SELECT customer_id, -count(*) FROM old_rows GROUP BY 1
        ON CONFLICT ON CONSTRAINT customer_changes_pkey
        DO UPDATE SET invoice_delta = customer_changes.invoice_delta + excluded.invoice_delta;
    ELSE
        INSERT INTO customer_changes (customer_id, invoice_delta)
        SELECT customer_id, sum(delta)
          FROM (SELECT customer_id, 1 AS delta FROM new_rows
                UNION ALL SELECT customer_id, -1 FROM old_rows) AS signed
         GROUP BY 1
        ON CONFLICT ON CONSTRAINT customer_changes_pkey
        DO UPDATE SET invoice_delta = customer_changes.invoice_delta + excluded.invoice_delta;
    END IF;
    RETURN NULL;
END
$$;

-- One row per transaction that noted a change, whose insert alone fires the trigger below:
-- a deferred row trigger on `customer_changes` itself would fire once per customer, each
-- firing after the first scanning what the first took (a commit of N customers then cost
-- N² index visits: 24 s for 8,000, measured).
CREATE UNLOGGED TABLE customer_changes_pending (
    transaction_id BIGINT PRIMARY KEY DEFAULT txid_current()
);

-- Every noting statement marks its transaction as pending (once: a conflict fires nothing).
CREATE FUNCTION customer_changes_mark_pending() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO customer_changes_pending DEFAULT VALUES ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;

CREATE TRIGGER customer_changes_noted AFTER INSERT ON customer_changes
    FOR EACH STATEMENT EXECUTE FUNCTION customer_changes_mark_pending();

-- At commit: the transaction's noted changes written to the customers' rows once, locked
-- in ascending order of key so that two committing transactions never deadlock on them.
-- The version is the transaction's id, which no earlier transaction had.
CREATE FUNCTION customer_changes_apply() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    changed BIGINT[];
    deltas BIGINT[];
BEGIN
    DELETE FROM customer_changes_pending WHERE transaction_id = txid_current();
    WITH taken AS (
        DELETE FROM customer_changes WHERE transaction_id = txid_current()
        RETURNING customer_id, invoice_delta
    )
    SELECT array_agg(customer_id ORDER BY customer_id),
           array_agg(invoice_delta ORDER BY customer_id)
      INTO changed, deltas
      FROM taken;
    IF changed IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM FROM customers WHERE customer_id = ANY (changed)
      ORDER BY customer_id FOR NO KEY UPDATE;
    UPDATE customers c
       SET invoice_count = c.invoice_count + moved.delta, data_version = txid_current()
      FROM unnest(changed, deltas) AS moved (customer_id, delta)
     WHERE c.customer_id = moved.customer_id;
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER customer_changes_at_commit AFTER INSERT ON customer_changes_pending
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION customer_changes_apply();

-- TRUNCATE fires no row or statement trigger of INSERT, UPDATE or DELETE: its own moves
-- every customer's version, and for invoices sets every count to 0 (what the transaction
-- noted before it of invoices no longer counts; its versions still move).
CREATE FUNCTION customers_after_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'invoices' THEN
        UPDATE customer_changes SET invoice_delta = 0
         WHERE transaction_id = txid_current() AND invoice_delta <> 0;
        UPDATE customers SET invoice_count = 0, data_version = txid_current();
    ELSE
        UPDATE customers SET data_version = txid_current();
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER invoices_version_after_truncate AFTER TRUNCATE ON invoices
    FOR EACH STATEMENT EXECUTE FUNCTION customers_after_truncate();
CREATE TRIGGER billing_groups_version_after_truncate AFTER TRUNCATE ON billing_groups
    FOR EACH STATEMENT EXECUTE FUNCTION customers_after_truncate();
CREATE TRIGGER subscribers_version_after_truncate AFTER TRUNCATE ON subscribers
    FOR EACH STATEMENT EXECUTE FUNCTION customers_after_truncate();

-- A number of each client's own, so that the lock of a request in flight with an
-- idempotency key is the client's number and the key's hash: two clients' keys never
-- share a lock, whatever their hashes.
ALTER TABLE oauth_clients ADD COLUMN lock_id INTEGER GENERATED ALWAYS AS IDENTITY;
ALTER TABLE oauth_clients ADD CONSTRAINT oauth_clients_lock_id_key UNIQUE (lock_id);
