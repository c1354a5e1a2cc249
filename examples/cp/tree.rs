//! Copying a directory tree through the ring: shared by `main.rs` and the
//! integration test (`tests/it/cp.rs`), which copies a generated tree and compares it.
//!
//! Directories are listed with `std::fs::read_dir` and modes set with
//! `std::fs::set_permissions`: io_uring has no op to read a directory or to change a
//! mode. Everything else goes through the ring: directories and symlinks are created
//! with `mkdirat`/`symlinkat` ops, and each file is opened, copied (`copy`: reads
//! and writes of 64 KiB), synced (`fsync`) and renamed into place, so that a file at
//! its final name is always whole. At most `in_flight` files are copied at once.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use linear_uring::fs::{self, File, OpenOptions};
use linear_uring::{copy, Ring};

/// What a copy did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Totals {
    pub(crate) files: u64,
    pub(crate) dirs: u64,
    pub(crate) symlinks: u64,
    pub(crate) bytes: u64,
}

/// One entry of the source tree, relative to its root.
enum Entry {
    Dir(PathBuf, u32),
    File(PathBuf, u32),
    Symlink(PathBuf, PathBuf),
}

/// Lists `root` depth first, parents before their children.
fn walk(root: &Path) -> io::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(dir) = stack.pop() {
        let mut children: Vec<_> = std::fs::read_dir(root.join(&dir))?.collect::<Result<_, _>>()?;
        children.sort_by_key(|child| child.file_name());
        for child in children {
            let rel = dir.join(child.file_name());
            let meta = std::fs::symlink_metadata(child.path())?;
            let mode = meta.permissions().mode() & 0o7777;
            if meta.file_type().is_symlink() {
                entries.push(Entry::Symlink(rel, std::fs::read_link(child.path())?));
            } else if meta.is_dir() {
                entries.push(Entry::Dir(rel.clone(), mode));
                stack.push(rel);
            } else if meta.is_file() {
                entries.push(Entry::File(rel, mode));
            }
        }
    }
    Ok(entries)
}

/// Copies the tree at `src` to `dst` (which must not exist), with at most `in_flight`
/// files copied at once; `progress` is called after each file.
pub(crate) fn copy_tree(
    ring: &Ring,
    src: &Path,
    dst: &Path,
    in_flight: usize,
    progress: impl Fn(&Totals),
) -> io::Result<Totals> {
    let entries = walk(src)?;
    let root_mode = std::fs::metadata(src)?.permissions().mode() & 0o7777;
    let totals = Rc::new(Cell::new(Totals::default()));
    let mut files = VecDeque::new();
    let mut dir_modes = vec![(dst.to_path_buf(), root_mode)];
    ring.block_on(async {
        fs::create_dir(ring, dst).await?;
        // Directories and links first, in order: parents exist before children.
        for entry in entries {
            match entry {
                Entry::Dir(rel, mode) => {
                    fs::create_dir(ring, dst.join(&rel)).await?;
                    dir_modes.push((dst.join(rel), mode));
                    update(&totals, |t| t.dirs += 1);
                }
                Entry::Symlink(rel, target) => {
                    fs::symlink(ring, &target, dst.join(rel)).await?;
                    update(&totals, |t| t.symlinks += 1);
                }
                Entry::File(rel, mode) => files.push_back((rel, mode)),
            }
        }
        Ok::<(), io::Error>(())
    })?;
    // Then the files, `in_flight` workers taking the next file from one queue.
    let queue = Rc::new(RefCell::new(files));
    let workers: Vec<_> = (0..in_flight.max(1))
        .map(|_| {
            let (ring2, queue, totals) = (ring.clone(), queue.clone(), totals.clone());
            let (src, dst) = (src.to_path_buf(), dst.to_path_buf());
            ring.spawn(async move {
                loop {
                    let next = queue.borrow_mut().pop_front();
                    let Some((rel, mode)) = next else {
                        return Ok::<(), io::Error>(());
                    };
                    let bytes = copy_file(&ring2, &src.join(&rel), &dst.join(&rel), mode).await?;
                    update(&totals, |t| {
                        t.files += 1;
                        t.bytes += bytes;
                    });
                }
            })
        })
        .collect();
    ring.block_on(async {
        while !workers.iter().all(|worker| worker.is_finished()) {
            progress(&totals.get());
            ring.sleep(std::time::Duration::from_millis(100)).await?;
        }
        for worker in workers {
            worker.await?;
        }
        progress(&totals.get());
        Ok::<(), io::Error>(())
    })?;
    // Directory modes last: a read-only directory could not have been filled.
    for (dir, mode) in dir_modes.into_iter().rev() {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))?;
    }
    Ok(totals.get())
}

fn update(totals: &Cell<Totals>, f: impl FnOnce(&mut Totals)) {
    let mut t = totals.get();
    f(&mut t);
    totals.set(t);
}

/// Copies one file to a temporary name beside `dst` (its name and `.cp-partial`),
/// syncs it, gives it `mode`, and renames it into place. Returns the bytes copied.
async fn copy_file(ring: &Ring, src: &Path, dst: &Path, mode: u32) -> io::Result<u64> {
    // The whole name with a suffix: `README` and `README.md` must not share one.
    let mut tmp_name = dst.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".cp-partial");
    let tmp = dst.with_file_name(tmp_name);
    let from = File::open(ring, src).await?;
    let to = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(ring, &tmp)
        .await?;
    let bytes = copy(&from, &to).await?;
    to.sync_all().await?;
    // The mode is exact (a mode given to open passes through the umask).
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))?;
    fs::rename(ring, &tmp, dst).await?;
    from.close().await?;
    to.close().await?;
    Ok(bytes)
}
