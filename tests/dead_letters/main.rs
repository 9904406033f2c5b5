//! Dead letters rest sealed, with the contract's masked headers and an
//! expiration, however they got there (the worker's refusals and the broker's
//! own delivery limit); the tools replay and purge exactly what was selected;
//! a broker declared by the first release keeps working and is swept.

mod first_release;
#[path = "../worker/helpers.rs"]
mod helpers;
mod large_headers;
mod letters;
mod refused_results;
mod sealing;
mod tools;
