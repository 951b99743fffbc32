//! The one error type of the core. The Python binding converts it to
//! exceptions in a single place (`py::errors`).

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// A stored blob cannot be decoded (upstream's `InvalidData`).
    InvalidData(String),
    /// A series starts before 1970 and cannot be aggregated.
    BeforeEpoch(i64),
    /// The aggregation method name is not one upstream knows.
    UnknownAggregationMethod(String),
    /// `rate:` on a calendar grouping (upstream raises `TypeError`).
    CannotDeriveCalendar,
    /// An argument that upstream rejects with `ValueError`.
    InvalidArgument(String),
    /// A storage or incoming backend failed (I/O, connection, protocol);
    /// the batch is left as it was, to be retried.
    Backend(String),
    /// A backend cannot be set up from its options.
    Config(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidData(why) => write!(f, "Unable to unpack, invalid data: {why}"),
            Error::BeforeEpoch(ts) => write!(f, "{ts} is before Epoch"),
            Error::UnknownAggregationMethod(m) => write!(f, "Unknown aggregation method `{m}'"),
            Error::CannotDeriveCalendar => {
                write!(f, "Cannot derive aggregates on calendar granularities.")
            }
            Error::InvalidArgument(why) => write!(f, "{why}"),
            Error::Backend(why) => write!(f, "storage backend error: {why}"),
            Error::Config(why) => write!(f, "invalid storage configuration: {why}"),
        }
    }
}

impl std::error::Error for Error {}

pub(crate) fn invalid_data(why: impl Into<String>) -> Error {
    Error::InvalidData(why.into())
}

pub(crate) fn backend(context: impl fmt::Display, err: impl fmt::Display) -> Error {
    Error::Backend(format!("{context}: {err}"))
}
