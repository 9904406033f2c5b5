//! The user's commands against a real RabbitMQ and PostgreSQL: `enqueue`,
//! `results` and `batch`, run as the binary a user runs, with isolated queue
//! and database names per test.

mod enqueue;
mod helpers;
mod memory;
mod results;
