//! Records the git commit this gateway is built from, which `GET /` reports
//! as Qdrant does (`commit`); a build outside a git checkout reports none.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn main() {
    // A commit, checkout or branch switch rewrites HEAD's reflog (or HEAD).
    for file in ["HEAD", "logs/HEAD"] {
        if let Some(path) = git(&["rev-parse", "--git-path", file]) {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    if let Some(commit) = git(&["rev-parse", "HEAD"]).filter(|c| c.len() == 40) {
        println!("cargo:rustc-env=TESSERA_GIT_COMMIT={commit}");
    }
}
