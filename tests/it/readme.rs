//! The README tells the truth: its flag table is `pgdoor serve --help`, row
//! for row, and its two first commands are the demo and the test command
//! that `.ci/run` calls.

use std::path::Path;
use std::process::Command;

/// One flag as `--help` shows it.
struct Flag {
    name: String,
    env: String,
    default: String,
    help: String,
}

/// Reads clap's long help: a flag line, its first paragraph, then `[env: …]` and `[default: …]`.
fn flags(help: &str) -> Vec<Flag> {
    let mut flags: Vec<Flag> = Vec::new();
    let mut in_paragraph = false;
    for line in help.lines() {
        let trimmed = line.trim();
        if line.starts_with("  ") && trimmed.starts_with('-') && !line.starts_with("          ") {
            let long = trimmed.split(", ").last().unwrap();
            flags.push(Flag { name: long.to_owned(), env: String::new(), default: String::new(), help: String::new() });
            in_paragraph = true;
            continue;
        }
        let Some(flag) = flags.last_mut() else { continue };
        if let Some(env) = trimmed.strip_prefix("[env: ") {
            flag.env = env.trim_end_matches(']').trim_end_matches('=').to_owned();
        } else if let Some(default) = trimmed.strip_prefix("[default: ") {
            flag.default = default.trim_end_matches(']').to_owned();
        } else if trimmed.is_empty() {
            in_paragraph = false;
        } else if in_paragraph && !trimmed.starts_with('[') {
            if !flag.help.is_empty() {
                flag.help.push(' ');
            }
            flag.help.push_str(trimmed);
        }
    }
    flags.retain(|f| !f.name.starts_with("--help") && !f.name.starts_with("--version"));
    flags
}

/// The README table for these flags.
fn table(flags: &[Flag]) -> String {
    let cell = |s: &str| s.replace('|', "\\|");
    let mut out = String::from("| flag | environment | default | what it does |\n|---|---|---|---|\n");
    for flag in flags {
        let default = if flag.default.is_empty() { String::new() } else { format!("`{}`", flag.default) };
        out.push_str(&format!(
            "| `{}` | `{}` | {} | {} |\n",
            cell(&flag.name),
            flag.env,
            cell(&default),
            cell(&flag.help)
        ));
    }
    out
}

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap()
}

#[test]
fn the_flag_table_is_the_help_output() {
    let help = Command::new(env!("CARGO_BIN_EXE_pgdoor")).args(["serve", "--help"]).output().unwrap();
    let flags = flags(&String::from_utf8_lossy(&help.stdout));
    assert!(flags.len() > 40, "{} flags parsed", flags.len());
    assert!(flags.iter().all(|f| !f.help.is_empty()), "every flag says what it does");
    let expected = table(&flags);
    let readme = readme();
    let start = readme.find("<!-- flags:start -->\n").expect("README has a flags:start marker") + 21;
    let end = readme.find("<!-- flags:end -->").expect("README has a flags:end marker");
    let actual = &readme[start..end];
    assert!(actual == expected, "README's flag table differs from --help; it should be:\n{expected}");
}

#[test]
fn the_readme_starts_with_the_demo_and_the_test_command() {
    let readme = readme();
    let block = readme.split("```sh\n").nth(1).unwrap().split("```").next().unwrap();
    let commands: Vec<&str> = block.lines().map(|l| l.split('#').next().unwrap().trim()).collect();
    assert_eq!(commands, ["tests/install-deps --demo && cargo run --release -- demo", "tests/run"]);
    let ci = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/run")).unwrap();
    assert!(ci.lines().any(|l| l.trim() == "bash tests/run" || l.trim() == "tests/run"), "{ci}");
}
