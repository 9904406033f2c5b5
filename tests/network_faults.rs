//! The worker between fault-injecting proxies for RabbitMQ, PostgreSQL and the
//! upstream: connections reset, a stalled database, latency beyond the client
//! timeout. After each fault every job has one row and one completion at least,
//! and the upstream was called once per job except for calls cut in flight.

#[path = "support/fault_proxy.rs"]
mod fault_proxy;
