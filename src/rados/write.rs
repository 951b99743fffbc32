//! Batched write operations: one aio operation per object, all submitted
//! before any is waited for.

use super::{check, Pool, ENOENT};
use crate::error::Result;
use std::ffi::c_int;

/// One step of a write operation; all steps of an operation apply to one
/// object atomically.
pub enum WriteStep<'a> {
    /// Create the object if it is missing (a no-op otherwise).
    Create,
    WriteFull(&'a [u8]),
    WriteAt(&'a [u8], u64),
    Remove,
    OmapSet(Vec<(&'a [u8], &'a [u8])>),
    OmapRemove(Vec<&'a [u8]>),
}

pub struct WriteOp<'a> {
    pub object: String,
    pub steps: Vec<WriteStep<'a>>,
    pub flags: c_int,
}

pub fn write_op(object: String, steps: Vec<WriteStep<'_>>) -> WriteOp<'_> {
    WriteOp { object, steps, flags: 0 }
}

impl Pool {
    /// Submits every operation, then waits for all; returns each one's
    /// return code (0, or a negative errno the caller may tolerate).
    pub fn write(&self, ops: &[WriteOp<'_>]) -> Result<Vec<c_int>> {
        let in_flight = ops.iter().map(|op| self.io.submit_write(op)).collect::<Result<Vec<_>>>()?;
        Ok(in_flight.iter().map(|w| w.wait()).collect())
    }

    /// Like `write`, but any failure is an error, except a missing object
    /// when `missing_ok`.
    pub fn write_all(&self, ops: &[WriteOp<'_>], missing_ok: bool) -> Result<()> {
        for (op, rc) in ops.iter().zip(self.write(ops)?) {
            if !(missing_ok && rc == -ENOENT) {
                check(rc, || format!("writing {}", op.object))?;
            }
        }
        Ok(())
    }
}
