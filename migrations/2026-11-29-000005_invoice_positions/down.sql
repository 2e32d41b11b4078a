DROP INDEX invoices_by_position;
DROP TRIGGER invoices_positions_after_update ON invoices;
DROP TRIGGER invoices_positions_after_delete ON invoices;
DROP TRIGGER invoices_positions_after_insert ON invoices;
DROP FUNCTION invoices_positions_after_change();
DROP FUNCTION invoices_number_positions(BIGINT[]);
ALTER TABLE invoices DROP COLUMN customer_position;
