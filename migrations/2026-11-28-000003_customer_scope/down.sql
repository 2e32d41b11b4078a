DROP TABLE billing_group_audit;
DROP FUNCTION billing_group_audit_append_only();
DROP TABLE oauth_client_customers;
ALTER TABLE oauth_clients DROP COLUMN all_customers;
