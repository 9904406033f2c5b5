//! Alibaba Cloud `Id2MetaVerifyIntl`: request signing, the HTTP client, and the
//! classification of what it answers.

pub mod client;
mod dial;
pub mod outcome;
mod pool;
mod proxy;
mod response;
pub mod signing;
mod warm;

pub use client::{Client, UpstreamConfig};
pub use outcome::{classify, pause_cause, Failure, FailureClass, Outcome, Verdict};
pub use warm::WarmShare;

/// The API's fixed parameters.
pub const ACTION: &str = "Id2MetaVerifyIntl";
pub const API_VERSION: &str = "2022-08-09";
pub const PRODUCT_CODE: &str = "ID_2META";
pub const PARAM_TYPE: &str = "normal";
