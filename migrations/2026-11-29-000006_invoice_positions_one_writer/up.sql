-- Two transactions that change one customer's invoices at once each numbered only the
-- invoices they could see: the other's, not committed yet, were left out, and the
-- customer's positions came out doubled. Now each takes a lock per customer it renumbers,
-- held to its commit, so that the later one waits and numbers what the earlier one
-- committed too (each statement of READ COMMITTED sees what was committed before it began).
-- The locks are taken in ascending order of customer, so that two of them never wait for
-- each other.
CREATE OR REPLACE FUNCTION invoices_number_positions(customer_ids BIGINT[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('invoices_positions', customer_id))
    FROM (SELECT DISTINCT unnest(customer_ids) AS customer_id ORDER BY 1) AS customers;
    UPDATE invoices AS i
    SET customer_position = ranked.position
    FROM (
        SELECT customer_id, invoice_number,
               row_number() OVER (PARTITION BY customer_id
                                  ORDER BY bill_date, invoice_number) AS position
        FROM invoices
        WHERE customer_id = ANY (customer_ids)
    ) AS ranked
    WHERE i.customer_id = ranked.customer_id
      AND i.invoice_number = ranked.invoice_number
      AND i.customer_position IS DISTINCT FROM ranked.position;
END
$$;
