//! The data's lifecycle (contract revision 3): what leaves, and how an operator
//! answers for what is kept.
//!
//! - [`retention`]: `ID2META_RESULTS_RETENTION`, the worker's background sweep.

pub mod retention;
