//! Building Go programs, offline: the one Go builder, for `compare` (the
//! tutorial's programs, from a learner's copy) and `bench` (the Go
//! baselines).
//!
//! Every build runs `go build` with `GOFLAGS=-mod=mod` (no vendor
//! directory needed), `GOTOOLCHAIN=local` (never download another Go),
//! `GOPROXY=off` (nothing is fetched: the programs use only the standard
//! library) and `GOWORK=off` (the repository's `go.work` is for learners'
//! `go run`). A learner's copy of the tutorial may have no `go.mod` (the
//! tutorial shows none), and `server2`/`client2` import `proto` by a module
//! path of the learner's choosing: [`build_tutorial`] copies it into a
//! temporary tree and writes a `go.mod` that makes that import resolve.

use std::{
    collections::BTreeMap,
    env, fs,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use anyhow::{Context, Result};
use harness::{Program, Stream, exit_words};

/// The tutorial's programs, by their directory; `optional` ones may be absent.
pub const PROGRAMS: [(&str, bool); 8] = [
    ("tcp/server", false),
    ("tcp/client", false),
    ("socket_stick/server", true),
    ("socket_stick/client", false),
    ("socket_stick/server2", false),
    ("socket_stick/client2", false),
    ("UDP/server", false),
    ("UDP/client", false),
];

/// How long one `go build` may take (a cold build cache compiles `net` and
/// `fmt` first).
const BUILD_TIMEOUT: Duration = Duration::from_secs(300);

/// Module name for the parts of a tree that import nothing of their own.
const FALLBACK_MODULE: &str = "gotutorial";

/// `go` on PATH, if any (`go.exe` on Windows).
pub fn find_go() -> Option<PathBuf> {
    let go = format!("go{}", env::consts::EXE_SUFFIX);
    env::split_paths(&env::var_os("PATH")?)
        .map(|dir| dir.join(&go))
        .find(|path| path.is_file())
}

/// `go build -o output package` in `module` (a directory with a `go.mod`,
/// or one holding the `.go` files named in `package`), offline. The error
/// is Go's own first lines.
pub fn build(go: &Path, module: &Path, package: &[&str], output: &Path) -> Result<(), String> {
    let mut command = Command::new(go);
    command
        .current_dir(module)
        .args(["build", "-o"])
        .arg(output)
        .args(package);
    for (key, value) in [
        ("GOFLAGS", "-mod=mod"),
        ("GOTOOLCHAIN", "local"),
        ("GOPROXY", "off"),
    ] {
        command.env(key, value);
    }
    command.env("GOWORK", "off").env("GO111MODULE", "on");
    // Go needs a home for its build cache; a CI job may have no HOME.
    if env::var_os("HOME").is_none_or(|h| h.is_empty()) && env::var_os("GOCACHE").is_none() {
        command.env("GOCACHE", env::temp_dir().join("sockets-rs-gocache"));
        command.env("GOPATH", env::temp_dir().join("sockets-rs-gopath"));
    }
    let label = format!("go build {}", package.join(" "));
    let started = Program::start(&label, command, None, None);
    let mut build = started.map_err(|e| format!("cannot run go: {e}"))?;
    let status = build.wait(BUILD_TIMEOUT).map_err(|e| e.to_string())?;
    if status.success() {
        return Ok(());
    }
    let said: Vec<String> = build.lines(Stream::Stderr).into_iter().take(6).collect();
    Err(format!(
        "{label} ({}): {}",
        exit_words(status),
        said.join(" / ")
    ))
}

/// The tutorial's programs built from a learner's copy, in a temporary tree
/// removed on drop.
pub struct Tutorial {
    tree: PathBuf,
    /// Directory (`tcp/server`) → binary, or why it could not be built.
    built: BTreeMap<&'static str, Result<PathBuf, String>>,
}

impl Tutorial {
    /// The binary for `dir`, or why there is none.
    pub fn get(&self, dir: &str) -> Result<&Path, String> {
        match self.built.get(dir) {
            Some(Ok(path)) => Ok(path),
            Some(Err(why)) => Err(why.clone()),
            None => Err(format!("no {dir}/main.go")),
        }
    }

    /// Where the copy was built (shown to the learner).
    pub fn tree(&self) -> &Path {
        &self.tree
    }
}

impl Drop for Tutorial {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.tree);
    }
}

