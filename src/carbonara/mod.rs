//! The Carbonara time-series model of Gnocchi 4.7, following the data's
//! life: raw points (`series`) are bucketed (`timestamp`, `group`),
//! aggregated (`aggregate`), cut into splits (`split`) and encoded
//! (`codec`, `lz4`).

pub mod aggregate;
pub mod codec;
pub mod group;
pub mod lz4;
pub mod pyfloat;
pub mod series;
pub mod split;
pub mod timestamp;

pub use aggregate::Method;
pub use group::{Granularity, Grouping};
pub use series::Point;
pub use split::SplitKey;

/// Points per split object, whatever the granularity.
pub const POINTS_PER_SPLIT: i64 = 3600;
