CREATE OR REPLACE FUNCTION invoices_positions_after_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    moved BIGINT[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        moved := ARRAY(SELECT DISTINCT customer_id FROM new_rows);
    ELSIF TG_OP = 'DELETE' THEN
        moved := ARRAY(SELECT DISTINCT customer_id FROM old_rows);
    ELSE
        moved := ARRAY(
            SELECT DISTINCT customer_id FROM (
                (SELECT customer_id, bill_date, invoice_number FROM new_rows
                 EXCEPT ALL
                 SELECT customer_id, bill_date, invoice_number FROM old_rows)
                UNION ALL
                (SELECT customer_id, bill_date, invoice_number FROM old_rows
                 EXCEPT ALL
                 SELECT customer_id, bill_date, invoice_number FROM new_rows)
            ) AS changed);
    END IF;
    IF cardinality(moved) > 0 THEN
        PERFORM invoices_number_positions(moved);
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION invoices_number_positions(customer_ids BIGINT[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
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

DROP FUNCTION invoices_lock_positions(BIGINT[]);
ALTER TABLE billing_group_audit DROP COLUMN import_run_id;
DROP TABLE import_runs;
