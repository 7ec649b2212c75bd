-- ACME Ledger's schema, written for PostgreSQL.
CREATE TABLE accounts (
    id      SERIAL PRIMARY KEY,
    name    TEXT NOT NULL UNIQUE,
    opened  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE entries (
    id         BIGSERIAL PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    amount     NUMERIC(12, 2) NOT NULL,
    memo       TEXT DEFAULT 'opening; balance',
    tags       TEXT[] NOT NULL DEFAULT '{}'
);

CREATE INDEX entries_account ON entries (account_id);
