//! The Go baselines: when `go` is installed, the bench builds, once per run,
//! the Go tutorial's own `tcp/server` and an idiomatic Go echo
//! (`io.Copy(conn, conn)` per goroutine, `bench/go/echo/main.go`), and the
//! tcp ping-pong measures them in the same alternating rounds as ours and
//! tokio's. A learner's first question is "is the Rust version faster than
//! the Go one?"; without Go the bench says it skipped them and goes on.
//!
//! The tutorial server hard-codes `127.0.0.1:20000` and never says it is
//! listening. Rather than run it on that fixed port (which anything else on
//! the machine may hold, and which would be free-checked only racily), the
//! bench builds a copy of `go/tcp/server/main.go` in which the one
//! `net.Listen` call becomes `benchListen` (`bench/go/tutorial/bench_listen.go`):
//! it binds `--addr` (port 0) and prints `listening on <addr>`; the rest,
//! including its `fmt.Println` of every message, is measured as published.

use std::{
    ffi::OsStr,
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};

/// The tutorial server reads at most this many bytes at a time through a
/// `bufio.Reader` it recreates for every read, so the rest of a longer
/// message is dropped: it echoes correctly only messages up to this size.
pub const TUTORIAL_MAX_LEN: usize = 128;

/// The call in the tutorial's source that the copy replaces.
const PUBLISHED_LISTEN: &str = r#"net.Listen("tcp", "127.0.0.1:20000")"#;

/// The two Go servers, built.
#[derive(Clone, Debug)]
pub struct GoBaselines {
    /// `go version`'s answer, for the report.
    pub version: String,
    /// The tutorial's `tcp/server`, listening on `--addr`.
    pub tutorial: PathBuf,
    /// The idiomatic `io.Copy` echo.
    pub echo: PathBuf,
}

/// Why the Go baselines are not run, when they are not.
pub fn skipped_because(reason: &str) -> String {
    format!("Go baselines skipped: {reason}")
}

/// Finds `go` on `path` (a `PATH` value): `None` when it is not there.
pub fn find_go(path: &OsStr) -> Option<PathBuf> {
    std::env::split_paths(path)
        .map(|dir| dir.join(if cfg!(windows) { "go.exe" } else { "go" }))
        .find(|candidate| candidate.is_file())
}

/// Builds both Go servers into `out_dir` with the `go` found on `path`.
/// `Ok(Err(reason))` when there is no Go to build with: the bench then
/// skips them and says why; a failed build of installed Go is an error.
pub fn build(path: &OsStr, root: &Path, out_dir: &Path) -> Result<Result<GoBaselines, String>> {
    let Some(go) = find_go(path) else {
        return Ok(Err(skipped_because("`go` was not found on PATH")));
    };
    let version = run_go(&go, Command::new(&go).arg("version"))?;
    let tutorial_src = out_dir.join("go-tutorial-src");
    fs::create_dir_all(&tutorial_src)
        .with_context(|| format!("creating {}", tutorial_src.display()))?;
    let published = root.join("go/tcp/server/main.go");
    let source = fs::read_to_string(&published)
        .with_context(|| format!("reading {}", published.display()))?;
    let copy = address_from_command_line(&source)
        .with_context(|| format!("adapting {}", published.display()))?;
    fs::write(tutorial_src.join("main.go"), copy)?;
    fs::copy(
        root.join("bench/go/tutorial/bench_listen.go"),
        tutorial_src.join("bench_listen.go"),
    )
    .context("copying bench/go/tutorial/bench_listen.go")?;
    let tutorial = out_dir.join("go-tutorial-tcp-server");
    let echo = out_dir.join("go-echo");
    run_go(
        &go,
        Command::new(&go)
            .current_dir(&tutorial_src)
            .args(["build", "-o"])
            .arg(&tutorial)
            .args(["main.go", "bench_listen.go"]),
    )?;
    run_go(
        &go,
        Command::new(&go)
            .current_dir(root.join("bench/go/echo"))
            .args(["build", "-o"])
            .arg(&echo)
            .arg("main.go"),
    )?;
    Ok(Ok(GoBaselines {
        version: version.trim().to_owned(),
        tutorial,
        echo,
    }))
}

/// The tutorial's source with its one `net.Listen` call replaced by
/// `benchListen`, which takes the address from `--addr`.
pub fn address_from_command_line(source: &str) -> Result<String> {
    match source.matches(PUBLISHED_LISTEN).count() {
        1 => Ok(source.replace(PUBLISHED_LISTEN, r#"benchListen("tcp", "127.0.0.1:20000")"#)),
        n => bail!("expected one `{PUBLISHED_LISTEN}` in the tutorial server, found {n}"),
    }
}

/// Runs a `go` command, its stdout on success, its stderr in the error.
fn run_go(go: &Path, command: &mut Command) -> Result<String> {
    let output = command
        .output()
        .with_context(|| format!("running {}", go.display()))?;
    if !output.status.success() {
        bail!(
            "`{command:?}` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn without_go_on_path_the_baselines_are_skipped_with_a_reason() {
        let empty = tempdir();
        let outcome = build(empty.as_os_str(), &crate::workspace_root(), &empty).unwrap();
        assert_eq!(
            outcome.err().as_deref(),
            Some("Go baselines skipped: `go` was not found on PATH")
        );
        let _ = fs::remove_dir_all(empty);
    }

    #[test]
    fn only_the_tutorial_servers_listen_call_changes() {
        let source = "x\n\tlisten, err := net.Listen(\"tcp\", \"127.0.0.1:20000\")\ny\n";
        assert_eq!(
            address_from_command_line(source).unwrap(),
            "x\n\tlisten, err := benchListen(\"tcp\", \"127.0.0.1:20000\")\ny\n"
        );
        assert!(address_from_command_line("no listen here").is_err());
    }

    #[test]
    fn the_published_tutorial_server_has_the_call_the_bench_replaces() {
        let published =
            fs::read_to_string(crate::workspace_root().join("go/tcp/server/main.go")).unwrap();
        assert!(address_from_command_line(&published).is_ok());
    }

    /// A fresh empty directory in the system's temporary directory.
    pub fn tempdir() -> PathBuf {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "bench-go-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }
}
