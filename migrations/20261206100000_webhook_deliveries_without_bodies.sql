-- A delivery of an order event keeps no body of its own: the dispatcher builds it from the
-- event's record in order_events whenever it attempts the delivery again (a retry, a replay),
-- so delivering an event from the events topic writes one small row. Only notifications that
-- are not order events (`webhook.endpoint_disabled`) keep their body here.
ALTER TABLE webhook_deliveries ALTER COLUMN payload DROP NOT NULL;
