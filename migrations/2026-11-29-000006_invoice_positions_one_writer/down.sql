CREATE OR REPLACE FUNCTION invoices_number_positions(customer_ids BIGINT[]) RETURNS void
LANGUAGE sql AS $$
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
      AND i.customer_position IS DISTINCT FROM ranked.position
$$;
