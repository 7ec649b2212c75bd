-- Statements ACME Ledger runs in production; each must succeed.
INSERT INTO accounts (name) VALUES ('cash');
INSERT INTO entries (account_id, amount, memo, tags) VALUES (1, 100.00, 'first', ARRAY['opening']);
SELECT a.name, sum(e.amount) FROM accounts a JOIN entries e ON e.account_id = a.id GROUP BY a.name;
