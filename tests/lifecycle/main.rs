//! Accountability and the data's lifecycle (contract revision 3), against the
//! real PostgreSQL and RabbitMQ, the in-process mock and the `id2meta` binary:
//! the audit log, spend, retention, `forget`, `lookup` and the monthly report.
//! Each test has its own database and queue names.

mod audit_log;
mod commands;
mod forget;

#[path = "../worker/helpers.rs"]
mod helpers;
mod report;
mod retention;
mod rows;
mod spend;
