-- orderflow's first schema. Only the processor writes these tables; the ingress reads them.

-- Current state of every order. `body` is the order as readers see it (GET response shape);
-- the columns beside it exist for filtering, paging and version checks.
CREATE TABLE orders (
    order_id      uuid PRIMARY KEY,
    storefront_id text        NOT NULL,
    customer_id   text        NOT NULL,
    status        text        NOT NULL,
    version       bigint      NOT NULL CHECK (version > 0),
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    deleted_at    timestamptz,
    body          jsonb       NOT NULL
);
CREATE INDEX orders_storefront_created ON orders (storefront_id, created_at, order_id)
    WHERE deleted_at IS NULL;

-- Every event ever emitted (history, kept for audit) and the transactional outbox: a row is
-- published when published_at is set. `payload` is the exact record value sent to Kafka, so a
-- republished event is byte-identical to the first attempt.
CREATE TABLE order_events (
    event_id         uuid PRIMARY KEY,
    order_id         uuid        NOT NULL,
    version          bigint      NOT NULL,
    event_type       text        NOT NULL,
    causation_id     uuid        NOT NULL,
    occurred_at      timestamptz NOT NULL,
    payload          bytea       NOT NULL,
    -- Where the causing command came from, so a partition's new owner republishes its rows.
    source_partition integer     NOT NULL,
    seq              bigint GENERATED ALWAYS AS IDENTITY,
    published_at     timestamptz
);
CREATE INDEX order_events_history ON order_events (order_id, seq);
CREATE INDEX order_events_unpublished ON order_events (source_partition, seq)
    WHERE published_at IS NULL;

-- Every command applied or rejected: the idempotency record, and the answer to
-- GET /v1/commands/{id}.
CREATE TABLE processed_commands (
    command_id     uuid PRIMARY KEY,
    order_id       uuid        NOT NULL,
    storefront_id  text        NOT NULL,
    command_type   text        NOT NULL,
    outcome        text        NOT NULL CHECK (outcome IN ('applied', 'rejected')),
    version        bigint,
    rejection_code text,
    rejection_msg  text,
    processed_at   timestamptz NOT NULL DEFAULT now()
);

-- The next offset to consume per partition, moved in the same transaction as the state it
-- produced: this, not the broker's committed offset, is where consumption resumes.
CREATE TABLE consumer_offsets (
    group_id    text        NOT NULL,
    topic       text        NOT NULL,
    partition   integer     NOT NULL,
    next_offset bigint      NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, topic, partition)
);
