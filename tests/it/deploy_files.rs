//! The files in deploy/: Kubernetes manifests valid against the Kubernetes
//! schemas, a systemd unit systemd accepts, every PGDOOR_* setting they use a
//! real one, and stop timeouts that let pgdoor's shutdown finish.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

fn manifests() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(deploy().join("kubernetes"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn kubernetes_manifests_match_the_schemas() {
    let files = manifests();
    assert!(files.len() >= 4, "{files:?}");
    let out = Command::new("kubernetes-validate")
        .args(["--strict", "--kubernetes-version", "1.30.0"])
        .args(&files)
        .output()
        .expect("kubernetes-validate is needed: run tests/install-deps (pip install kubernetes-validate)");
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{report}");
    assert_eq!(report.matches(" passed for resource ").count(), files.len(), "{report}");
}

#[test]
fn the_systemd_unit_verifies() {
    // systemd checks the executable exists: point the unit at the built binary.
    let unit = std::fs::read_to_string(deploy().join("systemd/pgdoor.service")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("pgdoor.service");
    std::fs::write(&copy, unit.replace("/usr/local/bin/pgdoor", env!("CARGO_BIN_EXE_pgdoor"))).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .expect("systemd-analyze is needed (apt-get install -y systemd)");
    let report = String::from_utf8_lossy(&out.stderr);
    let problems: Vec<&str> = report.lines().filter(|l| l.contains("pgdoor.service")).collect();
    assert!(out.status.success() && problems.is_empty(), "{report}");
}

#[test]
fn every_setting_the_deploy_files_use_exists() {
    let help = Command::new(env!("CARGO_BIN_EXE_pgdoor")).args(["serve", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    let mut used = BTreeSet::new();
    for file in manifests().into_iter().chain([deploy().join("systemd/pgdoor.service"), deploy().join("Dockerfile")]) {
        let text = std::fs::read_to_string(&file).unwrap();
        for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if word.starts_with("PGDOOR_") && word.len() > "PGDOOR_".len() {
                used.insert(word.to_owned());
            }
        }
    }
    assert!(used.len() >= 10, "{used:?}");
    let documented = |name: &String| help.contains(&format!("env: {name}=")) || help.contains(&format!("env: {name}]"));
    let unknown: Vec<&String> = used.iter().filter(|name| !documented(name)).collect();
    assert!(unknown.is_empty(), "settings pgdoor does not have: {unknown:?}");
}

#[test]
fn the_dockerfile_copies_what_exists_and_runs_as_non_root() {
    let dockerfile = std::fs::read_to_string(deploy().join("Dockerfile")).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for line in dockerfile.lines().filter(|l| l.starts_with("COPY ") && !l.contains("--from")) {
        let parts: Vec<&str> = line.split_whitespace().collect();
        for source in &parts[1..parts.len() - 1] {
            assert!(root.join(source).exists(), "{line}: {source} does not exist");
        }
    }
    let user = dockerfile.lines().rev().find(|l| l.starts_with("USER ")).expect("a USER line");
    assert!(!user.contains("root") && !user.contains(" 0"), "{user}");
}

/// The number after `key` in `text` (the first digits that follow it).
fn number_after(text: &str, key: &str) -> u64 {
    let at = text.find(key).unwrap_or_else(|| panic!("{key} is not set"));
    let digits: String =
        text[at + key.len()..].chars().skip_while(|c| !c.is_ascii_digit()).take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap_or_else(|_| panic!("no number after {key}"))
}

/// pgdoor exits within drain + grace + 2 s; each stop timeout must allow that.
#[test]
fn stop_timeouts_fit_the_shutdown() {
    let bound = |text: &str| number_after(text, "PGDOOR_DRAIN_DELAY") + number_after(text, "PGDOOR_GRACE_PERIOD") + 2;

    let manifest = std::fs::read_to_string(deploy().join("kubernetes/deployment.yaml")).unwrap();
    let pod = number_after(&manifest, "terminationGracePeriodSeconds:");
    assert!(pod >= bound(&manifest), "terminationGracePeriodSeconds {pod} < {}", bound(&manifest));
    let gateway = number_after(&manifest, "sleep: {seconds:");
    assert!(
        gateway >= bound(&manifest) && gateway < pod,
        "the gateway's preStop sleep {gateway} must cover pgdoor's shutdown and end before the pod's limit"
    );

    let unit = std::fs::read_to_string(deploy().join("systemd/pgdoor.service")).unwrap();
    let stop = number_after(&unit, "TimeoutStopSec=");
    assert!(stop >= bound(&unit), "TimeoutStopSec {stop} < {}", bound(&unit));

    let dockerfile = std::fs::read_to_string(deploy().join("Dockerfile")).unwrap();
    let env = dockerfile.lines().find(|l| l.starts_with("ENV ")).expect("an ENV line");
    let docker = number_after(&dockerfile, "docker stop -t");
    assert!(docker >= bound(env), "docker stop -t {docker} < {}", bound(env));
}
