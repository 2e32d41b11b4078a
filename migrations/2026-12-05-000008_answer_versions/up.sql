-- What the HTTP conventions need: a version of each customer's answers, which every change
-- to its invoices, groups or subscribers bumps, so that a conditional GET is answered from
-- the version alone; and the keys that make writes safe to retry.

-- Bumped in the transaction of every statement that changes what the API answers of the
-- customer; an answer's ETag is made of it (src/api/caching.rs).
ALTER TABLE customers ADD COLUMN data_version BIGINT NOT NULL DEFAULT 0;

-- How many invoices the customer has, kept by the statements that add or remove them: a
-- page of bills reads it, and the version, from the customer's row in its own statement
-- (X-Total-Count, and the Link to the last page).
ALTER TABLE customers ADD COLUMN invoice_count BIGINT NOT NULL DEFAULT 0
    CHECK (invoice_count >= 0);
UPDATE customers c SET invoice_count = counted.invoices
  FROM (SELECT customer_id, count(*) AS invoices FROM invoices GROUP BY customer_id) AS counted
 WHERE c.customer_id = counted.customer_id;

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

-- The same for invoices, which also count: each customer's count moves by the invoices
-- the statement added less those it removed. The rows are locked in ascending order of
-- key first (the update's join takes them in any order).
CREATE FUNCTION customers_count_invoices() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    changed BIGINT[];
    deltas BIGINT[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(customer_id ORDER BY customer_id), array_agg(added ORDER BY customer_id)
          INTO changed, deltas
          FROM (SELECT customer_id, count(*) AS added FROM new_rows GROUP BY 1) AS moved;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(customer_id ORDER BY customer_id), array_agg(-removed ORDER BY customer_id)
          INTO changed, deltas
          FROM (SELECT customer_id, count(*) AS removed FROM old_rows GROUP BY 1) AS moved;
    ELSE
        SELECT array_agg(customer_id ORDER BY customer_id), array_agg(delta ORDER BY customer_id)
          INTO changed, deltas
          FROM (SELECT customer_id, sum(delta) AS delta
                  FROM (SELECT customer_id, 1 AS delta FROM new_rows
                        UNION ALL SELECT customer_id, -1 FROM old_rows) AS signed
                 GROUP BY 1) AS moved;
    END IF;
    PERFORM FROM customers WHERE customer_id = ANY (changed)
      ORDER BY customer_id FOR NO KEY UPDATE;
    UPDATE customers c
       SET invoice_count = c.invoice_count + moved.delta, data_version = txid_current()
      FROM unnest(changed, deltas) AS moved (customer_id, delta)
     WHERE c.customer_id = moved.customer_id
       AND (moved.delta <> 0 OR c.data_version <> txid_current());
    RETURN NULL;
END
$$;

CREATE TRIGGER invoices_version_after_insert AFTER INSERT ON invoices
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION customers_count_invoices();
CREATE TRIGGER invoices_version_after_update AFTER UPDATE ON invoices
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION customers_count_invoices();
CREATE TRIGGER invoices_version_after_delete AFTER DELETE ON invoices
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION customers_count_invoices();
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
