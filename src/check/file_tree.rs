//! The file backend's tree as `gnocchi-rs check` walks it: every metric
//! directory under the base (whatever `subdir_len` nested it), and each
//! metric's objects with their bytes, read in parallel. Read-only.

use rayon::prelude::*;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Top-level entries that are not metrics: upstream's temporary files,
/// the check's own quarantine, and incoming sacks when incoming shares
/// the base (`incoming<N>-<s>`).
fn skipped_at_top(name: &str) -> bool {
    if name == "tmp" || name == "quarantine" {
        return true;
    }
    let Some(rest) = name.strip_prefix("incoming") else { return false };
    let mut parts = rest.splitn(2, '-');
    let numeric = |part: Option<&str>| part.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    numeric(parts.next()) && numeric(parts.next())
}

/// `5a301761-f78b-46e2-8900-8b4f6fe6675a`, lower case, as upstream names
/// a metric's directory.
pub fn is_metric_name(name: &str) -> bool {
    name.len() == 36
        && name.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        })
}

fn entries(dir: &Path) -> io::Result<Vec<(String, PathBuf, bool)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let is_dir = entry.file_type()?.is_dir();
        let name = entry.file_name().to_string_lossy().into_owned();
        out.push((name, entry.path(), is_dir));
    }
    out.sort();
    Ok(out)
}

fn walk(dir: &Path, found: &mut Vec<(String, PathBuf)>) -> io::Result<()> {
    for (name, path, is_dir) in entries(dir)? {
        if !is_dir {
            continue;
        }
        if is_metric_name(&name) {
            found.push((name, path));
        } else {
            walk(&path, found)?;
        }
    }
    Ok(())
}

/// (metric id, directory) of every metric directory under `basepath`.
pub fn metric_dirs(basepath: &Path) -> io::Result<Vec<(String, PathBuf)>> {
    let top = match entries(basepath) {
        Ok(top) => top,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let found: io::Result<Vec<Vec<(String, PathBuf)>>> = top
        .into_par_iter()
        .filter(|(name, _, is_dir)| *is_dir && !skipped_at_top(name))
        .map(|(name, path, _)| {
            if is_metric_name(&name) {
                return Ok(vec![(name, path)]);
            }
            let mut found = Vec::new();
            walk(&path, &mut found)?;
            Ok(found)
        })
        .collect();
    Ok(found?.into_iter().flatten().collect())
}

/// One object of a metric directory: the method of its `agg_<method>`
/// directory (None at the top), its name, its bytes.
pub type Object = (Option<String>, String, Vec<u8>);

fn contents(dir: &Path) -> io::Result<Vec<Object>> {
    let mut out = Vec::new();
    for (name, path, is_dir) in entries(dir)? {
        match (is_dir, name.strip_prefix("agg_")) {
            (true, Some(method)) => {
                for (file, file_path, nested) in entries(&path)? {
                    if !nested {
                        out.push((Some(method.to_owned()), file, fs::read(file_path)?));
                    }
                }
            }
            (true, None) => {}
            (false, _) => out.push((None, name, fs::read(path)?)),
        }
    }
    Ok(out)
}

/// Each directory's objects; an empty list for one that vanished (its
/// metric deleted meanwhile).
pub fn metric_contents(dirs: &[PathBuf]) -> Vec<io::Result<Vec<Object>>> {
    dirs.par_iter()
        .map(|dir| match contents(dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            other => other,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_directories_are_found_at_any_depth_and_others_skipped() {
        let base = std::env::temp_dir().join(format!("gnocchi-rs-walk-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        let a = "5a301761-f78b-46e2-8900-8b4f6fe6675a";
        let b = "0a301761-f78b-46e2-8900-8b4f6fe6675b";
        fs::create_dir_all(base.join("5a/30").join(a).join("agg_mean")).unwrap();
        fs::create_dir_all(base.join(b)).unwrap();
        fs::create_dir_all(base.join("incoming8-1").join(a)).unwrap();
        fs::create_dir_all(base.join("quarantine").join(a)).unwrap();
        fs::write(base.join("5a/30").join(a).join("none_v3"), b"raw").unwrap();
        fs::write(base.join("5a/30").join(a).join("agg_mean").join("0.0_60.0_v3"), b"split").unwrap();
        let found = metric_dirs(&base).unwrap();
        let names: Vec<&str> = found.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, vec![b, a]);
        let dirs: Vec<PathBuf> = found.iter().map(|(_, p)| p.clone()).collect();
        let read = metric_contents(&dirs);
        assert_eq!(read[0].as_ref().unwrap(), &Vec::<Object>::new());
        assert_eq!(
            read[1].as_ref().unwrap(),
            &vec![
                (Some("mean".to_owned()), "0.0_60.0_v3".to_owned(), b"split".to_vec()),
                (None, "none_v3".to_owned(), b"raw".to_vec()),
            ]
        );
        let _ = fs::remove_dir_all(&base);
    }
}
