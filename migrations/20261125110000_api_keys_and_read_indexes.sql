-- API keys: only a SHA-256 of the key is stored; the key itself is shown once at creation.
CREATE TABLE api_keys (
    key_id        text PRIMARY KEY,
    key_hash      bytea       NOT NULL UNIQUE,
    storefront_id text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz
);

-- GET /v1/orders filters, keyset-paginated on (created_at, order_id) within a storefront.
CREATE INDEX orders_storefront_status_created ON orders (storefront_id, status, created_at, order_id)
    WHERE deleted_at IS NULL;
CREATE INDEX orders_storefront_customer_created ON orders (storefront_id, customer_id, created_at, order_id)
    WHERE deleted_at IS NULL;
