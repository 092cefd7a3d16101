-- Webhooks to storefronts (ORDER-MODEL.md "Notifications").
--
-- Endpoints are configuration, not order state: the ingress (`/v1/webhooks`) and
-- `orderflow webhooks endpoints` write them directly. Deliveries and attempts are the
-- dispatcher's durable retry state: a delivery is one event for one endpoint; the dispatcher
-- (`orderflow webhooks`) inserts them from `orders.events` and updates them as it attempts.
CREATE TABLE webhook_endpoints (
    endpoint_id           uuid        PRIMARY KEY,
    storefront_id         text        NOT NULL,
    url                   text        NOT NULL,
    -- The event types delivered; empty: every type.
    event_types           text[]      NOT NULL,
    description           text        NOT NULL,
    enabled               boolean     NOT NULL,
    -- Why orderflow disabled it (`gone`: it answered 410; `failing`: it failed for too long);
    -- null while enabled or when the storefront disabled it.
    disabled_reason       text,
    disabled_at           timestamptz,
    -- The signing secret, sealed with the key of --webhooks-secret-key (XChaCha20-Poly1305,
    -- nonce then ciphertext, the endpoint id as associated data): a dump alone cannot sign.
    secret                bytea       NOT NULL,
    -- The secret before the last rotation, still signing until `previous_secret_until`.
    previous_secret       bytea,
    previous_secret_until timestamptz,
    -- Since when every attempt failed; null after a success.
    failing_since         timestamptz,
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL
);
CREATE INDEX webhook_endpoints_storefront ON webhook_endpoints (storefront_id, created_at);

CREATE TABLE webhook_deliveries (
    delivery_id     uuid        PRIMARY KEY,
    endpoint_id     uuid        NOT NULL REFERENCES webhook_endpoints ON DELETE CASCADE,
    -- The `webhook-id` header: the event's id, the same for every endpoint and attempt.
    event_id        uuid        NOT NULL,
    event_type      text        NOT NULL,
    -- Null for a notification about the endpoint itself (`webhook.endpoint_disabled`).
    order_id        uuid,
    -- Order of one order's events: their offset on `orders.events` (one order, one partition).
    sequence        bigint      NOT NULL,
    occurred_at     timestamptz NOT NULL,
    -- The JSON body, signed anew at every attempt.
    payload         bytea       NOT NULL,
    -- pending, delivered, or failed (every attempt of the schedule failed).
    state           text        NOT NULL,
    attempts        integer     NOT NULL,
    -- Attempts made in the current run of the retry schedule (a retry or replay restarts it).
    step            integer     NOT NULL,
    next_attempt_at timestamptz NOT NULL,
    -- A dispatcher is attempting it until then.
    leased_until    timestamptz,
    last_status     integer,
    last_error      text,
    created_at      timestamptz NOT NULL,
    delivered_at    timestamptz,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (endpoint_id, next_attempt_at)
    WHERE state = 'pending';
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (endpoint_id, order_id, sequence)
    WHERE state = 'pending';
CREATE INDEX webhook_deliveries_by_time ON webhook_deliveries (endpoint_id, occurred_at);
CREATE INDEX webhook_deliveries_listing ON webhook_deliveries (endpoint_id, created_at, delivery_id);

CREATE TABLE webhook_attempts (
    attempt_id  uuid        PRIMARY KEY,
    delivery_id uuid        NOT NULL REFERENCES webhook_deliveries ON DELETE CASCADE,
    started_at  timestamptz NOT NULL,
    latency_ms  integer     NOT NULL,
    -- The response's status; null when none came (timeout, refused connection or address).
    status_code integer,
    -- What went wrong, in a few words; null for a 2xx.
    error       text
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, started_at);
