//! The teaching documents cannot drift from the code (rust-analyzer's
//! "tidy" idea): every test a document cites on a `**Proved by:**` line must
//! exist as a `fn` in some crate's `src/` or `tests/`, every defect in
//! `docs/pitfalls.md` must cite one, and every source path a document names
//! (the README's too, and the Go programs' under `go/`) must exist.

use std::{
    fs,
    path::{Path, PathBuf},
};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace root")
        .to_path_buf()
}

fn doc(name: &str) -> String {
    let path = root().join("docs").join(name);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The text between backticks, in order.
fn backticked(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// The `**Proved by:**` paragraphs (up to the next blank line), one per
/// section that has one, keyed by the section heading above it.
fn proved_by(markdown: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut heading = String::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        if let Some(text) = current.as_mut() {
            if line.trim().is_empty() {
                found.push((heading.clone(), current.take().unwrap()));
            } else {
                text.push(' ');
                text.push_str(line);
            }
            continue;
        }
        if line.starts_with('#') {
            heading = line.trim_start_matches('#').trim().to_owned();
        } else if let Some(rest) = line.strip_prefix("**Proved by:**") {
            current = Some(rest.to_owned());
        }
    }
    if let Some(text) = current {
        found.push((heading, text));
    }
    found
}

/// Every `.rs` file under `*/src` and `*/tests` of the workspace (nested
/// crates such as `proto/fuzz` included), but not `target/`.
fn rust_sources() -> Vec<PathBuf> {
    fn walk(dir: &Path, in_code: bool, out: &mut Vec<PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if name == "target" || name.starts_with('.') {
                    continue;
                }
                walk(&path, in_code || name == "src" || name == "tests", out);
            } else if in_code && name.ends_with(".rs") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&root(), false, &mut out);
    out
}

fn defined_functions() -> String {
    rust_sources()
        .iter()
        .filter_map(|p| fs::read_to_string(p).ok())
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_test_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[test]
fn every_test_cited_in_the_docs_exists() {
    let code = defined_functions();
    let mut cited = 0;
    let mut missing = Vec::new();
    for name in ["pitfalls.md", "go-to-rust.md"] {
        for (heading, text) in proved_by(&doc(name)) {
            for test in backticked(&text) {
                assert!(
                    is_test_name(test),
                    "{name}, {heading}: `{test}` on a Proved by line is not a test name"
                );
                cited += 1;
                if !code.contains(&format!("fn {test}(")) {
                    missing.push(format!("{name}, {heading}: {test}"));
                }
            }
        }
    }
    assert!(
        cited >= 10,
        "only {cited} tests cited: is the Proved by format still used?"
    );
    assert!(
        missing.is_empty(),
        "tests cited but not found under */src or */tests: {missing:#?}"
    );
}

#[test]
fn every_defect_in_pitfalls_names_a_test() {
    let pitfalls = doc("pitfalls.md");
    let defects: Vec<&str> = pitfalls
        .lines()
        .filter_map(|l| l.strip_prefix("### "))
        .collect();
    let proved: Vec<String> = proved_by(&pitfalls).into_iter().map(|(h, _)| h).collect();
    assert!(defects.len() >= 10, "{defects:?}");
    for defect in defects {
        assert!(
            proved.iter().any(|h| h == defect),
            "pitfalls.md: `{defect}` has no **Proved by:** line"
        );
    }
}

#[test]
fn every_source_path_named_in_the_docs_exists() {
    let mut missing = Vec::new();
    let readme = fs::read_to_string(root().join("README.md")).expect("README.md");
    for (name, text) in [
        ("pitfalls.md", doc("pitfalls.md")),
        ("go-to-rust.md", doc("go-to-rust.md")),
        ("README.md", readme),
    ] {
        for quoted in backticked(&text) {
            // A workspace path: `crate/src/file.rs`, `crate/tests/x.rs`, …,
            // or a Go program's, `go/tcp/server/main.go`.
            let path = quoted.split(['#', ' ', ':']).next().unwrap_or("");
            let is_path = (path.ends_with(".rs")
                || path.starts_with("go/") && path.ends_with(".go"))
                && path.contains('/')
                && !path.contains("..");
            if is_path && !root().join(path).is_file() {
                missing.push(format!("{name}: {path}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "paths named in docs that do not exist: {missing:#?}"
    );
}

#[test]
fn the_tidy_parser_reads_proved_by_paragraphs() {
    let text = "# Title\n### 1. A\n\nWords.\n\n**Proved by:** `a_test`,\n`b_test`.\n\n### 2. B\n\n**Proved by:** `c`\n";
    let found = proved_by(text);
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].0, "1. A");
    assert_eq!(backticked(&found[0].1), ["a_test", "b_test"]);
    assert_eq!(found[1].0, "2. B");
    assert!(is_test_name("go_defect_1_split"));
    assert!(!is_test_name("tcp-server/src/echo.rs"));
}

/// The workspace's members, from the `members = [...]` line of the root
/// `Cargo.toml`.
fn workspace_members() -> Vec<String> {
    let manifest = fs::read_to_string(root().join("Cargo.toml")).expect("the root Cargo.toml");
    let line = manifest
        .lines()
        .find(|l| l.trim_start().starts_with("members"))
        .expect("a `members = [...]` line");
    backticked(&line.replace('"', "`"))
        .into_iter()
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_source_file_opens_with_a_module_doc() {
    // A learner opens files from the README's tables; each must say at its
    // top what it is and why it exists (rust-analyzer keeps the same rule).
    let sources: Vec<PathBuf> = rust_sources()
        .into_iter()
        .filter(|path| path.components().any(|c| c.as_os_str() == "src"))
        .collect();
    // The walk must reach every crate, the new ones included.
    let members = workspace_members();
    assert!(members.len() > 5, "members: {members:?}");
    for member in &members {
        let dir = root().join(member).join("src");
        assert!(
            sources.iter().any(|path| path.starts_with(&dir)),
            "no source file of `{member}` was checked"
        );
    }
    let missing: Vec<_> = sources
        .iter()
        .filter(|path| {
            let text = fs::read_to_string(path).unwrap();
            !text.trim_start().starts_with("//!")
        })
        .map(|path| path.strip_prefix(root()).unwrap().display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "no `//!` module doc at the top of: {missing:?}"
    );
}
