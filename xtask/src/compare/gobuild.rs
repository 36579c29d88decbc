//! Building a learner's copy of the Go tutorial, offline and without
//! touching their directory.
//!
//! The tutorial shows its programs but no `go.mod`, and `server2`/`client2`
//! import the `proto` package by some module path of the learner's choosing
//! (say `example.com/tutorial/socket_stick/proto`). So the programs are
//! copied into a temporary tree, a `go.mod` that makes that import resolve
//! is written if the learner has none, and each program is built with
//! `go build` there: `GOFLAGS=-mod=mod` (no vendor directory needed),
//! `GOTOOLCHAIN=local` (never download another Go), `GOPROXY=off` (nothing
//! is fetched: the programs use only the standard library).

use std::{
    collections::BTreeMap,
    env, fs,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use anyhow::{Context, Result};

use harness::{EchoLines, Program, Stream, exit_words};

/// The programs, by their directory under DIR; `optional` ones may be absent.
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

/// Files that must exist for the layout to be the tutorial's.
pub fn required_files() -> Vec<String> {
    PROGRAMS
        .iter()
        .filter(|(_, optional)| !optional)
        .map(|(dir, _)| format!("{dir}/main.go"))
        .chain(["socket_stick/proto/proto.go".to_owned()])
        .collect()
}

/// How long one `go build` may take (a cold build cache compiles `net` and
/// `fmt` first).
const BUILD_TIMEOUT: Duration = Duration::from_secs(300);

/// Module name for the parts of the tree that import nothing of their own.
const FALLBACK_MODULE: &str = "gotutorial";

/// The built Go programs, in a temporary tree removed on drop.
pub struct GoPrograms {
    tree: TempTree,
    /// Directory (`tcp/server`) → binary, or why it could not be built.
    pub built: BTreeMap<&'static str, Result<PathBuf, String>>,
}

impl GoPrograms {
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
        &self.tree.0
    }
}

/// Copies DIR's programs, writes a `go.mod` if needed, and builds each one.
/// A program that fails to build is recorded with Go's message; the others
/// are still built.
pub fn build(go: &Path, dir: &Path) -> Result<GoPrograms> {
    let tree = TempTree::new()?;
    let src = tree.0.join("src");
    for top in ["tcp", "socket_stick", "UDP"] {
        copy_go_files(&dir.join(top), &src.join(top))?;
    }
    for file in ["go.mod", "go.sum"] {
        if dir.join(file).is_file() {
            fs::copy(dir.join(file), src.join(file)).with_context(|| format!("copying {file}"))?;
        }
    }
    for (path, text) in modules_to_write(&src)? {
        println!(
            "   (no go.mod found: writing {} with `{}`)",
            path.display(),
            text.lines().next().unwrap_or("")
        );
        fs::write(src.join(&path), text).with_context(|| format!("writing {}", path.display()))?;
    }

    let bin = tree.0.join("bin");
    fs::create_dir_all(&bin)?;
    let mut built = BTreeMap::new();
    for (program, _) in PROGRAMS {
        if !src.join(program).join("main.go").is_file() {
            continue;
        }
        let output = bin.join(program.replace('/', "-") + env::consts::EXE_SUFFIX);
        let result = build_one(go, &src, program, &output, &tree.0);
        if let Err(why) = &result {
            println!("   ✗ go build {program}: {why}");
        } else {
            println!("   ✓ go build {program}");
        }
        built.insert(program, result.map(|()| output));
    }
    Ok(GoPrograms { tree, built })
}

