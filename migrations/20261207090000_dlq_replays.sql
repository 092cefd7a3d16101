-- What `orderflow dlq replay` put back on the commands topic: one row per dead letter,
-- written once the broker acknowledged the replayed command. A replay that stopped half-way
-- is run again and skips these (a replay that stopped between the acknowledgement and this
-- row sends its command twice; the processor applies a command id once).
CREATE TABLE dlq_replays (
    dlq_topic         text        NOT NULL,
    dlq_partition     integer     NOT NULL,
    dlq_offset        bigint      NOT NULL,
    -- Where the replayed command landed.
    command_partition integer     NOT NULL,
    command_offset    bigint      NOT NULL,
    -- Re-encoded from a corrected JSON file, rather than sent as it was.
    fixed             boolean     NOT NULL,
    replayed_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dlq_topic, dlq_partition, dlq_offset)
);
