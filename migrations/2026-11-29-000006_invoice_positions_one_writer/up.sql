-- Two transactions that change one customer's invoices at once each numbered only the
-- invoices they could see: the other's, not committed yet, were left out, and the
-- customer's positions came out doubled. Now each takes a lock for the customers it
-- renumbers, held to its commit, so that the later one waits and numbers what the earlier
-- one committed too (each statement of READ COMMITTED sees what was committed before it
-- began). Customers share 64 locks by their key modulo 64: a load of every customer (as
-- `billing seed`) takes 64 locks, not one per customer, which PostgreSQL's lock table
-- (64 a connection on average, by default) could not hold. The locks are taken in
-- ascending order, so that two writers never deadlock on them.
CREATE OR REPLACE FUNCTION invoices_number_positions(customer_ids BIGINT[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    -- 1768846960 ('invp'): the positions' own space of advisory locks.
    PERFORM pg_advisory_xact_lock(1768846960, bucket)
    FROM (SELECT DISTINCT (customer_id % 64)::integer AS bucket
          FROM unnest(customer_ids) AS customer_id ORDER BY 1) AS buckets;
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
