//! The lz4 *block* framing python-lz4 uses (`store_size=True`): a u32 LE
//! uncompressed length, then one raw block.
//!
//! python-lz4's `block.compress` does not call `LZ4_compress_default`: it
//! resets a stream and calls `LZ4_compress_fast_continue` (acceleration 1),
//! which matches differently on longer inputs. We do the same, so the bytes
//! are upstream's.

use crate::error::{invalid_data, Result};
use std::os::raw::{c_char, c_int};

/// No lz4 block expands more than this (each output byte costs at least
/// 1/255 of an input byte), so a size prefix past it is a lie and is
/// refused before allocating.
const MAX_EXPANSION: usize = 255;

/// `LZ4_MAX_INPUT_SIZE` of lz4.h.
const MAX_INPUT: usize = 0x7E00_0000;

/// An lz4 encoder state with no history, freed on drop.
struct FreshStream(*mut lz4_sys::LZ4StreamEncode);

impl FreshStream {
    fn new() -> Result<FreshStream> {
        // SAFETY: allocates and initialises a state, or returns null.
        let stream = unsafe { lz4_sys::LZ4_createStream() };
        if stream.is_null() {
            return Err(crate::Error::InvalidArgument("cannot allocate an lz4 stream".into()));
        }
        Ok(FreshStream(stream))
    }
}

impl Drop for FreshStream {
    fn drop(&mut self) {
        // SAFETY: created by LZ4_createStream and freed only here.
        unsafe { lz4_sys::LZ4_freeStream(self.0) };
    }
}

pub fn compress(payload: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    compress_into(payload, &mut out)?;
    Ok(out)
}

/// Appends the framed block of `payload` to `out`, so that a caller's own
/// header and the block share one buffer.
pub fn compress_into(payload: &[u8], out: &mut Vec<u8>) -> Result<()> {
    if payload.len() > MAX_INPUT {
        return Err(crate::Error::InvalidArgument(format!(
            "payload of {} bytes is too large for an lz4 block",
            payload.len()
        )));
    }
    // SAFETY: pure function of its integer argument.
    let bound = unsafe { lz4_sys::LZ4_compressBound(payload.len() as c_int) } as usize;
    out.reserve(4 + bound);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    let stream = FreshStream::new()?;
    let block = out.spare_capacity_mut();
    // SAFETY: `stream` is a valid, freshly initialised encoder state;
    // `payload` is readable for its length and `block` is writable for at
    // least `bound` bytes, the worst case liblz4 documents; liblz4 only
    // writes there, never reads.
    let written = unsafe {
        lz4_sys::LZ4_compress_continue(
            stream.0,
            payload.as_ptr(),
            block.as_mut_ptr() as *mut u8,
            payload.len() as c_int,
        )
    };
    if written <= 0 && !payload.is_empty() {
        return Err(crate::Error::InvalidArgument("lz4 compression failed".into()));
    }
    let written = (written.max(0) as usize).min(bound);
    // SAFETY: liblz4 initialised the first `written` bytes of the spare
    // capacity, which holds at least `bound` bytes.
    unsafe { out.set_len(out.len() + written) };
    Ok(())
}

pub fn decompress(data: &[u8]) -> Result<Vec<u8>> {
    let (prefix, block) = match data.split_first_chunk::<4>() {
        Some(split) => split,
        None => return Err(invalid_data(format!("lz4 block of {} bytes has no size prefix", data.len()))),
    };
    let size = u32::from_le_bytes(*prefix) as usize;
    if size > MAX_INPUT || size > block.len().saturating_mul(MAX_EXPANSION).saturating_add(16) {
        return Err(invalid_data(format!(
            "lz4 size prefix claims {size} bytes from a {}-byte block",
            block.len()
        )));
    }
    if block.len() > MAX_INPUT {
        return Err(invalid_data("lz4 block too large"));
    }
    let mut out: Vec<u8> = Vec::with_capacity(size);
    // SAFETY: `block` is readable for its length; `out` is writable for
    // `size` bytes and LZ4_decompress_safe never writes past its capacity
    // nor reads the destination before writing it.
    let written = unsafe {
        lz4_sys::LZ4_decompress_safe(
            block.as_ptr() as *const c_char,
            out.as_mut_ptr() as *mut c_char,
            block.len() as c_int,
            size as c_int,
        )
    };
    if written < 0 || written as usize != size {
        return Err(invalid_data(format!(
            "corrupt lz4 block (decoded {written} of {size} announced bytes)"
        )));
    }
    // SAFETY: liblz4 reported writing exactly `size` bytes.
    unsafe { out.set_len(size) };
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_bytes() {
        assert_eq!(compress(b"").unwrap(), vec![0, 0, 0, 0, 0]);
        assert_eq!(compress(b"abc").unwrap(), vec![3, 0, 0, 0, 0x30, b'a', b'b', b'c']);
        assert_eq!(decompress(&[3, 0, 0, 0, 0x30, b'a', b'b', b'c']).unwrap(), b"abc");
        assert_eq!(decompress(&[0, 0, 0, 0, 0]).unwrap(), b"");
    }

    #[test]
    fn absurd_prefix_is_refused_without_allocating() {
        assert!(decompress(&[0xff, 0xff, 0xff, 0x7f, 0x00]).is_err());
        assert!(decompress(&[1, 2]).is_err());
    }
}
