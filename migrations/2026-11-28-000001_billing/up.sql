-- Customers and what they own. Every customer-owned table carries customer_id and every
-- unique key includes it, so that the tables can be distributed by customer_id later.

CREATE TABLE customers (
    customer_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The contract's idType and id: how clients name the customer.
    id_type     TEXT NOT NULL CHECK (id_type ~ '^[A-Za-z][A-Za-z0-9_-]{0,31}$'),
    code        BIGINT NOT NULL CHECK (code >= 0),
    name        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (id_type, code)
);

CREATE TABLE subscribers (
    customer_id     BIGINT NOT NULL REFERENCES customers ON DELETE CASCADE,
    msisdn          BIGINT NOT NULL CHECK (msisdn BETWEEN 0 AND 999999999999999),
    contract_number BIGINT NOT NULL CHECK (contract_number >= 0),
    billing_address TEXT,
    billing_cycle   TEXT,
    city            TEXT,
    department      TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, msisdn)
);
-- The profile is looked up by MSISDN alone.
CREATE INDEX subscribers_msisdn ON subscribers (msisdn);

CREATE TABLE billing_groups (
    customer_id BIGINT NOT NULL REFERENCES customers ON DELETE CASCADE,
    group_id    TEXT NOT NULL CHECK (group_id ~ '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$'),
    address     TEXT NOT NULL CHECK (char_length(address) BETWEEN 1 AND 200),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, group_id)
);

CREATE TABLE invoices (
    customer_id                BIGINT NOT NULL REFERENCES customers ON DELETE CASCADE,
    invoice_number             TEXT NOT NULL,
    -- RESTRICT: a group that still holds invoices cannot be deleted.
    billing_group_id           TEXT,
    subscriber_msisdn          BIGINT,
    contract_number            BIGINT CHECK (contract_number >= 0),
    invoice_status             TEXT NOT NULL
        CHECK (invoice_status IN ('OPEN', 'PARTIALLY_PAID', 'PAID', 'OVERDUE', 'CANCELLED')),
    bill_date                  DATE NOT NULL,
    bill_period                TEXT,
    period_start_date          DATE,
    period_end_date            DATE,
    expiration_date            DATE,
    expiration_electronic_date DATE,
    print_date                 DATE,
    payment_date               DATE,
    invoice_amount             NUMERIC(15, 2) NOT NULL,
    invoice_balance            NUMERIC(15, 2) NOT NULL,
    payment_amount             NUMERIC(15, 2),
    invoiced_service_count     INTEGER CHECK (invoiced_service_count >= 0),
    invoice_type               TEXT,
    invoice_serial             TEXT,
    invoice_description        TEXT,
    billing_name               TEXT,
    billing_address            TEXT,
    billplan                   TEXT,
    contact_name               TEXT,
    phone                      TEXT,
    cai                        TEXT,
    dei                        TEXT,
    attachment                 TEXT,
    created_at                 TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, invoice_number),
    FOREIGN KEY (customer_id, billing_group_id)
        REFERENCES billing_groups (customer_id, group_id) ON DELETE RESTRICT,
    FOREIGN KEY (customer_id, subscriber_msisdn)
        REFERENCES subscribers (customer_id, msisdn) ON DELETE SET NULL (subscriber_msisdn)
);
-- A customer's bills, newest first with the invoice number as tie-break; and one group's.
CREATE INDEX invoices_by_customer ON invoices (customer_id, bill_date DESC, invoice_number DESC);
CREATE INDEX invoices_by_group ON invoices (customer_id, billing_group_id, bill_date DESC, invoice_number DESC)
    WHERE billing_group_id IS NOT NULL;
