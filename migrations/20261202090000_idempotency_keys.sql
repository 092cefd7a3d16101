-- Idempotency keys of HTTP writes, durable: the first request under a key (per storefront,
-- hashed) and its fingerprint. A later request under the same key with another fingerprint
-- is rejected `idempotency_conflict`, also when Redis (the fast path) forgot or never saw
-- the key. Written by the processor in the batch's transaction.
CREATE TABLE idempotency_keys (
    key_hash    bytea PRIMARY KEY,
    fingerprint bytea       NOT NULL,
    command_id  uuid        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
