//! The QPS budget across replicas against a real PostgreSQL (one fresh database per
//! test), without RabbitMQ: each "replica" is a budget loop with its own pool and
//! limiter, and a driver that takes tokens as fast as the limiter allows, as a
//! replica with a backlog would. Every token is a call; the tests count them.

mod caps;
mod isolation;
mod replicas;
mod rows;
mod rule;
mod sharing;
