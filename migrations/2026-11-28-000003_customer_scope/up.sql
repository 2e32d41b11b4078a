-- Which customers each client serves, and the audit trail of changes to billing groups.
--
-- A client serves every customer (first-party: the self-care app's own back end) or only
-- the customers granted to it (a partner). Every client registered before this migration
-- keeps serving every customer, as it did: the column is added as true for them, and new
-- clients say which they are.
ALTER TABLE oauth_clients ADD COLUMN all_customers BOOLEAN NOT NULL DEFAULT true;
ALTER TABLE oauth_clients ALTER COLUMN all_customers DROP DEFAULT;

CREATE TABLE oauth_client_customers (
    client_id   TEXT NOT NULL REFERENCES oauth_clients ON DELETE CASCADE,
    customer_id BIGINT NOT NULL REFERENCES customers ON DELETE CASCADE,
    PRIMARY KEY (client_id, customer_id)
);

-- One record per committed create, update or delete of a billing group, written in the
-- transaction of the change. No foreign keys: a record outlives its client and customer.
CREATE TABLE billing_group_audit (
    customer_id BIGINT NOT NULL,
    audit_id    BIGINT GENERATED ALWAYS AS IDENTITY,
    at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    client_id   TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    group_id    TEXT NOT NULL,
    action      TEXT NOT NULL CHECK (action IN ('create', 'update', 'delete')),
    before      JSONB,
    after       JSONB,
    PRIMARY KEY (customer_id, audit_id)
);

-- Append-only: no UPDATE or DELETE, whoever sends it.
CREATE FUNCTION billing_group_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'billing_group_audit is append-only';
END
$$;
CREATE TRIGGER billing_group_audit_append_only
    BEFORE UPDATE OR DELETE ON billing_group_audit
    FOR EACH ROW EXECUTE FUNCTION billing_group_audit_append_only();