/// Copies `dir`'s programs, writes a `go.mod` if needed, and builds each
/// one; one that fails is recorded with Go's message, the others are
/// still built.
pub fn build_tutorial(go: &Path, dir: &Path) -> Result<Tutorial> {
    let tree = env::temp_dir().join(format!("sockets-rs-compare-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tree);
    let src = tree.join("src");
    let mut tutorial = Tutorial {
        tree,
        built: BTreeMap::new(),
    };
    for top in ["tcp", "socket_stick", "UDP", "go.mod", "go.sum"] {
        copy_go_files(&dir.join(top), &src.join(top))?;
    }
    if !src.join("go.mod").is_file() && !src.join("socket_stick/go.mod").is_file() {
        for (path, module) in go_mods(&src) {
            println!("   (no go.mod found: writing {path} with `module {module}`)");
            fs::write(src.join(path), format!("module {module}\n\ngo 1.16\n"))?;
        }
    }
    for (program, _) in PROGRAMS
        .iter()
        .filter(|(p, _)| src.join(p).join("main.go").is_file())
    {
        let output = tutorial
            .tree
            .join(program.replace('/', "-") + env::consts::EXE_SUFFIX);
        // Built in the nearest directory up from it that has a go.mod.
        let module = Path::new(program).ancestors().map(|d| src.join(d));
        let module = module
            .into_iter()
            .find(|d| d.join("go.mod").is_file())
            .unwrap_or(src.clone());
        let package = format!("./{}", src.join(program).strip_prefix(&module)?.display());
        let result = build(go, &module, &[&package], &output);
        match &result {
            Ok(()) => println!("   ✓ go build {program}"),
            Err(why) => println!("   ✗ go build {program}: {why}"),
        }
        tutorial.built.insert(program, result.map(|()| output));
    }
    Ok(tutorial)
}

/// Copies the `*.go`, `go.mod` and `go.sum` files at or under `from` to `to`.
fn copy_go_files(from: &Path, to: &Path) -> Result<()> {
    if from.is_file() {
        fs::create_dir_all(to.parent().context("a file has a directory")?)?;
        fs::copy(from, to).with_context(|| format!("copying {}", from.display()))?;
        return Ok(());
    }
    for entry in fs::read_dir(from).into_iter().flatten() {
        let path = entry?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if path.is_dir() || name.ends_with(".go") || name == "go.mod" || name == "go.sum" {
            copy_go_files(&path, &to.join(&*name))?;
        }
    }
    Ok(())
}

/// The `go.mod` files (path in the tree, module name) that give every
/// program a module and make `server2`'s import of `proto` resolve to
/// `socket_stick/proto`: `example.com/t/socket_stick/proto` makes the root
/// the module `example.com/t`; `mine/proto` makes `socket_stick` the module
/// `mine`; no import (or a relative one, which Go refuses with its own
/// clear message) leaves one module for everything.
fn go_mods(src: &Path) -> Vec<(&'static str, String)> {
    let import = ["socket_stick/server2", "socket_stick/client2"]
        .iter()
        .find_map(|program| {
            let text = fs::read_to_string(src.join(program).join("main.go")).ok()?;
            // Imports come before the first function; comments may hold quotes.
            let head = text.lines().take_while(|l| !l.starts_with("func "));
            let head: Vec<&str> = head.map(|l| l.split("//").next().unwrap_or("")).collect();
            let joined = head.join("\n");
            let quoted = joined.split('"').skip(1).step_by(2);
            quoted
                .map(str::to_owned)
                .find(|s| s == "proto" || s.ends_with("/proto"))
        });
    let root = |module: &str| ("go.mod", module.to_owned());
    let import = import.filter(|path| !path.starts_with('.'));
    match import.as_deref().map(|p| {
        (
            p.strip_suffix("/socket_stick/proto"),
            p.strip_suffix("/proto"),
        )
    }) {
        Some((Some(module), _)) => vec![root(module)],
        Some((None, Some(module))) => vec![
            root(FALLBACK_MODULE),
            ("socket_stick/go.mod", module.into()),
        ],
        _ => vec![root(FALLBACK_MODULE)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_mod_is_placed_so_the_proto_import_resolves() {
        let tree = |import: &str| {
            let dir =
                env::temp_dir().join(format!("go-mods-{}-{}", std::process::id(), import.len()));
            let server2 = dir.join("socket_stick/server2");
            fs::create_dir_all(&server2).unwrap();
            fs::write(server2.join("main.go"), format!("import \"{import}\"\n")).unwrap();
            let mods = go_mods(&dir);
            fs::remove_dir_all(dir).unwrap();
            mods
        };
        let root = tree("example.com/t/socket_stick/proto");
        assert_eq!(root, [("go.mod", "example.com/t".into())]);
        assert_eq!(
            tree("mine/proto")[1],
            ("socket_stick/go.mod", "mine".into())
        );
        assert_eq!(tree("../proto"), [("go.mod", FALLBACK_MODULE.into())]);
        // An import in a comment is not one; the real one after it is.
        let commented = tree("m/proto\" // \"x/socket_stick/proto");
        assert_eq!(commented[1], ("socket_stick/go.mod", "m".into()));
    }
}
