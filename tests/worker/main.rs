//! The worker end to end, against the real PostgreSQL and RabbitMQ and the
//! in-process mock upstream. Each test has its own database and queue names.

mod helpers;
mod statuses;
