-- The payment ledger as rows (ORDER-MODEL.md "Payments"), beside the order body that holds it
-- too: so payments can be queried and indexed, e.g. found by their provider's reference (a
-- Stripe refund names its PaymentIntent, not the order). Written by the processor in the
-- batch's transaction, from the ledger of every order the batch changed; a row is the
-- transaction as it is now (a settlement updates its status).
CREATE TABLE order_payments (
    order_id           uuid        NOT NULL,
    transaction_id     text        NOT NULL,
    storefront_id      text        NOT NULL,
    kind               text        NOT NULL,
    amount             bigint      NOT NULL CHECK (amount > 0),
    status             text        NOT NULL,
    provider           text        NOT NULL,
    provider_reference text,
    parent_id          text,
    return_id          text,
    -- The order's version when the row was last written.
    version            bigint      NOT NULL,
    updated_at         timestamptz NOT NULL,
    PRIMARY KEY (order_id, transaction_id)
);
CREATE INDEX order_payments_provider_reference ON order_payments (provider, provider_reference)
    WHERE provider_reference IS NOT NULL;

-- The derived payment status, for GET /v1/orders?payment_status=. Orders written before
-- payments existed have none: unpaid.
ALTER TABLE orders ADD COLUMN payment_status text NOT NULL DEFAULT 'unpaid';
CREATE INDEX orders_storefront_payment_status_created
    ON orders (storefront_id, payment_status, created_at, order_id) WHERE deleted_at IS NULL;
