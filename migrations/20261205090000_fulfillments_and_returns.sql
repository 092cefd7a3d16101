-- Fulfillments and returns as rows (ORDER-MODEL.md "Fulfillments", "Returns"), beside the
-- order body that holds them too, so that "open fulfillments of a storefront" and "orders
-- with a return requested" are indexed queries. Written by the processor in the batch's
-- transaction from every order the batch changed; a row is the fact as it is now.
CREATE TABLE order_fulfillments (
    order_id        uuid        NOT NULL,
    fulfillment_id  text        NOT NULL,
    storefront_id   text        NOT NULL,
    status          text        NOT NULL,
    -- [{"sku": ..., "quantity": ...}]
    lines           jsonb       NOT NULL,
    carrier         text,
    tracking_number text,
    version         bigint      NOT NULL,
    updated_at      timestamptz NOT NULL,
    PRIMARY KEY (order_id, fulfillment_id)
);
CREATE INDEX order_fulfillments_open ON order_fulfillments (storefront_id, updated_at)
    WHERE status IN ('pending', 'shipped');

CREATE TABLE order_returns (
    order_id      uuid        NOT NULL,
    return_id     text        NOT NULL,
    storefront_id text        NOT NULL,
    status        text        NOT NULL,
    reason        text        NOT NULL,
    -- [{"sku": ..., "quantity": ..., "condition": ...}]
    lines         jsonb       NOT NULL,
    version       bigint      NOT NULL,
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (order_id, return_id)
);
CREATE INDEX order_returns_requested ON order_returns (storefront_id, updated_at)
    WHERE status = 'requested';

-- The derived statuses, for GET /v1/orders?fulfillment_status=&return_status=. An order
-- shipped or delivered before fulfillments existed reads with one fulfillment of everything.
ALTER TABLE orders ADD COLUMN fulfillment_status text NOT NULL DEFAULT 'unfulfilled',
                   ADD COLUMN return_status text NOT NULL DEFAULT 'none';
UPDATE orders SET fulfillment_status = 'fulfilled' WHERE status = 'shipped';
UPDATE orders SET fulfillment_status = 'delivered' WHERE status = 'delivered';
CREATE INDEX orders_storefront_fulfillment_status_created
    ON orders (storefront_id, fulfillment_status, created_at, order_id) WHERE deleted_at IS NULL;
CREATE INDEX orders_storefront_return_status_created
    ON orders (storefront_id, return_status, created_at, order_id) WHERE deleted_at IS NULL;
