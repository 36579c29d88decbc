//! `cargo xtask demo`, run as a learner runs it: one part checked end to
//! end, and a Ctrl-C in the middle of a step that must leave no program
//! behind. (The full demo runs in `.ci/run`.) Both build the programs first
//! (dev profile), which takes a while when the target directory is cold.

use std::{fs, process::Command, time::Duration};

use harness::Program;

/// Generous: a cold build of the programs comes first.
const BUILD_AND_RUN: Duration = Duration::from_secs(900);

/// `cargo xtask demo <part>`, without colour, every wait bounded by
/// [`BUILD_AND_RUN`].
fn demo(part: &str) -> Program {
    let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
    command.args(["demo", part]).env("NO_COLOR", "1");
    Program::spawn(command).with_timeout(BUILD_AND_RUN)
}

/// `cargo xtask demo <part>` run to its end, which must be success: what it
/// printed up to its closing line.
fn passed(part: &str) -> String {
    let mut demo = demo(part);
    let lines = demo.stdout_until(|l| l.contains("checks passed") || l.contains("FAILED"));
    let (_, stderr, status) = demo.wait_exit();
    let text = lines.join("\n");
    assert!(status.success(), "{status}\n{text}\n{}", stderr.join("\n"));
    text
}

/// Whether any process's command line is exactly `args` (NUL-separated in /proc).
fn process_running(args: &[&str]) -> bool {
    let wanted: Vec<u8> = args.iter().flat_map(|a| a.bytes().chain([0])).collect();
    fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| fs::read(e.path().join("cmdline")).ok())
        .any(|cmdline| cmdline.ends_with(&wanted))
}

#[test]
fn demo_udp_checks_the_real_output_and_passes() {
    let text = passed("udp");
    // Before cargo's output, one line says what is built and how long it takes.
    let first = text.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("building tcp-server, ")
            && first.contains("debug build: about 15 s the first time"),
        "{text}"
    );
    // The programs' own lines, shown with their names.
    assert!(
        text.contains("udp-client │ recv:Hello server addr:127.0.0.1:"),
        "{text}"
    );
    assert!(
        text.contains(
            "udp-server │ summary: served 1 datagram (0 dropped), read 12 bytes, echoed 12 bytes"
        ),
        "{text}"
    );
    assert!(text.ends_with("all 3 checks passed"), "{text}");
    // How long the steps ran, said in a unit that shows it: not `0.0 s`.
    let took = text
        .lines()
        .find(|l| l.contains("Result: the steps ran in "));
    assert!(took.is_some_and(|l| !l.ends_with(" 0.0 s")), "{text}");
    assert!(!text.contains('\x1b'), "NO_COLOR must mean no escape codes");
}

#[test]
fn ctrl_c_in_the_middle_of_a_step_stops_every_program_it_started() {
    let mut demo = demo("stick");
    // Step 3b: client2 writes 600 one-byte pieces with a pause after each,
    // so both programs are running for a while after this line.
    let lines =
        demo.stdout_until(|l| l.contains("$ stick-demo client2") && l.ends_with("--chunk 1"));
    let command = lines.last().unwrap().clone();
    // The command is shown before it starts; its first message means it runs.
    demo.wait_for_stdout("server2 │ received client Data sent:");
    let args: Vec<&str> = command.split_once("$ ").unwrap().1.split(' ').collect();
    let port = args[3].rsplit(':').next().unwrap().to_owned();
    let client_args: Vec<String> = std::iter::once("stick-demo".to_owned())
        .chain(args[1..].iter().map(|s| s.to_string()))
        .collect();

    demo.signal(libc::SIGINT);
    let (_, stderr, status) = demo.wait_exit();
    assert_eq!(status.code(), Some(130), "128 + SIGINT");
    let said = stderr.join("\n");
    // Both, unless the machine stalled this test until client2 finished.
    assert!(said.contains("interrupted: stopped "), "{said}");

    // The server's port is free and the client is gone: reaped, not orphaned.
    let listening = format!(
        "0100007F:{:04X} 00000000:0000 0A",
        port.parse::<u16>().unwrap()
    );
    let tcp = fs::read_to_string("/proc/net/tcp").unwrap();
    assert!(!tcp.contains(&listening), "server2 still listens on {port}");
    let client: Vec<&str> = client_args.iter().map(String::as_str).collect();
    assert!(
        !process_running(&client[1..]),
        "client2 still running: {client:?}"
    );
}

#[test]
fn demo_trace_shows_the_servers_trace_and_checks_it() {
    let text = passed("trace");
    // The servers' trace lines, shown with their names, then checked.
    assert!(text.contains("tcp-server (err) │ "), "{text}");
    assert!(text.contains(" → token 0"), "{text}");
    assert!(
        text.contains("✓ the traced reads add up to 520 bytes"),
        "{text}"
    );
    assert!(text.ends_with("all 6 checks passed"), "{text}");
}

#[test]
fn demo_ladder_serves_one_client_from_go_then_one_file_then_ours() {
    let text = passed("ladder");
    // Each rung is there, in order: Go (or why it was skipped), one file, full.
    let go = text.find("Go server $ go UDP/server");
    let go = go.or_else(|| text.find("– Go server skipped: "));
    let one_file = text.find("one-file server $ one_file_udp_server --addr 127.0.0.1:0");
    let full = text.find("Rust server $ udp-server --addr 127.0.0.1:0");
    assert!(go.is_some() && go < one_file && one_file < full, "{text}");
    assert!(
        text.contains("✓ the one-file server served sticky: 520 bytes arrived in "),
        "{text}"
    );
}
