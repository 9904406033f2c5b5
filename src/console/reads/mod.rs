//! What the console reads: PostgreSQL for the fleet, batches and jobs, RabbitMQ for
//! the backlog. Every query here is bounded (a LIMIT, a time window or one key) and
//! served by an index (docs/console.md lists them), so a page stays fast on
//! millions of result rows.

pub mod backlog;
pub mod batches;
pub mod fleet;
pub mod jobs;
pub mod queues;
