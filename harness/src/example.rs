//! [`example`]: the path of an example program (`cargo run --example NAME`)
//! for a test to start. The Go servers in one file are examples of their
//! crates, as mio keeps its own, and the tests that check our full servers
//! run against them too.
//!
//! Cargo gives a test the path of its package's binaries
//! (`CARGO_BIN_EXE_<name>`) but not of its examples, and builds them only
//! for some commands: `cargo test -p tcp-server` does, `cargo test --test
//! echo` does not, and may leave an old build behind. So the first call in
//! a test process builds the example, and a test never runs a missing or
//! stale one.

use std::{
    env,
    path::{Path, PathBuf},
    process::Command,
    sync::Mutex,
    time::Duration,
};

use crate::Program;

/// Bounds the build: a cold one compiles the example alone (its
/// dependencies were built for the test), a few seconds.
const BUILD: Duration = Duration::from_secs(600);

/// The example `name` of `package`, built for the profile the test was
/// built with, before its path is returned (once per process and example).
/// Panics with cargo's output if the build fails.
///
/// For the host only: a test built with `--target` for another OS (run
/// under Wine, say) cannot run cargo.
pub fn example(package: &str, name: &str) -> PathBuf {
    static BUILT: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let test = env::current_exe().expect("the test's own path");
    // A test runs from <target dir>/<profile>/deps/; examples are beside.
    let profile_dir = test
        .parent()
        .and_then(Path::parent)
        .expect("a test runs from <target dir>/<profile>/deps/");
    let path = profile_dir
        .join("examples")
        .join(format!("{name}{}", env::consts::EXE_SUFFIX));
    // Held while building: a second test waits for the first one's build.
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !built.iter().any(|b| b == name) {
        let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut command = Command::new(cargo);
        command.args(["build", "--quiet", "-p", package, "--example", name]);
        command.args(profile_args(profile_dir));
        let finished = Program::spawn(command).with_timeout(BUILD).finish();
        assert!(
            finished.status.success() && path.is_file(),
            "`cargo build -p {package} --example {name}` did not make {}: {}\n{}",
            path.display(),
            finished.status,
            finished.stderr
        );
        built.push(name.to_owned());
    }
    path
}

/// The cargo flags that build into `profile_dir`: the directory is named
/// for the profile, except `dev`'s, which is `debug`.
fn profile_args(profile_dir: &Path) -> Vec<String> {
    match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => Vec::new(),
        Some(profile) => vec!["--profile".to_owned(), profile.to_owned()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_example_is_built_with_the_profile_of_the_test() {
        assert!(profile_args(Path::new("/t/debug")).is_empty());
        assert_eq!(
            profile_args(Path::new("/t/release")),
            ["--profile", "release"]
        );
        assert_eq!(profile_args(Path::new("/t/bench")), ["--profile", "bench"]);
    }
}
