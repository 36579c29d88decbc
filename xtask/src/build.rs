//! Building the workspace's programs once and finding the binaries: the
//! one build that `demo`, `compare` and `bench` all start with.
//!
//! The bench measures speed, so it builds with the release profile (whole-
//! program optimisation: over a minute from cold on two cores). The demo and
//! `compare` show behaviour, so they build with the dev profile, which shares
//! every dependency xtask itself was just built with (clap, anyhow, libc):
//! a learner's first `cargo xtask demo` reaches its first step in well under
//! half a minute instead of a minute and a half.
//!
//! Cargo is run through `$CARGO` (the cargo that started `cargo xtask`) and
//! asked for JSON messages, whose `executable` fields name the binaries
//! wherever the target directory is (`CARGO_TARGET_DIR`, …).

use std::{
    collections::BTreeMap,
    env,
    io::{BufRead as _, BufReader},
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{Context, Result, bail, ensure};

/// Which cargo profile to build with, and what the learner is told before
/// the build: what and how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// `dev`: quick to build, for the demo and `compare`.
    Dev,
    /// `release`: for measurements.
    Release,
}

/// Built binaries by name (`tcp-server`, `stick-demo`, …), examples
/// included (`one_file_tcp_server`, …).
#[derive(Debug, Clone)]
pub struct Binaries(BTreeMap<String, PathBuf>);

impl Binaries {
    /// The binary called `name`; an error names what was built instead.
    pub fn get(&self, name: &str) -> Result<&Path> {
        let built = || self.0.keys().cloned().collect::<Vec<_>>().join(", ");
        let found = self.0.get(name).map(PathBuf::as_path);
        found.with_context(|| format!("the build produced no `{name}` binary (built: {})", built()))
    }
}

/// `$CARGO build [--release] --bins --examples -p …` for `packages` (the
/// examples are the Go servers in one file), after one line on stdout
/// saying what is built and about how long it takes; cargo's progress and
/// errors go to our stderr as usual.
pub fn binaries(profile: Profile, packages: &[&str]) -> Result<Binaries> {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(&cargo);
    command
        .current_dir(workspace_root())
        .args(["build", "--bins", "--examples"])
        .arg("--message-format=json-render-diagnostics");
    let time = match profile {
        Profile::Dev => "debug build: about 15 s the first time on two cores, a second after",
        Profile::Release => {
            command.arg("--release");
            "release build, optimised for the benchmark: a minute or two the first time on \
             two cores, a second after"
        }
    };
    for package in packages {
        command.args(["-p", package]);
    }
    println!("building {} ({time})", packages.join(", "));
    command.stdout(Stdio::piped());
    // In its own group, like every program xtask starts: a Ctrl-C while
    // cargo builds stops cargo and its rustc processes too.
    let mut child = harness::spawn_in_own_group(&mut command)
        .with_context(|| format!("cannot run {}", cargo.to_string_lossy()))?;
    let stdout = child.stdout.take().context("cargo's stdout not captured")?;
    // Read to the end whatever happens, so cargo is always waited for.
    let binaries: BTreeMap<String, PathBuf> = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .filter_map(|line| executable(&line))
        .filter_map(|path| Some((path.file_stem()?.to_str()?.to_owned(), path)))
        .collect();
    let status = child.wait().context("waiting for cargo");
    harness::reaped(child.id());
    let status = status?;
    ensure!(status.success(), "`cargo build` failed ({status})");
    if binaries.is_empty() {
        bail!("cargo reported no binaries; is this the sockets-rs workspace?");
    }
    Ok(Binaries(binaries))
}

/// Those of `packages` this workspace has (a program still to come is
/// left out, and said to be not built yet where it would run).
pub fn in_workspace(packages: &[&'static str]) -> Vec<&'static str> {
    let root = workspace_root();
    let here = |package: &&str| root.join(package).join("Cargo.toml").is_file();
    packages.iter().copied().filter(here).collect()
}

/// The workspace root, where `go/` and the crates are.
pub fn workspace_root() -> PathBuf {
    // xtask/ sits directly in the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// The `"executable"` path of one cargo JSON message, if it has one: a
/// plain JSON string, whose only escape in a path is `\\` (Windows).
fn executable(message: &str) -> Option<PathBuf> {
    const KEY: &str = "\"executable\":\"";
    let start = message.find(KEY)? + KEY.len();
    let mut path = String::new();
    let mut chars = message[start..].chars();
    loop {
        match chars.next()? {
            '"' => return Some(PathBuf::from(path)),
            '\\' => path.push(chars.next()?),
            c => path.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executable_paths_are_read_from_cargo_messages() {
        let artifact = r#"{"reason":"compiler-artifact","executable":"/w/target/release/tcp-server","fresh":true}"#;
        assert_eq!(
            executable(artifact),
            Some("/w/target/release/tcp-server".into())
        );
        assert_eq!(
            executable(r#"{"reason":"compiler-artifact","executable":null}"#),
            None
        );
        assert_eq!(
            executable(r#"{"executable":"C:\\t\\x.exe"}"#),
            Some(r"C:\t\x.exe".into())
        );
        assert_eq!(executable(r#"{"executable":"unterminated"#), None);
    }
}
