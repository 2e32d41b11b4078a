-- `billing import`: a record of every run, the audit of the billing groups a run changed,
-- and positions that a load which appends a customer's newest bills may give itself.

-- One row per file a run loads: what, from which file, how far it got, and how it ended.
-- A run commits its counts with every batch, so that a stopped one shows what it loaded.
CREATE TABLE import_runs (
    run_id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at TIMESTAMPTZ,
    kind        TEXT NOT NULL CHECK (kind IN ('customers', 'subscribers', 'groups', 'invoices')),
    file_name   TEXT NOT NULL,
    -- The file's bytes as read (compressed, for a .gz); known once it has been read whole.
    file_sha256 BYTEA CHECK (octet_length(file_sha256) = 32),
    atomic      BOOLEAN NOT NULL,
    lines_read  BIGINT NOT NULL DEFAULT 0,
    inserted    BIGINT NOT NULL DEFAULT 0,
    updated     BIGINT NOT NULL DEFAULT 0,
    unchanged   BIGINT NOT NULL DEFAULT 0,
    rejected    BIGINT NOT NULL DEFAULT 0,
    -- `running` while a process loads it (it holds the run's advisory lock), then `loaded`,
    -- `loaded with rejects` or `stopped` (a failure ended it).
    outcome     TEXT NOT NULL DEFAULT 'running'
        CHECK (outcome IN ('running', 'loaded', 'loaded with rejects', 'stopped'))
);

-- A change an import made names its run; an API change names none.
ALTER TABLE billing_group_audit ADD COLUMN import_run_id BIGINT;

-- The positions' locks, taken by every writer of invoices before it reads or writes
-- positions: 64 of them, which customers share by their key modulo 64, in ascending order
-- (migration 000006 says why).
CREATE FUNCTION invoices_lock_positions(customer_ids BIGINT[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    -- 1768846960 ('invp'): the positions' own space of advisory locks.
    PERFORM pg_advisory_xact_lock(1768846960, bucket)
    FROM (SELECT DISTINCT (customer_id % 64)::integer AS bucket
          FROM unnest(customer_ids) AS customer_id ORDER BY 1) AS buckets;
END
$$;

CREATE OR REPLACE FUNCTION invoices_number_positions(customer_ids BIGINT[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM invoices_lock_positions(customer_ids);
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

-- After an insert, a customer whose new invoices come after all its others and carry the
-- positions that follow theirs, in order, keeps them: renumbering it would read every one
-- of its invoices to write none. The claim is checked under the customer's lock, against
-- what is committed then (each statement of a function sees what was committed before it
-- began): the new positions are consecutive in the invoices' order, the invoice before
-- the first of them is there and older, and no other invoice holds a position from there
-- on. Every other customer of the statement is renumbered, as before.
CREATE OR REPLACE FUNCTION invoices_positions_after_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    moved BIGINT[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM invoices_lock_positions(ARRAY(SELECT DISTINCT customer_id FROM new_rows));
        moved := ARRAY(
            WITH ranked AS (
                SELECT customer_id, customer_position, bill_date, invoice_number,
                       row_number() OVER (PARTITION BY customer_id
                                          ORDER BY bill_date, invoice_number) AS rank,
                       min(customer_position) OVER (PARTITION BY customer_id) AS first_new
                FROM new_rows
            ), claims AS (
                SELECT customer_id,
                       bool_and(customer_position IS NOT NULL
                                AND customer_position = first_new + rank - 1) AS in_order,
                       min(first_new) AS first_new,
                       count(*) AS added,
                       min(bill_date) FILTER (WHERE rank = 1) AS oldest_date,
                       min(invoice_number) FILTER (WHERE rank = 1) AS oldest_number
                FROM ranked
                GROUP BY customer_id
            )
            SELECT c.customer_id
            FROM claims AS c
            WHERE NOT coalesce(
                c.in_order
                AND (SELECT count(*) FROM invoices AS i
                     WHERE i.customer_id = c.customer_id
                       AND i.customer_position >= c.first_new) = c.added
                AND (c.first_new = 1 OR EXISTS (
                     SELECT 1 FROM invoices AS i
                     WHERE i.customer_id = c.customer_id
                       AND i.customer_position = c.first_new - 1
                       AND (i.bill_date, i.invoice_number) < (c.oldest_date, c.oldest_number))),
                false));
    ELSIF TG_OP = 'DELETE' THEN
        moved := ARRAY(SELECT DISTINCT customer_id FROM old_rows);
    ELSE
        -- The customers of the rows whose ordering columns changed. Numbering changes none
        -- of them, so its own UPDATE comes back here with nothing to do.
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
