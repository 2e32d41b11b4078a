ALTER TABLE oauth_clients DROP COLUMN lock_id;
DROP TRIGGER subscribers_version_after_truncate ON subscribers;
DROP TRIGGER billing_groups_version_after_truncate ON billing_groups;
DROP TRIGGER invoices_version_after_truncate ON invoices;
DROP FUNCTION customers_after_truncate();
DROP TABLE customer_changes_pending;
DROP TABLE customer_changes;
DROP FUNCTION customer_changes_apply();
DROP FUNCTION customer_changes_mark_pending();

-- Migration 000008's triggers: counts and versions written by each statement.
CREATE OR REPLACE FUNCTION customers_bump_data_version() RETURNS trigger
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

CREATE OR REPLACE FUNCTION customers_count_invoices() RETURNS trigger
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
