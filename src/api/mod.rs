//! The native request path, pure: request bodies parsed and validated with
//! upstream's rules. Nothing here knows HTTP or Python.
//!
//! The native path answers only requests it fully understands: a body in a
//! form upstream accepts and whose meaning is certain (the numbers, times
//! and ids it would compute are the ones computed here). Anything else is
//! *declined*, and the caller hands the request to upstream's own code,
//! which gives upstream's answer, errors included, to the letter.

pub mod answer;
pub mod guard;
pub mod json;
pub mod measures;
pub mod render;
pub mod timestamps;

/// Why the native path declined a body (for the logs; the request is then
/// served by upstream's code, which decides what it means).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declined(pub &'static str);

pub type Parse<T> = std::result::Result<T, Declined>;
