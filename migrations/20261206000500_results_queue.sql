-- The queue a job was consumed from (contract revision 3, "Several job queues,
-- weighted"): a bulk queue of `ID2META_QUEUE_WEIGHTS` or `<jobs queue>.interactive`.
-- Set on every row written from now on; NULL on rows written before it (their
-- queue is not known). Adding a nullable column without a default is a catalogue
-- change only: no table rewrite, however many rows there are.
ALTER TABLE verification_results ADD COLUMN IF NOT EXISTS queue text;
