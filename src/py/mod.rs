//! PyO3 bindings, built only with the `python` feature. Thin on purpose:
//! convert, release the GIL, call the core, convert back.

mod aggregates;
mod answer;
mod api;
mod archive_policy;
mod carbonara;
mod check;
mod connections;
mod errors;
mod ids;
mod incoming;
mod pipeline;
mod records;
mod schedule;
mod storage;

use pyo3::prelude::*;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

extern "C" {
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

/// `mi_option_arena_eager_commit` in the mimalloc v3 that libmimalloc-sys
/// bundles (`tests/test_footprint.py` checks the effect).
const MI_OPTION_ARENA_EAGER_COMMIT: std::ffi::c_int = 4;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // mimalloc commits its first arena whole (about 4 MiB) by default: every
    // metricd and API process would pay for it at import. Pages are
    // committed as they are used instead, at no measurable cost in speed,
    // unless the operator chose otherwise. Set before the module allocates
    // anything of its own.
    let chosen = ["MIMALLOC_ARENA_EAGER_COMMIT", "MIMALLOC_EAGER_REGION_COMMIT"]
        .iter()
        .any(|name| std::env::var_os(name).is_some());
    if !chosen {
        unsafe { mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, 0) };
    }
    errors::register(m)?;
    carbonara::register(m)?;
    m.add_class::<connections::RedisConnection>()?;
    m.add_class::<connections::RadosPool>()?;
    storage::register(m)?;
    incoming::register(m)?;
    api::register(m)?;
    answer::register(m)?;
    check::register(m)?;
    aggregates::register(m)?;
    schedule::register(m)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
