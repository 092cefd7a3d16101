-- Events whose order the processor could not write to Redis (it was down or cut off), set
-- when the event is marked published. The in-memory cache backlog repairs them while the
-- processor lives; if it dies first, the partition's next owner rewrites these orders from
-- their rows, as it republishes what is unpublished. Cleared once the order is in Redis at
-- that version or newer. A flag may outlive its repair (it is set after the publish, the
-- repair may come sooner): the next owner then rewrites the order once more, which is
-- harmless (the newest row, written only if newer).
ALTER TABLE order_events ADD COLUMN cache_pending boolean NOT NULL DEFAULT false;
CREATE INDEX order_events_cache_pending ON order_events (source_partition, order_id)
    WHERE cache_pending;
