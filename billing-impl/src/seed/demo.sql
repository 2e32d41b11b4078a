-- The demo data set: three customers of the Honduran market with contracts, subscribers,
-- billing groups and a year of monthly bills. Loaded once: it does nothing when customer
-- CLIENT_CODE 1001 exists.
DO $$
BEGIN
IF EXISTS (SELECT 1 FROM customers WHERE id_type = 'CLIENT_CODE' AND code = 1001) THEN
    RETURN;
END IF;

INSERT INTO customers (id_type, code, name) VALUES
    ('CLIENT_CODE', 1001, 'Inversiones Moradel S. de R.L.'),
    ('CLIENT_CODE', 1002, 'Farmacia La Ceiba'),
    ('CLIENT_CODE', 1003, 'Maria Fernanda Zelaya');

INSERT INTO subscribers (customer_id, msisdn, contract_number, billing_address, billing_cycle, city, department)
SELECT c.customer_id, s.msisdn, s.contract_number, s.address, s.cycle, s.city, s.department
FROM customers AS c
JOIN (VALUES
    (1001, 50499001001, 770001, 'Col. Palmira, Av. Republica de Chile 1402', 'MONTHLY-05', 'Tegucigalpa', 'Francisco Morazan'),
    (1001, 50499001002, 770002, 'Col. Palmira, Av. Republica de Chile 1402', 'MONTHLY-05', 'Tegucigalpa', 'Francisco Morazan'),
    (1002, 50499002001, 770101, 'Barrio El Centro, 1 Calle, 9 Avenida', 'MONTHLY-15', 'La Ceiba', 'Atlantida'),
    (1003, 50499003001, 770201, 'Res. Jardines del Valle, bloque 4, casa 12', 'MONTHLY-25', 'San Pedro Sula', 'Cortes')
) AS s (code, msisdn, contract_number, address, cycle, city, department) ON c.code = s.code
WHERE c.id_type = 'CLIENT_CODE';

INSERT INTO billing_groups (customer_id, group_id, address)
SELECT c.customer_id, g.group_id, g.address
FROM customers AS c
JOIN (VALUES
    (1001, 'HQ', 'Col. Palmira, Av. Republica de Chile 1402, Tegucigalpa'),
    (1001, 'SALES', 'Blvd. del Norte, km 3, San Pedro Sula'),
    (1002, 'MAIN', 'Barrio El Centro, 1 Calle, 9 Avenida, La Ceiba')
) AS g (code, group_id, address) ON c.code = g.code
WHERE c.id_type = 'CLIENT_CODE';

-- Twelve monthly bills per subscriber, December 2025 to November 2026; the oldest are
-- paid, the latest open, one overdue.
INSERT INTO invoices (
    customer_id, invoice_number, billing_group_id, subscriber_msisdn, contract_number,
    invoice_status, bill_date, bill_period, period_start_date, period_end_date,
    expiration_date, expiration_electronic_date, print_date, payment_date,
    invoice_amount, invoice_balance, payment_amount, invoiced_service_count, invoice_type,
    invoice_serial, invoice_description, billing_name, billing_address, billplan,
    contact_name, phone, cai, dei, attachment)
SELECT s.customer_id,
       '000-001-01-' || lpad((s.msisdn % 100000 * 100 + m)::text, 8, '0'),
       CASE s.msisdn WHEN 50499001001 THEN 'HQ' WHEN 50499001002 THEN 'SALES'
                     WHEN 50499002001 THEN 'MAIN' END,
       s.msisdn, s.contract_number,
       CASE WHEN m = 12 THEN 'OPEN' WHEN m = 11 AND s.msisdn = 50499003001 THEN 'OVERDUE'
            WHEN m = 11 THEN 'PARTIALLY_PAID' ELSE 'PAID' END,
       bill.day, to_char(bill.day - 1, 'YYYY-MM'),
       (bill.day - INTERVAL '1 month')::date, bill.day - 1,
       bill.day + 20, DATE '2027-06-30', bill.day,
       CASE WHEN m <= 10 THEN bill.day + 12 WHEN m = 11 AND s.msisdn <> 50499003001 THEN bill.day + 15 END,
       amount.total,
       CASE WHEN m <= 10 THEN 0 WHEN m = 11 AND s.msisdn <> 50499003001 THEN round(amount.total / 2, 2) ELSE amount.total END,
       CASE WHEN m <= 10 THEN amount.total WHEN m = 11 AND s.msisdn <> 50499003001 THEN amount.total - round(amount.total / 2, 2) ELSE 0 END,
       3, 'FACTURA', 'A', 'Servicios moviles postpago', c.name, s.billing_address,
       CASE WHEN c.code = 1001 THEN 'Plan Empresarial 40GB' ELSE 'Plan Tigo 15GB' END,
       c.name, '+' || s.msisdn, '4B2F1A-9C8D7E-6F5A4B-3C2D1E-0F9A8B-7C', 'SAR-2026-0001',
       'https://selfcare.example/bills/' || s.msisdn || '/' || m || '.pdf'
FROM subscribers AS s
JOIN customers AS c USING (customer_id)
CROSS JOIN generate_series(1, 12) AS m
CROSS JOIN LATERAL (SELECT (DATE '2025-12-01' + (m - 1) * INTERVAL '1 month'
                            + (substring(s.billing_cycle FROM 9)::int - 1) * INTERVAL '1 day')::date AS day) AS bill
CROSS JOIN LATERAL (SELECT round(450 + (s.msisdn % 97) * 13.37 + m * 1.11, 2) AS total) AS amount
WHERE c.id_type = 'CLIENT_CODE' AND c.code IN (1001, 1002, 1003);
END
$$;
