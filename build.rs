//! Records the source commit for the model contract's `git_commit` (written by `train`),
//! so a model trained from a copied binary or outside the checkout still names its code.
//! Hand-written: one `git` call does not justify vergen's dependency tree.

use std::process::Command;

fn main() {
    // Rebuild when HEAD moves (checkout, commit); without .git (a crate tarball) the commit
    // stays "unknown".
    for path in [".git/HEAD", ".git/refs/heads", ".git/packed-refs", "build.rs"] {
        println!("cargo::rerun-if-changed={path}");
    }
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo::rustc-env=MOUSEXRAY_GIT_COMMIT={commit}");
}
