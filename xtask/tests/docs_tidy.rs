//! The teaching documents cannot drift from the code (rust-analyzer's
//! "tidy" idea): every test a document cites on a `**Proved by:**` line must
//! be a `#[test]` in some crate's `src/` or `tests/`, confined to no OS
//! other than the one the citation names (`` `a_test` (Windows) ``), every
//! defect in
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

/// Where a test is defined: whether `#[test]` marks it, and the OS its
/// `cfg`s confine it to (its own, its module's, its file's), if any.
#[derive(Debug)]
struct Definition {
    is_test: bool,
    only_on: Option<&'static str>,
}

/// The OS a `cfg(...)` condition confines code to, if it names one.
fn confined_to(condition: &str) -> Option<&'static str> {
    let condition = condition.replace(' ', "");
    if condition.contains("windows") && !condition.contains("not(windows)") {
        Some("Windows")
    } else if condition.contains("target_os=\"linux\"") {
        Some("Linux")
    } else if condition.contains("unix") && !condition.contains("not(unix)") {
        Some("Unix")
    } else {
        None
    }
}

/// The definition of `fn name(` in the workspace's sources, if any.
fn find_test(name: &str) -> Option<Definition> {
    let wanted = format!("fn {name}(");
    for path in rust_sources() {
        let Ok(text) = fs::read_to_string(&path) else {
            continue;
        };
        let lines: Vec<&str> = text.lines().collect();
        let Some(at) = lines.iter().position(|l| l.contains(&wanted)) else {
            continue;
        };
        let indent = |line: &str| line.len() - line.trim_start().len();
        // Its attributes: the lines right above it that start with `#[`
        // (doc comments between them are skipped).
        let attributes: Vec<&str> = lines[..at]
            .iter()
            .rev()
            .map(|l| l.trim())
            .take_while(|l| l.starts_with("#[") || l.starts_with("///"))
            .collect();
        let mut conditions: Vec<String> = attributes
            .iter()
            .filter(|a| a.starts_with("#[cfg("))
            .map(|a| a.to_string())
            .collect();
        // The modules around it, each with the `cfg` just above its `mod`.
        let mut depth = indent(lines[at]);
        for (i, line) in lines[..at].iter().enumerate().rev() {
            if depth > 0 && indent(line) < depth && line.trim_start().starts_with("mod ") {
                depth = indent(line);
                conditions.extend(
                    lines[..i]
                        .iter()
                        .rev()
                        .take_while(|l| l.trim().starts_with("#["))
                        .map(|l| l.to_string()),
                );
            }
        }
        conditions.extend(
            lines
                .iter()
                .filter(|l| l.starts_with("#![cfg("))
                .map(|l| l.to_string()),
        );
        return Some(Definition {
            is_test: attributes
                .iter()
                .any(|a| *a == "#[test]" || a.ends_with("::test]")),
            only_on: conditions.iter().find_map(|c| confined_to(c)),
        });
    }
    None
}

fn is_test_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// The cited names of a `Proved by` paragraph, each with the OS named in
/// parentheses right after it (`` `a_test` (Windows) ``), if any.
fn citations(paragraph: &str) -> Vec<(&str, Option<&str>)> {
    let pieces: Vec<&str> = paragraph.split('`').collect();
    (1..pieces.len())
        .step_by(2)
        .map(|i| {
            let after = pieces.get(i + 1).copied().unwrap_or("").trim_start();
            let note = after
                .strip_prefix('(')
                .and_then(|rest| rest.split_once(')'))
                .map(|(os, _)| os)
                .filter(|os| ["Windows", "Linux", "Unix"].contains(os));
            (pieces[i], note)
        })
        .collect()
}

#[test]
fn every_test_cited_in_the_docs_is_a_test_that_runs_where_the_doc_says() {
    let mut cited = 0;
    let mut wrong = Vec::new();
    for name in ["pitfalls.md", "go-to-rust.md", "event-loop.md"] {
        for (heading, text) in proved_by(&doc(name)) {
            for (test, note) in citations(&text) {
                assert!(
                    is_test_name(test),
                    "{name}, {heading}: `{test}` on a Proved by line is not a test name"
                );
                cited += 1;
                let place = format!("{name}, {heading}: {test}");
                match find_test(test) {
                    None => wrong.push(format!("{place}: no `fn {test}(` under */src or */tests")),
                    Some(found) if !found.is_test => {
                        wrong.push(format!("{place}: has no #[test] attribute"))
                    }
                    // A test confined to Windows does not run where the
                    // docs' figures and CI's tests run: the doc must say.
                    Some(Definition {
                        only_on: Some("Windows"),
                        ..
                    }) if note != Some("Windows") => wrong.push(format!(
                        "{place}: runs on Windows only; cite it as (Windows)"
                    )),
                    Some(found) if note.is_some() && found.only_on != note => wrong.push(format!(
                        "{place}: cited as ({}) but confined to {:?}",
                        note.unwrap_or_default(),
                        found.only_on
                    )),
                    Some(_) => {}
                }
            }
        }
    }
    assert!(
        cited >= 10,
        "only {cited} tests cited: is the Proved by format still used?"
    );
    assert!(wrong.is_empty(), "cited tests: {wrong:#?}");
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
    assert_eq!(
        citations("`a` (Windows), `b` (every split), `c`"),
        [("a", Some("Windows")), ("b", None), ("c", None)]
    );
    assert_eq!(confined_to("#[cfg(all(test, windows))]"), Some("Windows"));
    assert_eq!(confined_to("#[cfg(not(windows))]"), None);
    assert_eq!(confined_to("#![cfg(unix)]"), Some("Unix"));
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
