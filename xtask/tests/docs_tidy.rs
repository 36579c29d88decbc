//! The teaching documents cannot drift from the code (rust-analyzer's
//! "tidy" idea): every test a document cites on a `**Proved by:**` line must
//! be a `#[test]` in some crate's `src/` or `tests/`, confined to no OS
//! other than the one the citation names (`` `a_test` (Windows) ``), every
//! defect in `docs/pitfalls.md` must cite one, every source path a document
//! names (the README's too, and the Go programs' under `go/`) must exist,
//! and every source file opens with a module doc.

use std::{
    fs,
    path::{Path, PathBuf},
};

/// The documents whose citations and paths are checked, from the root.
const DOCUMENTS: [&str; 6] = [
    "README.md",
    "docs/pitfalls.md",
    "docs/go-to-rust.md",
    "docs/event-loop.md",
    "docs/ladder.md",
    "docs/performance.md",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the root")
        .to_path_buf()
}

fn read(path: &str) -> String {
    fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

/// The text between backticks, in order.
fn backticked(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// The `**Proved by:**` paragraphs (up to the next blank line), one per
/// section that has one, keyed by the section heading above it.
fn proved_by(markdown: &str) -> Vec<(String, String)> {
    let (mut found, mut heading, mut current) = (Vec::new(), String::new(), None::<String>);
    for line in markdown.lines().chain([""]) {
        if let Some(text) = current.as_mut() {
            match line.trim().is_empty() {
                true => found.push((heading.clone(), current.take().unwrap_or_default())),
                false => *text += &format!(" {line}"),
            }
        } else if line.starts_with('#') {
            heading = line.trim_start_matches('#').trim().to_owned();
        } else if let Some(rest) = line.strip_prefix("**Proved by:**") {
            current = Some(rest.to_owned());
        }
    }
    found
}

/// Every `.rs` file under `*/src` and `*/tests` of the workspace (nested
/// crates such as `proto/fuzz` included), but not `target/`.
fn rust_sources() -> Vec<PathBuf> {
    fn walk(dir: &Path, in_code: bool, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
            let (path, name) = (
                entry.path(),
                entry.file_name().to_string_lossy().into_owned(),
            );
            if path.is_dir() && name != "target" && !name.starts_with('.') {
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

/// The OS a `cfg(...)` condition confines code to, if it names one.
fn confined_to(condition: &str) -> Option<&'static str> {
    let condition = condition.replace(' ', "");
    let names = |os: &str| condition.contains(os) && !condition.contains(&format!("not({os})"));
    match () {
        _ if names("windows") => Some("Windows"),
        _ if condition.contains("target_os=\"linux\"") => Some("Linux"),
        _ if names("unix") => Some("Unix"),
        _ => None,
    }
}

/// Where `fn name(` is defined in the workspace's sources, if anywhere:
/// whether `#[test]` marks it, and the OS its `cfg`s confine it to (its
/// own, its modules', its file's), if any.
fn find_test(name: &str) -> Option<(bool, Option<&'static str>)> {
    let wanted = format!("fn {name}(");
    let texts = rust_sources()
        .into_iter()
        .filter_map(|path| fs::read_to_string(path).ok());
    let text = texts.into_iter().find(|text| text.contains(&wanted))?;
    let lines: Vec<&str> = text.lines().collect();
    let at = lines.iter().position(|l| l.contains(&wanted))?;
    let indent = |line: &str| line.len() - line.trim_start().len();
    // The attributes right above a line (doc comments between them skipped).
    let attributes = |at: usize| -> Vec<&str> {
        let above = lines[..at].iter().rev().map(|l| l.trim());
        above
            .take_while(|l| l.starts_with("#[") || l.starts_with("///"))
            .collect()
    };
    let own = attributes(at);
    let is_test = own
        .iter()
        .any(|a| *a == "#[test]" || a.ends_with("::test]"));
    let mut conditions: Vec<&str> = own;
    // The modules around it, each with the attributes just above its `mod`.
    let mut depth = indent(lines[at]);
    for (i, line) in lines[..at].iter().enumerate().rev() {
        if depth > 0 && indent(line) < depth && line.trim_start().starts_with("mod ") {
            depth = indent(line);
            conditions.extend(attributes(i));
        }
    }
    conditions.extend(lines.iter().filter(|l| l.starts_with("#![cfg(")));
    let cfgs = conditions
        .iter()
        .filter(|c| c.trim_start().starts_with("#[cfg(") || c.starts_with("#!["));
    Some((is_test, cfgs.into_iter().find_map(|c| confined_to(c))))
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
    let cited = (1..pieces.len()).step_by(2).map(|i| {
        let after = pieces.get(i + 1).copied().unwrap_or("").trim_start();
        let note = after
            .strip_prefix('(')
            .and_then(|rest| rest.split_once(')'));
        let os = note
            .map(|(os, _)| os)
            .filter(|os| ["Windows", "Linux", "Unix"].contains(os));
        (pieces[i], os)
    });
    cited.collect()
}

#[test]
fn every_test_cited_in_the_docs_is_a_test_that_runs_where_the_doc_says() {
    let (mut cited, mut wrong) = (0, Vec::new());
    for document in DOCUMENTS {
        for (heading, text) in proved_by(&read(document)) {
            for (test, note) in citations(&text) {
                let place = format!("{document}, {heading}: {test}");
                assert!(
                    is_test_name(test),
                    "{place}: not a test name, on a Proved by line"
                );
                cited += 1;
                match find_test(test) {
                    None => wrong.push(format!("{place}: no `fn {test}(` under */src or */tests")),
                    Some((false, _)) => wrong.push(format!("{place}: has no #[test] attribute")),
                    // A test confined to Windows does not run where the
                    // docs' figures and CI's tests run: the doc must say.
                    Some((_, Some("Windows"))) if note != Some("Windows") => wrong.push(format!(
                        "{place}: runs on Windows only; cite it as (Windows)"
                    )),
                    Some((_, only_on)) if note.is_some() && only_on != note => {
                        let note = note.unwrap_or_default();
                        wrong.push(format!(
                            "{place}: cited as ({note}) but confined to {only_on:?}"
                        ))
                    }
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
    let pitfalls = read("docs/pitfalls.md");
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
    for document in DOCUMENTS {
        for quoted in backticked(&read(document)) {
            // A workspace path: `crate/src/file.rs`, `crate/tests/x.rs`, …,
            // or a Go program's, `go/tcp/server/main.go`.
            let path = quoted.split(['#', ' ', ':']).next().unwrap_or("");
            let go = path.starts_with("go/") && path.ends_with(".go");
            let is_path =
                (path.ends_with(".rs") || go) && path.contains('/') && !path.contains("..");
            if is_path && !root().join(path).is_file() {
                missing.push(format!("{document}: {path}"));
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
    assert_eq!(
        (found.len(), found[0].0.as_str(), found[1].0.as_str()),
        (2, "1. A", "2. B")
    );
    assert_eq!(backticked(&found[0].1), ["a_test", "b_test"]);
    let cited = citations("`a` (Windows), `b` (every split), `c`");
    assert_eq!(cited, [("a", Some("Windows")), ("b", None), ("c", None)]);
    assert_eq!(confined_to("#[cfg(all(test, windows))]"), Some("Windows"));
    assert_eq!(confined_to("#[cfg(not(windows))]"), None);
    assert_eq!(confined_to("#![cfg(unix)]"), Some("Unix"));
    assert!(is_test_name("go_defect_1_split") && !is_test_name("tcp-server/src/echo.rs"));
    // This very test is found, as a test confined to no OS.
    assert_eq!(
        find_test("the_tidy_parser_reads_proved_by_paragraphs"),
        Some((true, None))
    );
    assert_eq!(
        find_test("a_signal_to_a_program_that_has_exited_sends_nothing"),
        Some((true, Some("Unix")))
    );
}

#[test]
fn every_source_file_opens_with_a_module_doc() {
    // A learner opens files from the README's tables; each must say at its
    // top what it is and why it exists (rust-analyzer keeps the same rule).
    let sources = rust_sources().into_iter();
    let sources: Vec<PathBuf> = sources
        .filter(|p| p.components().any(|c| c.as_os_str() == "src"))
        .collect();
    // The walk must reach every crate, the new ones included: the members
    // of the root `Cargo.toml`'s `members = [...]` line.
    let manifest = read("Cargo.toml");
    let members = manifest
        .lines()
        .find(|l| l.trim_start().starts_with("members"))
        .expect("members");
    let members = backticked(&members.replace('"', "`"))
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
    assert!(members.len() > 5, "members: {members:?}");
    for member in &members {
        let dir = root().join(member).join("src");
        assert!(
            sources.iter().any(|path| path.starts_with(&dir)),
            "no source file of `{member}` was checked"
        );
    }
    let undocumented = sources.iter().filter(|path| {
        let text = fs::read_to_string(path).unwrap();
        !text.trim_start().starts_with("//!")
    });
    let missing: Vec<_> = undocumented
        .map(|p| p.strip_prefix(root()).unwrap().display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "no `//!` module doc at the top of: {missing:?}"
    );
}
