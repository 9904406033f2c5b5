//! The worker end to end, against the real PostgreSQL and RabbitMQ and the
//! in-process mock upstream. Each test has its own database and queue names.

mod account;
mod cancelled;
mod duplicates;
mod helpers;
mod limiter;
mod poison;
mod retries;
mod reuse;
mod statuses;