fn build_one(
    go: &Path,
    src: &Path,
    program: &str,
    output: &Path,
    scratch: &Path,
) -> Result<(), String> {
    let dir = src.join(program);
    let root = dir
        .ancestors()
        .take_while(|d| d.starts_with(src))
        .find(|d| d.join("go.mod").is_file())
        .ok_or_else(|| format!("no go.mod above {program}"))?;
    let package = format!(
        "./{}",
        dir.strip_prefix(root)
            .unwrap_or(Path::new(program))
            .display()
    );
    let mut command = Command::new(go);
    command
        .current_dir(root)
        .arg("build")
        .arg("-o")
        .arg(output)
        .arg(&package)
        .env("GOFLAGS", "-mod=mod")
        .env("GOTOOLCHAIN", "local")
        .env("GOPROXY", "off")
        .env("GOWORK", "off")
        .env("GO111MODULE", "on");
    // Go needs a home for its build cache and GOPATH; a CI job may have no
    // HOME. Keep the learner's settings when they exist.
    if env::var_os("HOME").is_none_or(|h| h.is_empty()) {
        if env::var_os("GOCACHE").is_none() && env::var_os("XDG_CACHE_HOME").is_none() {
            command.env("GOCACHE", scratch.join("gocache"));
        }
        if env::var_os("GOPATH").is_none() {
            command.env("GOPATH", scratch.join("gopath"));
        }
    }
    let mut build = Program::start(
        &format!("go build {program}"),
        command,
        None,
        EchoLines::Silent,
    )
    .map_err(|e| format!("cannot run go: {:#}", anyhow::Error::from(e)))?;
    let status = build
        .wait(BUILD_TIMEOUT)
        .map_err(|e| format!("{:#}", anyhow::Error::from(e)))?;
    if status.success() {
        return Ok(());
    }
    let said: Vec<String> = build
        .lines(Stream::Stderr)
        .into_iter()
        .chain(build.lines(Stream::Stdout))
        .take(6)
        .collect();
    Err(format!(
        "{} ({}): {}",
        package,
        exit_words(status),
        said.join(" / ")
    ))
}

/// Copies `*.go`, `go.mod` and `go.sum` files under `from` to `to`.
fn copy_go_files(from: &Path, to: &Path) -> Result<()> {
    if !from.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let path = entry?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if path.is_dir() {
            copy_go_files(&path, &to.join(&name))?;
        } else if name.ends_with(".go") || name == "go.mod" || name == "go.sum" {
            fs::copy(&path, to.join(&name))
                .with_context(|| format!("copying {}", path.display()))?;
        }
    }
    Ok(())
}

/// The `go.mod` files to write (path relative to the tree, contents), so
/// that every program has a module and `server2`'s import of `proto`
/// resolves to `socket_stick/proto`.
fn modules_to_write(src: &Path) -> Result<Vec<(PathBuf, String)>> {
    let has_root = src.join("go.mod").is_file();
    let has_stick = src.join("socket_stick/go.mod").is_file();
    if has_root || has_stick {
        // The learner's own modules; the rest only needs some module.
        return Ok(if has_root {
            vec![]
        } else {
            vec![(PathBuf::from("go.mod"), go_mod(FALLBACK_MODULE))]
        });
    }
    let mut imports = Vec::new();
    for program in ["socket_stick/server2", "socket_stick/client2"] {
        if let Ok(text) = fs::read_to_string(src.join(program).join("main.go")) {
            imports.extend(proto_import(&text));
        }
    }
    Ok(module_layout(imports.first().map(String::as_str)))
}

/// Where `go.mod` files go for a tree whose programs import `proto` as
/// `import` (or not at all).
fn module_layout(import: Option<&str>) -> Vec<(PathBuf, String)> {
    let root = |name: &str| (PathBuf::from("go.mod"), go_mod(name));
    match import {
        // example.com/tutorial/socket_stick/proto: the root is the module.
        Some(path) if path.ends_with("/socket_stick/proto") && !path.starts_with('.') => {
            vec![root(path.trim_end_matches("/socket_stick/proto"))]
        }
        // socket_stick/proto, or mymod/proto: socket_stick is the module.
        Some(path) if path.ends_with("/proto") && !path.starts_with('.') => vec![
            root(FALLBACK_MODULE),
            (
                PathBuf::from("socket_stick/go.mod"),
                go_mod(path.trim_end_matches("/proto")),
            ),
        ],
        // No import found, or a relative one (which Go modules reject with
        // their own clear message): one module for everything.
        _ => vec![root(FALLBACK_MODULE)],
    }
}

fn go_mod(module: &str) -> String {
    // 1.16: any Go since modules became the default builds this.
    format!("module {module}\n\ngo 1.16\n")
}

