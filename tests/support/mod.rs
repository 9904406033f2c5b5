//! Support for the tests that run workers as real processes (`processes.rs`,
//! `restarts.rs`): a process can be killed, signalled and outlive a broker or
//! database restart in ways an in-process worker cannot show.
//!
//! Each test binary uses a different part of this module, hence the allowance.
#![allow(dead_code)]

pub mod process;
pub mod queues;
pub mod world;

pub use process::WorkerProcess;
pub use world::World;
