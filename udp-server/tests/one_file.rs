//! The Go server in one file (`examples/one_file_udp_server.rs`), spawned on
//! port 0 and sent datagrams: it prints the Go program's line for each and
//! echoes every datagram whole, where the Go program cuts it to 1 KiB.

use std::net::UdpSocket;
use std::process::Command;

use harness::{DEADLINE, Program, run_to_end};

fn one_file_server() -> Command {
    Command::new(harness::example("udp-server", "one_file_udp_server"))
}

#[test]
fn one_file_udp_server_echoes_whole_datagrams_with_the_go_line() {
    let mut command = one_file_server();
    command.args(["--addr", "127.0.0.1:0"]);
    let server = Program::spawn(command);
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(DEADLINE)).unwrap();
    let me = socket.local_addr().unwrap();
    let long = "0123456789".repeat(6_000);
    for (payload, shown) in [
        (&b"Hello server"[..], "Hello server".to_owned()),
        (b"a\tb\x1b[2J\xff", "a\tb⟦ESC⟧[2J⟦0xff⟧".to_owned()),
        (long.as_bytes(), long.clone()),
        (b"", String::new()),
    ] {
        socket.send_to(payload, server.listening_addr()).unwrap();
        let mut buf = vec![0; 65_536];
        let (n, from) = socket.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (payload, server.listening_addr()));
        assert_eq!(
            server.next_stdout_line(),
            format!("data:{shown} addr:{me} count:{}", payload.len())
        );
    }
}

#[test]
fn one_file_udp_server_refuses_a_bad_command_line_in_one_line_with_exit_2() {
    let mut command = one_file_server();
    command.arg("--verbose");
    let run = run_to_end(command, b"");
    assert_eq!(run.status.code(), Some(2), "{}", run.stderr);
    assert_eq!(
        run.stderr,
        "usage: one_file_udp_server [--addr HOST:PORT], e.g. --addr 127.0.0.1:0\n"
    );
}
