-- A bulk data set for the benchmark: {customers} customers (idType CLIENT_CODE, ids from
-- {first_id} up), each with 2 subscribers (MSISDN 5040000000000 + 10 × id + 1 or 2),
-- 3 billing groups (G1 to G3) and {invoices_per_customer} invoices, one bill a day going back
-- from 2026-11-05, three in four of them in a group.
INSERT INTO customers (id_type, code, name)
SELECT 'CLIENT_CODE', {first_id} - 1 + n, 'Bulk customer ' || ({first_id} - 1 + n)
FROM generate_series(1, {customers}) AS n;

CREATE TEMPORARY TABLE bulk_customers ON COMMIT DROP AS
SELECT customer_id, code AS n
FROM customers
WHERE id_type = 'CLIENT_CODE' AND code BETWEEN {first_id} AND {first_id} - 1 + {customers};

INSERT INTO subscribers (customer_id, msisdn, contract_number, billing_address, billing_cycle, city, department)
SELECT c.customer_id, 5040000000000 + c.n * 10 + s, c.n * 10 + s,
       'Colonia Palmira, casa ' || c.n, 'MONTHLY-05', 'Tegucigalpa', 'Francisco Morazan'
FROM bulk_customers AS c CROSS JOIN generate_series(1, 2) AS s;

INSERT INTO billing_groups (customer_id, group_id, address)
SELECT c.customer_id, 'G' || g, 'Colonia Palmira, casa ' || c.n || ', grupo ' || g
FROM bulk_customers AS c CROSS JOIN generate_series(1, 3) AS g;

INSERT INTO invoices (
    customer_id, invoice_number, billing_group_id, subscriber_msisdn, contract_number,
    invoice_status, bill_date, bill_period, period_start_date, period_end_date,
    expiration_date, invoice_amount, invoice_balance, payment_amount, invoiced_service_count,
    invoice_type, invoice_serial, invoice_description, billing_name, billplan, cai,
    customer_position)
SELECT c.customer_id,
       'INV-' || c.n || '-' || lpad(i::text, 6, '0'),
       CASE WHEN i % 4 = 0 THEN NULL ELSE 'G' || (i % 3 + 1) END,
       5040000000000 + c.n * 10 + (i % 2 + 1),
       c.n * 10 + (i % 2 + 1),
       (ARRAY['OPEN', 'PARTIALLY_PAID', 'PAID', 'OVERDUE', 'CANCELLED'])[i % 5 + 1],
       DATE '2026-11-05' - (i - 1),
       to_char(DATE '2026-11-05' - (i - 1), 'YYYY-MM'),
       DATE '2026-11-05' - (i - 1) - 30,
       DATE '2026-11-05' - (i - 1) - 1,
       DATE '2026-11-05' - (i - 1) + 20,
       round((100 + (i * 37 % 5000))::numeric / 7, 2),
       round((100 + (i * 37 % 5000))::numeric / 14, 2),
       round((100 + (i * 37 % 5000))::numeric / 14, 2),
       1 + i % 4,
       'FACTURA', 'A', 'Servicios moviles', 'Bulk customer ' || c.n, 'Plan Empresarial',
       '4B2F1A-9C8D7E-6F5A4B-3C2D1E-0F9A8B-7C',
       -- Invoice 1 is the newest: the last position. Set here, the trigger has none to write.
       {invoices_per_customer} - i + 1
FROM bulk_customers AS c CROSS JOIN generate_series(1, {invoices_per_customer}) AS i;
