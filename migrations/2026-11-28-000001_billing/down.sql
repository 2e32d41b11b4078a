DROP TABLE invoices;
DROP TABLE billing_groups;
DROP TABLE subscribers;
DROP TABLE customers;
