//! The smallest piece of a batch handed to one of rayon's threads.
//!
//! metricd already runs one worker process per core, so splitting a sack
//! over threads pays only when each piece is large enough to cover waking
//! a thread; smaller pieces cost CPU for the handoff and for the idle
//! threads' spinning, and give nothing back. A step whose batch is below
//! twice this size runs on the calling thread.
//!
//! The file backends' I/O is never split: on the seed scenario (2 cores),
//! splitting it cost about 10% more CPU per metric for about 20% more
//! throughput of one process, and metricd gets its throughput from its
//! worker processes.

/// Metrics (or splits) merged, aggregated or decoded by one piece.
pub const METRICS_PER_TASK: usize = 32;
