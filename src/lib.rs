//! gnocchi-rs: a native core for Gnocchi 4.7.
//!
//! `carbonara` is the time-series model and its bytes, with no I/O and no
//! Python; `archive_policy` resolves policies; `py` (behind the `python`
//! feature) is the thin PyO3 binding that maturin builds.

pub mod aggregates;
pub mod api;
pub mod archive_policy;
pub mod carbonara;
pub mod check;
pub mod error;
pub mod incoming;
pub mod pipeline;
pub mod rados;
pub mod schedule;
pub mod redis_client;
pub mod redis_sentinel;
pub mod redis_tls;
pub mod storage;
pub mod task_size;

#[cfg(feature = "python")]
mod py;

pub use error::{Error, Result};
