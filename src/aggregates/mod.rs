//! `/v1/aggregates`: the operations language of upstream's API.
//!
//! `expression` reads the operations string into a tree as upstream's
//! parser does; evaluation is still upstream's (numpy), see
//! `python/gnocchi_rs/rest/aggregates.py`.

pub mod expression;
