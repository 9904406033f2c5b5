//! The data's lifecycle (contract revision 3): what leaves, and how an operator
//! answers for what is kept.
//!
//! - [`retention`]: `ID2META_RESULTS_RETENTION`, the worker's background sweep.
//! - [`forget`]: a person's deletion request, by the identity digest.
//! - [`lookup`]: a person's masked rows, audited.
//! - [`people`]: reading `name,id_number` from standard input (CSV, JSON Lines).

pub mod forget;
pub mod lookup;
pub mod people;
pub mod report;
pub mod retention;