/// The import path in a Go file that names the `proto` package.
fn proto_import(source: &str) -> Option<String> {
    // Imports come before the first function; comments may hold quotes.
    let imports: String = source
        .lines()
        .take_while(|line| !line.starts_with("func "))
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    imports
        .split('"')
        .skip(1)
        .step_by(2)
        .find(|s| *s == "proto" || s.ends_with("/proto"))
        .map(str::to_owned)
}

/// A scratch directory, removed on drop.
struct TempTree(PathBuf);

impl TempTree {
    fn new() -> Result<TempTree> {
        let path = env::temp_dir().join(format!("sockets-rs-compare-{}", std::process::id()));
        if path.exists() {
            fs::remove_dir_all(&path).with_context(|| format!("clearing {}", path.display()))?;
        }
        fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(TempTree(path))
    }
}

impl Drop for TempTree {
    fn drop(&mut self) {
        // Go makes its module cache read-only; give write access back first.
        make_writable(&self.0);
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn make_writable(path: &Path) {
    if let Ok(meta) = fs::symlink_metadata(path) {
        if meta.is_dir() {
            let mut perms = meta.permissions();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                perms.set_mode(perms.mode() | 0o700);
            }
            // Windows: only the read-only attribute, not "writable by all".
            #[cfg(not(unix))]
            #[allow(clippy::permissions_set_readonly_false)]
            perms.set_readonly(false);
            let _ = fs::set_permissions(path, perms);
            if let Ok(entries) = fs::read_dir(path) {
                for entry in entries.flatten() {
                    make_writable(&entry.path());
                }
            }
        }
    }
}

/// `go` on PATH, if any (`go.exe` on Windows).
pub fn find_go() -> Option<PathBuf> {
    env::split_paths(&env::var_os("PATH")?)
        .map(|dir| dir.join(format!("go{}", env::consts::EXE_SUFFIX)))
        .find(|path| fs::metadata(path).is_ok_and(|m| m.is_file() && is_executable(&m)))
}

#[cfg(unix)]
fn is_executable(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    meta.permissions().mode() & 0o111 != 0
}

/// Windows has no execute bit: the `.exe` name says it.
#[cfg(not(unix))]
fn is_executable(_meta: &fs::Metadata) -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proto_import_is_found_among_the_imports() {
        let source = "package main\n\nimport (\n\t\"bufio\"\n\t\"fmt\"\n\n\t\"example.com/t/socket_stick/proto\"\n)\n\nfunc main() { fmt.Println(\"x\") }\n";
        assert_eq!(
            proto_import(source).as_deref(),
            Some("example.com/t/socket_stick/proto")
        );
        assert_eq!(proto_import("import \"fmt\"\n"), None);
        let commented = "// say \"hi\n\nimport \"m/proto\" // the \"framing\n";
        assert_eq!(proto_import(commented).as_deref(), Some("m/proto"));
    }

    #[test]
    fn go_mod_is_placed_so_the_proto_import_resolves() {
        let layout = module_layout(Some("example.com/t/socket_stick/proto"));
        assert_eq!(layout, [(PathBuf::from("go.mod"), go_mod("example.com/t"))]);
        let layout = module_layout(Some("socket_stick/proto"));
        assert_eq!(
            layout[1],
            (PathBuf::from("socket_stick/go.mod"), go_mod("socket_stick"))
        );
        let layout = module_layout(Some("mine/proto"));
        assert_eq!(
            layout[1],
            (PathBuf::from("socket_stick/go.mod"), go_mod("mine"))
        );
        assert_eq!(
            module_layout(Some("../proto")),
            [(PathBuf::from("go.mod"), go_mod(FALLBACK_MODULE))]
        );
        assert_eq!(module_layout(None).len(), 1);
    }

    #[test]
    fn required_files_are_the_tutorial_layout() {
        let files = required_files();
        assert!(files.contains(&"tcp/server/main.go".to_owned()));
        assert!(files.contains(&"socket_stick/proto/proto.go".to_owned()));
        assert!(files.contains(&"UDP/client/main.go".to_owned()));
        assert!(
            !files.contains(&"socket_stick/server/main.go".to_owned()),
            "optional"
        );
    }
}
