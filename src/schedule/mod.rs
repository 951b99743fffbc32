//! Which worker takes which sack, and in what order a worker walks its
//! own: tooz's hash ring and the plan of a processing pass.

pub mod md5;
pub mod plan;
pub mod ring;
