//! A program outside this workspace that depends on pinwheel-runtime (by
//! path, as `ci/embed-check` does) must get the patched glommio in
//! `vendor/glommio`, not the registry's 0.9.0: a `[patch]` section would
//! apply only inside this workspace.
//!
//! The check copies `ci/embed-check` to a temporary directory (pointing
//! its dependency at this runtime by absolute path, with this workspace's
//! Cargo.lock so the same versions are chosen) and asks cargo, offline,
//! which glommio it resolves. Everything it needs is in cargo's cache once
//! the workspace has been built, which `cargo test` has just done.

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("runtime/ is inside the workspace")
        .to_path_buf()
}

/// `ci/embed-check` copied to a fresh directory of this test's own, its
/// path dependency made absolute.
fn copy_of_embed_check(root: &Path) -> PathBuf {
    let source = root.join("ci/embed-check");
    let dir = std::env::temp_dir().join(format!("pinwheel-embed-check-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let manifest = std::fs::read_to_string(source.join("Cargo.toml")).unwrap();
    let runtime = root.join("runtime");
    let relative = "path = \"../../runtime\"";
    assert!(manifest.contains(relative), "{manifest}");
    let absolute = format!("path = \"{}\"", runtime.display());
    std::fs::write(
        dir.join("Cargo.toml"),
        manifest.replace(relative, &absolute),
    )
    .unwrap();
    std::fs::copy(source.join("src/main.rs"), dir.join("src/main.rs")).unwrap();
    std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    dir
}

#[test]
fn a_crate_outside_the_workspace_resolves_the_vendored_glommio() {
    let root = workspace_root();
    let dir = copy_of_embed_check(&root);
    let output = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "--invert",
            "glommio",
            "--prefix",
            "none",
        ])
        .args(["--edges", "normal", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .output()
        .expect("cargo runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // A registry glommio beside (or instead of) the vendored one makes
    // `--invert glommio` ambiguous or unresolvable offline: both fail here.
    assert!(output.status.success(), "cargo tree failed: {stderr}");
    let vendored = root.join("vendor/glommio");
    let first = stdout.lines().next().unwrap_or_default();
    assert_eq!(
        first,
        format!("glommio v0.9.0 ({})", vendored.display()),
        "{stdout}"
    );
    assert!(stdout.contains("pinwheel-embed-check"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}
