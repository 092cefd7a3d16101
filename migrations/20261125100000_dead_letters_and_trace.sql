-- Dead letters: undecodable commands, stored in the batch's transaction and published from
-- here like events from order_events, so a crash between consuming and publishing cannot
-- lose them. Also the source for a later `orderflow dlq replay`.
CREATE TABLE dead_letters (
    seq              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_topic     text        NOT NULL,
    source_partition integer     NOT NULL,
    source_offset    bigint      NOT NULL,
    record_key       bytea,
    payload          bytea       NOT NULL,
    -- The DLQ record's headers, as a JSON object of strings.
    headers          jsonb       NOT NULL,
    error_kind       text        NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    published_at     timestamptz,
    UNIQUE (source_topic, source_partition, source_offset)
);
CREATE INDEX dead_letters_unpublished ON dead_letters (source_partition, seq)
    WHERE published_at IS NULL;

-- The W3C traceparent an event carries, continued from its command's.
ALTER TABLE order_events ADD COLUMN traceparent text;
