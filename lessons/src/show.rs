//! `lessons show NN`: each rejected program of a lesson, next to the error the
//! compiler gives for it now.
//!
//! The programs are in `broken/NN_slug/`; each is also a trybuild case
//! (`tests/broken.rs`) whose stored `.stderr` keeps CI honest. Here they are
//! compiled afresh: a scratch package in the target directory depends on
//! linear-uring by path and has one binary per program, and `cargo check` prints
//! rustc's diagnostics. The first run builds linear-uring's metadata (a few
//! seconds); later runs check only the programs.

use std::fs;
use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use crate::course::Lesson;

/// The workspace's root: linear-uring itself.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the lessons crate lives inside linear-uring's workspace")
        .to_path_buf()
}

/// A rejected program: its path, what its `//!` comment says, and its code.
pub(crate) struct Variant {
    pub(crate) path: PathBuf,
    pub(crate) about: String,
    pub(crate) code: String,
}

impl Variant {
    fn name(&self) -> &str {
        self.path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("variant")
    }
}

/// The lesson's rejected programs, in file name order.
pub(crate) fn variants(lesson: &Lesson) -> io::Result<Vec<Variant>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("broken")
        .join(lesson.dir());
    let mut paths: Vec<PathBuf> = match fs::read_dir(&dir) {
        Ok(entries) => entries
            .map(|e| e.map(|e| e.path()))
            .collect::<io::Result<_>>()?,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err),
    };
    paths.retain(|p| p.extension().is_some_and(|e| e == "rs"));
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let text = fs::read_to_string(&path)?;
            let (about, code): (Vec<&str>, Vec<&str>) =
                text.lines().partition(|l| l.starts_with("//!"));
            let about = about
                .iter()
                .map(|l| l.trim_start_matches("//!").trim_start())
                .collect::<Vec<_>>()
                .join("\n");
            let code = code.join("\n").trim().to_string();
            Ok(Variant { path, about, code })
        })
        .collect()
}

/// Prints every rejected program of `lesson` with the compiler's error for it.
pub(crate) fn show(lesson: &Lesson) -> ExitCode {
    match show_all(lesson) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("show {:02}: {err}", lesson.number);
            ExitCode::FAILURE
        }
    }
}

fn show_all(lesson: &Lesson) -> io::Result<bool> {
    let variants = variants(lesson)?;
    println!(
        "Lesson {:02}: {} -- {} rejected program{}\n",
        lesson.number,
        lesson.title,
        variants.len(),
        if variants.len() == 1 { "" } else { "s" }
    );
    if variants.is_empty() {
        println!("This lesson has no rejected programs: everything it shows compiles.");
        return Ok(true);
    }
    let package = scratch_package(lesson, &variants)?;
    println!(
        "(Compiling each with `cargo check` now; the first time builds linear-uring's \
         metadata first.)"
    );
    let mut all_rejected = true;
    for variant in &variants {
        let shown = variant
            .path
            .strip_prefix(root())
            .unwrap_or(&variant.path)
            .display()
            .to_string();
        println!("\n{shown}\n{}", "-".repeat(shown.len()));
        println!("{}\n", variant.about);
        for line in variant.code.lines() {
            println!("    {line}");
        }
        println!("\nrustc says:\n");
        let (rejected, diagnostics) = check(&package, variant)?;
        print!("{diagnostics}");
        if !rejected {
            println!(
                "!! this program compiled: what the lesson says the compiler rejects, it \
                 no longer does"
            );
            all_rejected = false;
        }
    }
    Ok(all_rejected)
}

/// Writes the scratch package that builds `variants` against linear-uring and
/// returns its manifest's path.
fn scratch_package(lesson: &Lesson, variants: &[Variant]) -> io::Result<PathBuf> {
    let root = root();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let dir = target.join("lessons-show").join(lesson.dir());
    fs::create_dir_all(&dir)?;
    let mut manifest = format!(
        "# Written by `lessons show`: each rejected program of lesson {:02} as a binary.\n\
         [package]\nname = \"lesson-{:02}-rejected\"\nversion = \"0.0.0\"\n\
         edition = \"2021\"\npublish = false\nautobins = false\n\n\
         [dependencies]\nlinear-uring = {{ path = {:?} }}\n\n\
         # Not a member of linear-uring's workspace.\n[workspace]\n",
        lesson.number,
        lesson.number,
        root.display().to_string(),
    );
    for variant in variants {
        manifest.push_str(&format!(
            "\n[[bin]]\nname = {:?}\npath = {:?}\n",
            variant.name(),
            variant.path.display().to_string()
        ));
    }
    fs::write(dir.join("Cargo.toml"), manifest)?;
    // The workspace's lock file, so that no dependency is resolved afresh.
    if let Ok(lock) = fs::read(root.join("Cargo.lock")) {
        fs::write(dir.join("Cargo.lock"), lock)?;
    }
    Ok(dir.join("Cargo.toml"))
}

/// Checks one program: whether it was rejected, and rustc's diagnostics.
fn check(manifest: &Path, variant: &Variant) -> io::Result<(bool, String)> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let color = if io::stdout().is_terminal() {
        "always"
    } else {
        "never"
    };
    let output = Command::new(cargo)
        .arg("check")
        .arg("--quiet")
        .arg("--manifest-path")
        .arg(manifest)
        // One target directory for every lesson's package: linear-uring is built once.
        .arg("--target-dir")
        .arg(
            manifest
                .parent()
                .and_then(Path::parent)
                .unwrap_or(manifest)
                .join("target"),
        )
        .args(["--bin", variant.name(), "--color", color])
        // Shown as a user would see it with no flags of their own.
        .env_remove("RUSTFLAGS")
        .output()?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    let root = format!("{}/", root().display());
    let diagnostics: String = stderr
        .lines()
        .filter(|l| !l.contains("could not compile") && !l.contains("build failed"))
        .map(|l| format!("{}\n", l.replace(&root, "")))
        .collect();
    Ok((!output.status.success(), diagnostics))
}
