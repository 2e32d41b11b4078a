-- Only successful answers are stored under an idempotency key, and each operation has one:
-- a replay answers the operation's own success status, so the stored status said nothing.
ALTER TABLE idempotency_keys DROP COLUMN status;
