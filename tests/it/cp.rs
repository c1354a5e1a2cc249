//! The tree copy of `examples/cp` on a generated tree of about 2,000 files, compared
//! with its source byte for byte and mode for mode.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use linear_uring::{DropPolicy, Ring};

use crate::fds::FdCheck;

#[path = "../../examples/cp/tree.rs"]
mod tree;

/// A directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("linear-uring-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Directories made read-only by the test must be writable to be removed.
        let _ = make_writable(&self.0);
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn make_writable(dir: &Path) -> std::io::Result<()> {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            make_writable(&entry.path())?;
        }
    }
    Ok(())
}

/// Bytes that differ from file to file and position to position.
fn content(seed: u64, len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|i| (i.wrapping_mul(2_654_435_761) ^ seed.wrapping_mul(97) ^ (i >> 11)) as u8)
        .collect()
}

/// 40 directories (some nested) of 52 files each, of sizes from empty to 300 KiB,
/// with four modes, names that differ only by extension, relative and dangling
/// symlinks, and a read-only directory.
fn generate(root: &Path) -> usize {
    std::fs::create_dir(root).unwrap();
    let mut files = 0;
    for d in 0..40u64 {
        let dir = if d % 4 == 0 {
            root.join(format!("d{d}"))
        } else {
            root.join(format!("d{}", d - d % 4)).join(format!("sub{d}"))
        };
        std::fs::create_dir_all(&dir).unwrap();
        for f in 0..50u64 {
            let seed = d * 100 + f;
            let len = match seed % 7 {
                0 => 0,
                1 => 300 << 10,
                n => (seed as usize * 131) % (n as usize * 9000),
            };
            let path = dir.join(format!("f{f}.bin"));
            std::fs::write(&path, content(seed, len)).unwrap();
            let mode = [0o644, 0o600, 0o755, 0o640][(seed % 4) as usize];
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            files += 1;
        }
        // Names that differ only by their extension (their temporary names must not
        // collide).
        for name in ["notes", "notes.txt"] {
            std::fs::write(dir.join(name), name.as_bytes()).unwrap();
            files += 1;
        }
        std::os::unix::fs::symlink("f0.bin", dir.join("rel-link")).unwrap();
        std::os::unix::fs::symlink("/nonexistent/target", dir.join("dangling")).unwrap();
    }
    std::fs::set_permissions(root.join("d8"), std::fs::Permissions::from_mode(0o555)).unwrap();
    files
}

/// Every entry under `root`: its kind, its mode, and its bytes or link target.
fn describe(root: &Path) -> BTreeMap<PathBuf, (char, u32, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let mode = meta.permissions().mode() & 0o7777;
            let value = if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                ('l', 0, target.into_os_string().into_encoded_bytes())
            } else if meta.is_dir() {
                stack.push(path.clone());
                ('d', mode, Vec::new())
            } else {
                ('f', mode, std::fs::read(&path).unwrap())
            };
            out.insert(rel, value);
        }
    }
    out
}

#[test]
fn cp_tree_of_2080_files_is_identical_byte_for_byte_and_mode_for_mode() {
    let fds = FdCheck::start();
    let (src, dst) = (TempDir::new("cp-src"), TempDir::new("cp-dst"));
    let files = generate(&src.0);
    let ring = Ring::builder()
        .drop_policy(DropPolicy::Panic)
        .build()
        .unwrap();
    let totals = tree::copy_tree(&ring, &src.0, &dst.0, 16, |_| {}).unwrap();
    assert_eq!(totals.files, files as u64);
    assert_eq!(totals.symlinks, 80);
    let (want, got) = (describe(&src.0), describe(&dst.0));
    assert_eq!(want.len(), got.len());
    for (path, entry) in &want {
        assert_eq!(got.get(path), Some(entry), "{}", path.display());
    }
    assert_eq!(
        std::fs::metadata(&dst.0).unwrap().permissions().mode() & 0o7777,
        std::fs::metadata(&src.0).unwrap().permissions().mode() & 0o7777
    );
    let stats = ring.stats();
    assert_eq!((stats.abandoned, stats.in_flight), (0, 0));
    drop(ring);
    fds.finish();
}
