//! Where the paths of `kurier.toml` may point: `output_dir`, `subscribers_dir`,
//! `smtp.ca_file` and `dkim.key_file`.
//!
//! A relative path is the site's own: it must stay inside the site folder, both as written
//! (`output_dir = "../../etc"` is refused) and once symbolic links are followed (a `public`
//! that links to `/etc` is refused too). An absolute path is the operator saying where, and is
//! taken as given — except the filesystem root, which no feed or store should ever be written to.
//! The folders kurier writes to must also not be the site folder itself.

use std::path::{Component, Path, PathBuf};

/// How a configured path is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// A folder kurier writes to.
    Folder,
    /// A file kurier reads.
    File,
}

/// Checks `path` as written; `Err` says why it is refused.
pub fn check(path: &Path, how: Use) -> Result<(), String> {
    if path.has_root() {
        let at_root = |p: PathBuf| p.components().all(|c| matches!(c, Component::RootDir | Component::Prefix(_)));
        if lexical(path).is_some_and(at_root) {
            return Err("must not be the filesystem root".to_owned());
        }
        return Ok(());
    }
    match lexical(path) {
        None => Err(format!("`{}` leaves the site folder; give an absolute path to put it elsewhere", path.display())),
        Some(inside) if how == Use::Folder && inside.as_os_str().is_empty() => {
            Err("must be a folder inside the site folder, not the site folder itself".to_owned())
        }
        Some(_) => Ok(()),
    }
}

/// Checks that relative `path`, once links are followed, is still inside `root`. The part of it
/// that does not exist yet is judged by its nearest existing ancestor.
pub fn check_resolved(root: &Path, path: &Path) -> Result<(), String> {
    if path.has_root() {
        return Ok(());
    }
    let root = root.canonicalize().map_err(|e| format!("cannot resolve the site folder: {e}"))?;
    let mut existing = root.join(path);
    while !existing.exists() {
        match existing.parent() {
            Some(parent) => existing = parent.to_owned(),
            None => return Ok(()),
        }
    }
    let resolved = existing.canonicalize().map_err(|e| format!("cannot resolve `{}`: {e}", path.display()))?;
    if resolved.starts_with(&root) {
        Ok(())
    } else {
        Err(format!(
            "`{}` leads out of the site folder (to {}) through a symbolic link; give an absolute path to put it elsewhere",
            path.display(),
            resolved.display()
        ))
    }
}

/// `path` with `.` and `..` resolved as written; `None` when a relative path's `..` climbs above
/// its start (above `/`, `..` stays at `/`, as the kernel has it).
fn lexical(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    let mut depth = 0;
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir if depth == 0 => {
                if !path.has_root() {
                    return None;
                }
            }
            Component::ParentDir => {
                out.pop();
                depth -= 1;
            }
            Component::Normal(_) => {
                out.push(component);
                depth += 1;
            }
            Component::RootDir | Component::Prefix(_) => out.push(component),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_stay_inside_and_absolute_ones_are_the_operators() {
        assert!(check(Path::new("public"), Use::Folder).is_ok());
        assert!(check(Path::new("out/../public"), Use::Folder).is_ok());
        assert!(check(Path::new("keys/dkim.pem"), Use::File).is_ok());
        assert!(check(Path::new("/var/www/feeds"), Use::Folder).is_ok());
        for bad in ["../../etc", "../public", "public/../../x", "a/../../b"] {
            let err = check(Path::new(bad), Use::Folder).unwrap_err();
            assert!(err.contains("leaves the site folder"), "{bad}: {err}");
        }
        for root in ["/", "/..", "/etc/..", "//"] {
            assert_eq!(check(Path::new(root), Use::Folder).unwrap_err(), "must not be the filesystem root", "{root}");
        }
        for itself in [".", "", "public/.."] {
            assert!(
                check(Path::new(itself), Use::Folder).unwrap_err().contains("not the site folder itself"),
                "{itself:?}"
            );
        }
    }

    #[test]
    fn a_link_out_of_the_site_is_refused() {
        let outside = tempfile::tempdir().unwrap();
        let site = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), site.path().join("public")).unwrap();
        std::fs::create_dir(site.path().join("subscribers")).unwrap();
        let err = check_resolved(site.path(), Path::new("public/feeds")).unwrap_err();
        assert!(err.contains("leads out of the site folder"), "{err}");
        assert!(check_resolved(site.path(), Path::new("subscribers")).is_ok());
        assert!(check_resolved(site.path(), Path::new("not-yet/made")).is_ok());
    }
}
