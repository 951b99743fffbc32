//! Batched omap listings, paged until the end of each object's omap.

use super::ffi::ReadKind;
use super::{check, Pool, ENOENT};
use crate::error::Result;
use std::ffi::c_int;

/// An omap listing of one object: every entry whose key starts with
/// `prefix`, in key order, at most `limit` of them.
pub struct OmapQuery {
    pub object: String,
    pub prefix: String,
    pub limit: Option<usize>,
}

pub type OmapEntries = Vec<(Vec<u8>, Vec<u8>)>;

/// How the next page of one object's omap is asked for.
enum Page<'a> {
    Entries { prefix: &'a str, limit: u64 },
    /// Keys only (no prefix filter in librados' API).
    Keys,
}

impl Pool {
    /// Omap entries of each object (`None` for a missing object), paged
    /// until the end or the query's limit.
    pub fn omap_entries(&self, queries: &[OmapQuery], flags: c_int) -> Result<Vec<Option<OmapEntries>>> {
        let mut results: Vec<OmapEntries> = vec![Vec::new(); queries.len()];
        let objects: Vec<&str> = queries.iter().map(|q| q.object.as_str()).collect();
        let missing = self.page_omaps(
            &objects,
            "listing the omap of",
            flags,
            |i, got| Page::Entries {
                prefix: &queries[i].prefix,
                limit: queries[i].limit.map_or(u64::MAX, |l| l.saturating_sub(got) as u64),
            },
            |i, page, more| {
                results[i].extend(page);
                more && queries[i].limit.is_none_or(|l| results[i].len() < l)
            },
        )?;
        Ok(results.into_iter().zip(missing).map(|(entries, missing)| (!missing).then_some(entries)).collect())
    }

    /// The omap keys of each object that start with `prefix` (`None` for a
    /// missing object), paged to the end; values are not transferred.
    pub fn omap_keys(&self, objects: &[String], prefix: &[u8], flags: c_int) -> Result<Vec<Option<Vec<Vec<u8>>>>> {
        let mut results: Vec<Vec<Vec<u8>>> = vec![Vec::new(); objects.len()];
        let names: Vec<&str> = objects.iter().map(String::as_str).collect();
        let missing = self.page_omaps(
            &names,
            "listing the omap keys of",
            flags,
            |_, _| Page::Keys,
            |i, page, more| {
                results[i].extend(page.into_iter().map(|(k, _)| k).filter(|k| k.starts_with(prefix)));
                more
            },
        )?;
        Ok(results.into_iter().zip(missing).map(|(keys, missing)| (!missing).then_some(keys)).collect())
    }

    /// Reads the omap of every object a page at a time, one round trip per
    /// page for the whole batch. `page(i, read)` says how to ask for the
    /// next page of object `i`, of which `read` entries came so far; `take(i, entries, more)` keeps a
    /// page and says whether to read another. Paging goes on from the last
    /// key read (kept or not) and stops at an empty page. Returns, per
    /// object, whether it is missing.
    fn page_omaps<'a>(
        &self,
        objects: &[&str],
        what: &str,
        flags: c_int,
        page: impl Fn(usize, usize) -> Page<'a>,
        mut take: impl FnMut(usize, OmapEntries, bool) -> bool,
    ) -> Result<Vec<bool>> {
        let mut missing = vec![false; objects.len()];
        let mut read_so_far = vec![0usize; objects.len()];
        let mut after: Vec<Vec<u8>> = vec![Vec::new(); objects.len()];
        let mut open: Vec<usize> = (0..objects.len()).collect();
        while !open.is_empty() {
            let in_flight = open
                .iter()
                .map(|&i| {
                    let kind = match page(i, read_so_far[i]) {
                        Page::Entries { prefix, limit } => ReadKind::Omap { prefix, after: &after[i], limit },
                        Page::Keys => ReadKind::OmapKeys { after: &after[i] },
                    };
                    self.io.submit_read(objects[i], kind, flags).map(|r| (i, r))
                })
                .collect::<Result<Vec<_>>>()?;
            let mut still_open = Vec::new();
            let mut last_keys = Vec::new();
            for (i, read) in in_flight {
                let (rc, slot) = read.wait();
                if rc == -ENOENT || slot.omap_rc == -ENOENT {
                    missing[i] = true;
                    continue;
                }
                check(rc.min(slot.omap_rc), || format!("{what} {}", objects[i]))?;
                let entries = read.omap_entries(objects[i])?;
                read_so_far[i] += entries.len();
                let last = entries.last().map(|(k, _)| k.clone());
                if take(i, entries, slot.more()) {
                    if let Some(last) = last {
                        last_keys.push((i, last));
                        still_open.push(i);
                    }
                }
            }
            for (i, last) in last_keys {
                after[i] = last;
            }
            open = still_open;
        }
        Ok(missing)
    }
}
