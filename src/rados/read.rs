//! Batched whole-object reads.

use super::ffi::ReadKind;
use super::{check, Pool, ENOENT, ERANGE, EOVERFLOW};
use crate::error::{Error, Result};
use std::ffi::c_int;

/// Whole-object reads in flight at once, which bounds the buffers a batch
/// holds (and stays under librados' in-flight throttles).
const READS_IN_FLIGHT: usize = 1024;
/// How many times an object rewritten between the two reads of a large
/// object is read again before giving up.
const READ_ATTEMPTS: usize = 5;

impl Pool {
    /// Whole objects, `None` for missing ones.
    pub fn read_objects(&self, objects: &[String], flags: c_int) -> Result<Vec<Option<Vec<u8>>>> {
        let mut results = Vec::with_capacity(objects.len());
        for window in objects.chunks(READS_IN_FLIGHT) {
            results.extend(self.read_window(window, flags)?);
        }
        Ok(results)
    }

    /// One wave of whole-object reads: the size and the first bytes of
    /// each, then the rest of the larger ones, on condition that they were
    /// not rewritten in between (else they are read again).
    fn read_window(&self, objects: &[String], flags: c_int) -> Result<Vec<Option<Vec<u8>>>> {
        let mut results: Vec<Option<Vec<u8>>> = vec![None; objects.len()];
        let mut todo: Vec<usize> = (0..objects.len()).collect();
        for _ in 0..READ_ATTEMPTS {
            if todo.is_empty() {
                break;
            }
            let firsts = todo
                .iter()
                .map(|&i| self.io.submit_read(&objects[i], ReadKind::Whole, flags).map(|r| (i, r)))
                .collect::<Result<Vec<_>>>()?;
            let mut rests = Vec::new();
            for (i, read) in firsts {
                let (rc, slot) = read.wait();
                if rc == -ENOENT {
                    continue;
                }
                check(rc.min(slot.stat_rc).min(slot.read_rc), || format!("reading {}", objects[i]))?;
                let head = slot.bytes().to_vec();
                if slot.size > head.len() as u64 {
                    let len = usize::try_from(slot.size - head.len() as u64)
                        .map_err(|_| Error::Backend(format!("ceph: {} is too large", objects[i])))?;
                    let kind = ReadKind::Range { offset: head.len() as u64, len, version: read.version() };
                    rests.push((i, head, self.io.submit_read(&objects[i], kind, flags)?));
                } else {
                    results[i] = Some(head);
                }
            }
            let mut again = Vec::new();
            for (i, mut head, read) in rests {
                let (rc, slot) = read.wait();
                match rc {
                    rc if rc == -ENOENT => {}
                    rc if rc == -ERANGE || rc == -EOVERFLOW => again.push(i),
                    rc => {
                        check(rc.min(slot.read_rc), || format!("reading {}", objects[i]))?;
                        head.extend_from_slice(slot.bytes());
                        results[i] = Some(head);
                    }
                }
            }
            todo = again;
        }
        match todo.first() {
            Some(&i) => Err(Error::Backend(format!("ceph: {} kept changing while being read", objects[i]))),
            None => Ok(results),
        }
    }
}
