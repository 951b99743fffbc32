//! How a batch is shared out over rayon's threads.
//!
//! metricd already runs one worker process per core, so splitting a sack
//! over threads pays only when each piece is large enough to cover waking
//! a thread; smaller pieces cost CPU for the handoff and for the idle
//! threads' spinning, and give nothing back. A step whose batch is below
//! twice these sizes runs on the calling thread.

/// Files read, written or removed by one piece of a parallel step.
pub const FILES_PER_TASK: usize = 64;

/// Metrics (or splits) merged, aggregated or encoded by one piece.
pub const METRICS_PER_TASK: usize = 32;
