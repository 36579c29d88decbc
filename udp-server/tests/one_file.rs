//! What only the Go server in one file (`examples/one_file_udp_server.rs`)
//! has to prove: its command line. Its echo and its Go line per datagram
//! are proved by the tests of `tests/udp_server.rs`, which run against it
//! too.

use std::process::Command;

use harness::run_to_end;

#[test]
fn one_file_udp_server_refuses_a_bad_command_line_in_one_line_with_exit_2() {
    for args in [&["--verbose"][..], &["--addr"], &["--addr", "no-port"]] {
        let mut command = Command::new(harness::example("udp-server", "one_file_udp_server"));
        command.args(args);
        let run = run_to_end(command, b"");
        assert_eq!(run.status.code(), Some(2), "{args:?}: {}", run.stderr);
        assert_eq!(run.stdout, "", "{args:?}");
        assert_eq!(
            run.stderr,
            "usage: one_file_udp_server [--addr HOST:PORT], e.g. --addr 127.0.0.1:0\n"
        );
    }
}
