//! PyO3 bindings, built only with the `python` feature. Thin on purpose:
//! convert, release the GIL, call the core, convert back.

mod carbonara;
mod drivers;
mod errors;
mod records;

use pyo3::prelude::*;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    carbonara::register(m)?;
    drivers::register(m)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
