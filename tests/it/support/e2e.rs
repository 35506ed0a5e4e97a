//! The browser scenarios of `tests/e2e/ui.mjs` (playwright-core driving
//! Debian's chromium), run one at a time: several Chromiums at once on a
//! small CI machine make every step slow enough to time out.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// Runs scenario `name` against the pgdoor at `base` with `env` added; its
/// output. Fails with what to install when the browser is missing.
pub fn scenario(name: &str, base: &str, env: &[(&str, &str)]) -> String {
    static ONE_BROWSER: Mutex<()> = Mutex::new(());
    let _turn = ONE_BROWSER.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let e2e = repo.join("tests/e2e");
    assert!(
        e2e.join("node_modules/playwright-core").is_dir()
            && e2e.join("node_modules/axe-core").is_dir()
            && Path::new("/usr/bin/chromium").exists(),
        "the browser tests need Debian's chromium, playwright-core and axe-core: run tests/install-deps"
    );
    let out = Command::new("node")
        .arg(e2e.join("ui.mjs"))
        .arg(name)
        .env("PGDOOR", base)
        .env("ARTIFACTS", repo.join("target/e2e-artifacts"))
        .envs(env.iter().copied())
        .output()
        .expect("node runs (apt-get install -y nodejs)");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "scenario {name} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(&format!("ok {name}")), "{stdout}");
    stdout
}
