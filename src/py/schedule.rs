//! The hash ring and the pass planner for Python: members are ids the
//! Python face (`gnocchi_rs.hashring`) maps its objects to.

use super::errors::IntoPyResult;
use crate::schedule::plan::{PassPlanner, SackBacklog};
use crate::schedule::ring::{HashRing, MemberId};
use pyo3::prelude::*;
use std::collections::HashSet;

#[pyclass(name = "HashRing", module = "gnocchi_rs._native")]
pub struct PyHashRing {
    ring: HashRing,
}

#[pymethods]
impl PyHashRing {
    #[new]
    fn new(partitions: i64) -> PyHashRing {
        PyHashRing { ring: HashRing::new(partitions) }
    }

    fn add(&mut self, py: Python<'_>, member: MemberId, key: &[u8], weight: i64) -> PyResult<()> {
        self.ring.add(member, key, weight).into_py_result(py)
    }

    /// False when the member is not on the ring.
    fn remove(&mut self, member: MemberId) -> bool {
        self.ring.remove(member)
    }

    #[pyo3(signature = (data, ignore, replicas))]
    fn members_for(&self, data: &[u8], ignore: Vec<MemberId>, replicas: i64) -> Vec<MemberId> {
        let ignore: HashSet<MemberId> = ignore.into_iter().collect();
        self.ring.members_for(data, &ignore, replicas)
    }

    /// Positions in `objects` of those `member` owns.
    fn owned_by(&self, py: Python<'_>, member: MemberId, objects: Vec<Vec<u8>>, replicas: i64) -> Vec<usize> {
        let keys: Vec<&[u8]> = objects.iter().map(Vec::as_slice).collect();
        py.detach(|| self.ring.owned_by(member, &keys, replicas))
    }

    fn __len__(&self) -> usize {
        self.ring.len()
    }
}

#[pyclass(name = "PassPlanner", module = "gnocchi_rs._native")]
pub struct PyPassPlanner {
    planner: PassPlanner,
}

#[pymethods]
impl PyPassPlanner {
    #[new]
    fn new(interval: f64) -> PyPassPlanner {
        PyPassPlanner { planner: PassPlanner::new(interval) }
    }

    /// `(sacks, full_scan)`; `backlog`: `(sack, blobs, oldest unix time
    /// or None)` for the sacks a driver reported.
    #[pyo3(signature = (now, owned, notified, backlog, seed))]
    fn plan(
        &mut self,
        now: f64,
        owned: Vec<u32>,
        notified: Vec<u32>,
        backlog: Vec<(u32, u64, Option<f64>)>,
        seed: u64,
    ) -> (Vec<u32>, bool) {
        let backlog: Vec<SackBacklog> =
            backlog.into_iter().map(|(sack, blobs, oldest)| SackBacklog { sack, blobs, oldest }).collect();
        let plan = self.planner.plan(now, &owned, &notified, &backlog, seed);
        (plan.sacks, plan.full_scan)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyHashRing>()?;
    m.add_class::<PyPassPlanner>()?;
    Ok(())
}
