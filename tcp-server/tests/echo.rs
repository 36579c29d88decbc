//! The `tcp-server` binary, spawned on port 0 and spoken to with raw bytes.
//!
//! Each test is named for the behaviour it proves, and for the Go defect
//! where one is proved absent. No test sleeps to synchronise: they wait for
//! the `listening on` line, for log lines, or for bytes, each with a deadline.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use harness::{DEADLINE, Program, assert_lines_in_order, connect};

const MIB: usize = 1024 * 1024;

/// A `tcp-server` on 127.0.0.1:0 with info logs, once it is listening.
fn start(args: &[&str]) -> Program {
    start_with(args, |_| {})
}

fn start_with(args: &[&str], configure: impl FnOnce(&mut Command)) -> Program {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tcp-server"));
    command
        .args(["--addr", "127.0.0.1:0"])
        .args(args)
        .env("RUST_LOG", "info");
    configure(&mut command);
    let server = Program::spawn(command);
    server.listening_addr();
    server
}

/// Which echo server a test runs against: `tcp-server`, or the same Go
/// program in one file (`examples/one_file_tcp_server.rs`), which takes no
/// flag but `--addr` and prints every read.
#[derive(Debug, Clone, Copy)]
enum ServerKind {
    Full,
    OneFile,
}

/// What every echo test holds for both servers.
const BOTH_SERVERS: [ServerKind; 2] = [ServerKind::Full, ServerKind::OneFile];

/// An echo server of `kind` on 127.0.0.1:0, once it is listening; the full
/// one `--quiet` (these tests look at bytes, not at what is printed).
fn start_echo(kind: ServerKind) -> Program {
    // Shown with the output of a failed test: which server failed.
    println!("against the {kind:?} server");
    match kind {
        ServerKind::Full => start(&["--quiet"]),
        ServerKind::OneFile => {
            let mut command = Command::new(harness::example("tcp-server", "one_file_tcp_server"));
            command.args(["--addr", "127.0.0.1:0"]);
            let server = Program::spawn(command);
            server.listening_addr();
            server
        }
    }
}

/// Bytes that differ from position to position, so a lost, duplicated or
/// reordered chunk cannot go unnoticed.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8)
        .collect()
}

/// Writes `data` from a second thread while reading its echo, as a real
/// client must for large payloads (or both sides' buffers fill and stall).
fn echo_concurrently(stream: &TcpStream, data: &[u8]) -> Vec<u8> {
    read_while_writing(stream, data, data.len())
}

/// Writes `data` from a second thread while reading `len` bytes, which may
/// include echo of what was written before.
fn read_while_writing(stream: &TcpStream, data: &[u8], len: usize) -> Vec<u8> {
    let mut writer = stream.try_clone().unwrap();
    let to_send = data.to_vec();
    let writer = thread::spawn(move || writer.write_all(&to_send));
    let mut echoed = vec![0; len];
    (&*stream).read_exact(&mut echoed).expect("read the echo");
    writer.join().unwrap().expect("write the payload");
    echoed
}

fn assert_same(echoed: &[u8], sent: &[u8]) {
    assert_eq!(echoed.len(), sent.len(), "echo length");
    if let Some(i) = echoed.iter().zip(sent).position(|(a, b)| a != b) {
        panic!(
            "echo differs from what was sent at byte {i} of {}",
            sent.len()
        );
    }
}

fn ping(stream: &mut TcpStream, message: &[u8]) {
    stream.write_all(message).expect("write");
    let mut echoed = vec![0; message.len()];
    stream.read_exact(&mut echoed).expect("read echo");
    assert_eq!(echoed, message);
}

/// Reads until end-of-file or a reset: the server closed this connection.
fn assert_closed_by_server(stream: &mut TcpStream) {
    let mut buf = [0; 64];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return,
            Err(e) => panic!("expected the server to close the connection, got {e}"),
        }
    }
}

/// Writes without blocking until the kernel refuses more (or `limit` is
/// reached), returning how much was written: the way to make a server hold
/// output for a client that does not read, without a timing guess.
fn write_until_full(stream: &TcpStream, data: &[u8]) -> usize {
    stream.set_nonblocking(true).unwrap();
    let mut written = 0;
    while written < data.len() {
        match (&*stream).write(&data[written..]) {
            Ok(n) => written += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => panic!("write: {e}"),
        }
    }
    stream.set_nonblocking(false).unwrap();
    written
}

fn summary_numbers(line: &str) -> Vec<u64> {
    line.split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect()
}

#[test]
fn go_defect_data_past_128_bytes_is_not_lost() {
    // The Go server makes a new bufio.Reader per iteration and reads 128
    // bytes from it; the rest of what that reader buffered is discarded.
    for kind in BOTH_SERVERS {
        let server = start_echo(kind);
        for (seed, len) in [1, 128, 129, MIB].into_iter().enumerate() {
            let stream = server.connect();
            let sent = pattern(len, seed as u8);
            let echoed = echo_concurrently(&stream, &sent);
            assert_same(&echoed, &sent);
        }
    }
}

#[test]
fn hundred_concurrent_clients_each_echo_ten_distinct_messages() {
    for kind in BOTH_SERVERS {
        let server = start_echo(kind);
        let clients: Vec<_> = (0..100)
            .map(|client| {
                let addr = server.listening_addr();
                thread::spawn(move || {
                    let mut stream = connect(addr);
                    for message in 0..10 {
                        let text =
                            format!("client {client} message {message} ").repeat(message + 1);
                        ping(&mut stream, text.as_bytes());
                    }
                })
            })
            .collect();
        for client in clients {
            client.join().expect("a client failed");
        }
    }
}

#[test]
fn half_closed_client_gets_its_whole_mebibyte_back() {
    for kind in BOTH_SERVERS {
        let server = start_echo(kind);
        let stream = server.connect();
        let sent = pattern(MIB, 3);
        let mut writer = stream.try_clone().unwrap();
        let to_send = sent.clone();
        let writer = thread::spawn(move || {
            writer.write_all(&to_send)?;
            // "I am done sending": the server must still echo everything.
            writer.shutdown(Shutdown::Write)
        });
        let mut echoed = Vec::new();
        (&stream)
            .read_to_end(&mut echoed)
            .expect("read to end of file");
        writer.join().unwrap().expect("write and half-close");
        assert_same(&echoed, &sent);
    }
}

#[test]
fn client_that_writes_8_mib_and_never_reads_does_not_stop_a_second_client() {
    for kind in BOTH_SERVERS {
        let server = start_echo(kind);
        let hog = server.connect();
        let sent = pattern(8 * MIB, 5);
        // Fill every buffer between the hog and the server: the server now
        // holds echo output the hog does not read (the full server stops
        // reading it; the one in one file reads on, and holds it all).
        let written = write_until_full(&hog, &sent);
        assert!(written > 0);

        // Another client is served normally meanwhile.
        let mut other = server.connect();
        ping(&mut other, b"still served?");

        // And the hog loses nothing once it starts reading.
        let echoed = read_while_writing(&hog, &sent[written..], sent.len());
        assert_same(&echoed, &sent);
    }
}

#[test]
fn reset_in_the_middle_of_a_transfer_leaves_the_server_serving() {
    let server = start(&["--quiet"]);
    let victim = server.connect();
    write_until_full(&victim, &pattern(8 * MIB, 9));
    // SO_LINGER 0: close sends RST instead of FIN, with data still in flight
    // both ways, so the server's next read or write fails.
    socket2::SockRef::from(&victim)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(victim);
    server.wait_for_stderr("closing");

    let mut other = server.connect();
    ping(&mut other, b"after the reset");
    drop(other);

    server.signal(libc::SIGTERM);
    let mut server = server;
    let (lines, _, status) = server.wait_exit();
    assert!(status.success(), "exit status {status}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("summary: served 2 connections")),
        "{lines:?}"
    );
}

#[test]
fn max_conns_2_refuses_the_third_connection() {
    let server = start(&["--quiet", "--max-conns", "2"]);
    let mut first = server.connect();
    let mut second = server.connect();
    ping(&mut first, b"one");
    ping(&mut second, b"two");

    let mut third = server.connect();
    assert_closed_by_server(&mut third);
    // Named after the program, as its errors are, not after a Rust module.
    let warning = server.wait_for_stderr("--max-conns 2");
    assert!(
        warning.starts_with("tcp-server: warning: refusing 127.0.0.1:"),
        "{warning}"
    );

    // The two served clients did not notice.
    ping(&mut first, b"one again");
    ping(&mut second, b"two again");

    // Once one leaves, a new client fits again. The server notices the close
    // asynchronously, so retry (bounded) until it has.
    drop(first);
    let deadline = Instant::now() + DEADLINE;
    loop {
        let mut next = server.connect();
        let mut echoed = [0; 5];
        // Refused again (the close not seen yet) shows as EOF or a reset.
        match next
            .write_all(b"three")
            .and_then(|()| next.read_exact(&mut echoed))
        {
            Ok(()) => {
                assert_eq!(&echoed, b"three");
                break;
            }
            Err(_) if Instant::now() < deadline => continue,
            Err(e) => panic!("a slot never freed up: {e}"),
        }
    }
}

#[test]
fn sigterm_with_pending_output_flushes_it_and_exits_zero_with_the_summary() {
    let mut server = start(&["--quiet", "--max-pending", "65536"]);
    let client = server.connect();
    let sent = pattern(32 * MIB, 11);
    // The client sends and does not read: the server ends up holding output
    // it cannot write, and stops reading.
    let written = write_until_full(&client, &sent);

    server.signal(libc::SIGTERM);
    // Now read: everything the server read before the signal must arrive,
    // then end-of-file when the server closes.
    let mut echoed = Vec::new();
    (&client)
        .read_to_end(&mut echoed)
        .expect("read until the server closes");
    // Hang up in turn: the server waits for that before it exits.
    drop(client);

    let (lines, _, status) = server.wait_exit();
    assert!(status.success(), "exit status {status}");
    let summary = lines
        .iter()
        .find(|l| l.starts_with("summary: "))
        .unwrap_or_else(|| panic!("no summary line in {lines:?}"));
    // "summary: served C connections (R refused), read B bytes, echoed E bytes"
    let [connections, _refused, read, echoed_count] = summary_numbers(summary)[..] else {
        panic!("unexpected summary {summary:?}");
    };
    assert_eq!(connections, 1);
    assert!(read > 0 && read <= written as u64);
    assert_eq!(read, echoed_count, "bytes read but never echoed: {summary}");
    assert_eq!(echoed.len() as u64, echoed_count);
    assert_same(&echoed, &sent[..echoed.len()]);
}

#[test]
fn sigterm_does_not_wait_for_idle_clients_to_hang_up() {
    // A shutdown timeout longer than the test's deadline: if the server
    // waited for this idle client to hang up, `wait_exit` would fail.
    let mut server = start(&["--quiet", "--shutdown-timeout", "3600"]);
    let mut idle = server.connect();
    ping(&mut idle, b"then idle");
    server.signal(libc::SIGTERM);
    let (lines, _, status) = server.wait_exit();
    assert!(status.success(), "exit status {status}");
    assert!(
        lines[0].starts_with("summary: served 1 connection ("),
        "{lines:?}"
    );
    // The client sees a clean end-of-file, not a reset.
    let mut buf = [0; 8];
    assert_eq!(idle.read(&mut buf).unwrap(), 0);
}

#[test]
fn the_stop_ends_at_its_deadline_when_a_client_never_reads() {
    // One signal only: a server that ignored --shutdown-timeout would
    // wait for this client for ever, and `wait_exit` would fail.
    let mut server = start(&["--quiet", "--shutdown-timeout", "1"]);
    let hog = server.connect();
    write_until_full(&hog, &pattern(32 * MIB, 17));
    server.signal(libc::SIGTERM);
    let (lines, stderr, status) = server.wait_exit();
    assert!(status.success(), "exit status {status}");
    assert!(
        stderr
            .iter()
            .any(|l| l.contains("server shutdown deadline passed before the peer took its echo")),
        "{stderr:#?}"
    );
    assert!(
        lines[0].starts_with("summary: served 1 connection ("),
        "{lines:?}"
    );
    drop(hog);
}

#[test]
fn second_signal_stops_waiting_for_a_client_that_never_reads() {
    let mut server = start(&["--quiet", "--shutdown-timeout", "3600"]);
    let hog = server.connect();
    write_until_full(&hog, &pattern(32 * MIB, 13));
    server.signal(libc::SIGTERM);
    // Two signals sent back to back may merge into one; send the second
    // once the first has been seen.
    server.wait_for_stderr("shutting down");
    server.signal(libc::SIGTERM);
    let (lines, _, status) = server.wait_exit();
    assert!(status.success(), "exit status {status}");
    assert!(
        lines[0].starts_with("summary: served 1 connection ("),
        "{lines:?}"
    );
    drop(hog);
}

#[test]
fn sigint_without_clients_exits_zero_with_the_summary() {
    let mut server = start(&[]);
    server.signal(libc::SIGINT);
    let (lines, _, status) = server.wait_exit();
    assert!(status.success(), "exit status {status}");
    assert_eq!(
        lines,
        ["summary: served 0 connections (0 refused), read 0 bytes, echoed 0 bytes"]
    );
}

#[test]
fn teaching_output_mirrors_go_and_escapes_untrusted_bytes() {
    let server = start(&[]);
    let mut client = server.connect();
    let local = client.local_addr().unwrap();
    ping(&mut client, b"hi\x1b[2J\xff\n");
    let line = server.next_stdout_line();
    assert_eq!(
        line,
        format!("received client Data sent from terminal: hi⟦ESC⟧[2J⟦0xff⟧⟦LF⟧ (from {local})")
    );
}

#[test]
fn idle_timeout_closes_a_silent_connection_and_keeps_serving() {
    let server = start(&["--quiet", "--idle-timeout", "1"]);
    // Connected and silent: closed by the timeout, with no write of the
    // test's to race it.
    let mut silent = server.connect();
    assert_closed_by_server(&mut silent);
    // Still serving. A client the timeout closes before its first bytes
    // (a second passed between its connect and its write) tries again.
    let deadline = Instant::now() + DEADLINE;
    loop {
        let mut next = server.connect();
        let mut echoed = [0; 10];
        match next
            .write_all(b"new client")
            .and_then(|()| next.read_exact(&mut echoed))
        {
            Ok(()) => break assert_eq!(&echoed, b"new client"),
            Err(_) if Instant::now() < deadline => continue,
            Err(e) => panic!("never served again: {e}"),
        }
    }
}

/// Not on Windows, which refuses `--threads` above 1 (see `Spread`).
#[cfg(not(windows))]
#[test]
fn threads_2_on_port_0_serve_on_one_port_and_both_stop_on_sigterm() {
    let mut server = start(&["--quiet", "--threads", "2"]);
    let clients: Vec<_> = (0..20)
        .map(|i| {
            let addr = server.listening_addr();
            thread::spawn(move || ping(&mut connect(addr), format!("client {i}").as_bytes()))
        })
        .collect();
    for client in clients {
        client.join().expect("a client failed");
    }
    // Every loop sees the signal; the summary adds up both loops' counts.
    server.signal(libc::SIGTERM);
    let (lines, _, status) = server.wait_exit();
    assert!(status.success(), "exit status {status}");
    assert!(
        lines[0].starts_with("summary: served 20 connections"),
        "{lines:?}"
    );
}

/// Unix only: the limit is `RLIMIT_NOFILE`, set in the child before exec.
/// (Windows has no per-process limit on sockets to run out of.)
#[cfg(unix)]
#[test]
fn out_of_descriptors_pauses_accepting_then_serves_the_queued_clients() {
    // 16 descriptors: the server's own (stdio and the stderr writer's copy,
    // epoll, waker, listener, signal pipe) leave room for about 6
    // connections; 20 clients connect.
    // The kernel completes all 20 handshakes into the listen queue; accept
    // then fails with EMFILE. As each served client leaves, one descriptor
    // frees up, and the server must go back to the queue by itself: no
    // readiness edge will announce connections that are already queued.
    let server = start_with(&["--quiet"], limit_descriptors_to_16);
    let clients = connect_20_clients_that_each_ping_once(&server);
    server.wait_for_stderr("accept failed");
    join_all_served(clients);
}

/// Unix: `RLIMIT_NOFILE` 16, set in the child before exec.
#[cfg(unix)]
fn limit_descriptors_to_16(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: setrlimit is async-signal-safe; nothing else runs in the child.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 16,
                rlim_max: 16,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// 20 clients, all connected before any hangs up (so a server with 16
/// descriptors runs out), each pinging once on a thread of its own and
/// hanging up, which frees the descriptor the next queued client needs.
#[cfg(unix)]
fn connect_20_clients_that_each_ping_once(server: &Program) -> Vec<thread::JoinHandle<()>> {
    let streams: Vec<_> = (0..20).map(|_| server.connect()).collect();
    streams
        .into_iter()
        .enumerate()
        .map(|(i, mut stream)| {
            thread::spawn(move || ping(&mut stream, format!("client {i}").as_bytes()))
        })
        .collect()
}

#[cfg(unix)]
fn join_all_served(clients: Vec<thread::JoinHandle<()>>) {
    for client in clients {
        client.join().expect("a queued client was never served");
    }
}

#[test]
fn bad_flag_value_is_a_clear_error_and_nonzero_exit() {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tcp-server"));
    command.args(["--threads", "0"]);
    let output = Program::spawn(command).finish();
    assert!(!output.status.success());
    let stderr = output.stderr;
    assert!(stderr.contains("--threads"), "{stderr}");
}

#[test]
fn a_spin_past_one_second_or_not_a_number_is_refused_with_exit_2() {
    for value in ["1000001", "-1", "20us"] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tcp-server"));
        command.arg(format!("--spin-us={value}"));
        let output = Program::spawn(command).finish();
        assert_eq!(output.status.code(), Some(2), "--spin-us {value}");
        assert!(output.stderr.contains("--spin-us"), "{}", output.stderr);
    }
}

#[test]
fn help_speaks_plain_words_with_one_form_per_kind_of_flag() {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tcp-server"));
    command.arg("--help");
    let help = Program::spawn(command).finish().stdout;
    assert!(
        help.starts_with("TCP echo server: sends every byte back"),
        "{help}"
    );
    // One placeholder for an address, one for a duration in seconds, and
    // no Rust item for a user to look up.
    assert!(help.contains("--addr <HOST:PORT>"), "{help}");
    assert!(help.contains("--idle-timeout <SECONDS>"), "{help}");
    assert!(help.contains("--shutdown-timeout <SECONDS>"), "{help}");
    assert!(!help.contains("::"), "{help}");
}

#[test]
fn durations_take_fractions_of_a_second() {
    // A silent client is closed after half a second; the stop waits at
    // most a quarter of one.
    let mut server = start(&[
        "--quiet",
        "--idle-timeout",
        "0.5",
        "--shutdown-timeout",
        "0.25",
    ]);
    let mut silent = server.connect();
    assert_closed_by_server(&mut silent);
    server.signal(libc::SIGTERM);
    let (_, stderr, status) = server.wait_exit();
    assert!(status.success(), "exit status {status}; {stderr:?}");
}

#[test]
fn help_explains_the_spin_before_sleeping_and_its_default() {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tcp-server"));
    command.arg("--help");
    let help = Program::spawn(command).finish().stdout;
    assert!(help.contains("--spin-us <MICROSECONDS>"), "{help}");
    assert!(help.contains("keep polling"), "{help}");
    let default = format!("[default: {}]", netpoll::spin::DEFAULT_SPIN_US);
    assert!(help.contains(&default), "{help}");
}

/// Unbroken ping-pong keeps restarting the spin window, so the loop never
/// goes back to a sleeping `poll`: it must still see SIGTERM (through its
/// signal pipe, on one of its tries) and stop with everything echoed.
#[test]
fn sigterm_stops_a_server_kept_spinning_by_unbroken_traffic() {
    let mut server = start(&["--quiet", "--spin-us", "1000000"]);
    let mut probe = server.connect();
    let mut traffic = server.connect();
    let echoed = thread::scope(|scope| {
        let traffic = scope.spawn(move || {
            let deadline = Instant::now() + DEADLINE;
            let mut echoed = 0u64;
            let mut buf = [0; 8];
            // Until the server closes the connection, within the deadline.
            while Instant::now() < deadline {
                if traffic.write_all(b"traffic!").is_err() {
                    break;
                }
                match traffic.read_exact(&mut buf) {
                    Ok(()) => {
                        assert_eq!(&buf, b"traffic!");
                        echoed += 8;
                    }
                    Err(_) => break,
                }
            }
            echoed
        });
        // A hundred echoes of our own among the traffic's: it is flowing,
        // and the server spinning, by the last of them.
        for _ in 0..100 {
            ping(&mut probe, b"probe");
        }
        server.signal(libc::SIGTERM);
        let (lines, _, status) = server.wait_exit();
        assert!(status.success(), "exit status {status}");
        (lines, traffic.join().unwrap())
    });
    let (lines, traffic_echoed) = echoed;
    let numbers = summary_numbers(&lines[0]);
    // served 2 connections (0 refused), read R bytes, echoed E bytes: the
    // traffic thread may have sent one request whose echo it never read.
    let (read, written) = (numbers[2], numbers[3]);
    assert_eq!(numbers[..2], [2, 0], "{lines:?}");
    assert_eq!(read, written, "{lines:?}");
    let counted = 500 + traffic_echoed;
    assert!(
        read == counted || read == counted + 8,
        "{lines:?}: {counted} bytes echoed to the clients"
    );
}

/// The `/proc` directory of the loop thread of process `pid`, the thread
/// named `tcp-loop-0`.
#[cfg(target_os = "linux")]
fn loop_thread(pid: u32) -> std::path::PathBuf {
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let task = task.unwrap().path();
        let comm = std::fs::read_to_string(task.join("comm")).unwrap_or_default();
        if comm.trim_end() == "tcp-loop-0" {
            return task;
        }
    }
    panic!("no thread tcp-loop-0 in process {pid}");
}

/// The scheduler state of the loop thread of process `pid`: `R` while it
/// runs or spins (a `yield_now` leaves it runnable), `S` while it sleeps in
/// `epoll_wait`.
#[cfg(target_os = "linux")]
fn loop_thread_state(pid: u32) -> char {
    let stat = std::fs::read_to_string(loop_thread(pid).join("stat")).unwrap();
    // `pid (comm) state …`: the state follows the last `)`.
    let after_comm = &stat[stat.rfind(')').unwrap() + 1..];
    after_comm.trim_start().chars().next().unwrap()
}

/// An idle server stays idle: once a spin window passes without traffic
/// the loop sleeps in `poll` again. A spinning thread is never in `S`, so
/// reaching `S` after each burst proves the spin ended by itself.
#[cfg(target_os = "linux")]
#[test]
fn the_server_sleeps_again_once_a_spin_window_passes_without_traffic() {
    let mut server = start(&["--quiet", "--spin-us", "20000"]);
    let mut client = server.connect();
    for _ in 0..3 {
        ping(&mut client, b"traffic");
        let deadline = Instant::now() + DEADLINE;
        while loop_thread_state(server.id()) != 'S' {
            assert!(Instant::now() < deadline, "the loop never slept again");
            // Retry pacing, not synchronisation: the state is re-read.
            thread::sleep(Duration::from_millis(1));
        }
    }
    drop(client);
    server.signal(libc::SIGTERM);
    let (lines, _, status) = server.wait_exit();
    assert!(status.success(), "exit status {status}");
    assert!(lines[0].contains("read 21 bytes"), "{lines:?}");
}

/// With `--threads`, a second server on a served port could join the
/// first one's `SO_REUSEPORT` group and take half its connections. It must
/// fail as it does without `--threads`. (Windows refuses `--threads 2` outright,
/// so there both servers run one loop; its message for the port is its own.)
#[test]
fn a_second_threaded_server_on_a_served_port_fails_with_address_in_use() {
    let threads = if cfg!(windows) { "1" } else { "2" };
    let first = start(&["--quiet", "--threads", threads]);
    let addr = first.listening_addr().to_string();
    let mut second = Command::new(env!("CARGO_BIN_EXE_tcp-server"));
    second.args(["--quiet", "--threads", threads, "--addr", &addr]);
    let output = Program::spawn(second).finish();
    assert!(!output.status.success(), "{}", output.stdout);
    assert!(
        cfg!(windows) || output.stderr.contains("Address already in use"),
        "{}",
        output.stderr
    );
    // The first server still serves every connection.
    for i in 0..4 {
        ping(
            &mut first.connect(),
            format!("still the only one {i}").as_bytes(),
        );
    }
}

/// The text of a `received client Data sent from terminal: <text> (from <peer>)` line.
fn read_text(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("received client Data sent from terminal: ")?;
    Some(rest.rsplit_once(" (from ").map_or(rest, |(text, _)| text))
}

/// Letters only, so each read's line shows exactly the bytes read.
fn letters(len: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + (i % 26) as u8).collect()
}

/// A client whose receive buffer is tiny: the server's echo to it waits in
/// the server's kernel send queue, not in the server's pending output.
fn connect_with_small_receive_buffer(server: &Program) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let addr = server.listening_addr();
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&addr.into()).unwrap();
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    stream.set_write_timeout(Some(DEADLINE)).unwrap();
    stream
}

/// Sends `sent` (letters) and waits until the server has printed every
/// byte of it as reads: from then on, all of it was read and echoed.
fn send_and_wait_until_read(server: &Program, client: &TcpStream, sent: &[u8]) {
    (&*client).write_all(sent).expect("write");
    let seen = std::cell::Cell::new(0);
    server.stdout_until(|line| {
        seen.set(seen.get() + read_text(line).map_or(0, str::len));
        seen.get() >= sent.len()
    });
}

#[test]
fn sigterm_keeps_echo_queued_in_the_kernel_for_a_slow_reader() {
    // 32 KiB echoed to a client that reads nothing yet: most of it sits in
    // the server's kernel send queue. A stop that closed now would answer
    // the client's next bytes with a reset, destroying that echo. (Each
    // read is one line; 32 KiB keeps it under the harness' longest line.)
    const SENT: usize = 32 * 1024;
    let mut server = start(&[]);
    let client = connect_with_small_receive_buffer(&server);
    let sent = letters(SENT);
    send_and_wait_until_read(&server, &client, &sent);

    server.signal(libc::SIGTERM);
    let waiting = server.wait_for_stderr("waiting up to 5 s for 1 connection to take");
    assert!(waiting.contains("Ctrl-C again to stop now"), "{waiting}");
    // More bytes after the stop began: discarded, never answered by a reset.
    (&client).write_all(b"more").unwrap();
    let mut echoed = Vec::new();
    (&client)
        .read_to_end(&mut echoed)
        .expect("the whole echo, then end-of-file, and no reset");
    assert_same(&echoed, &sent);
    drop(client);

    let (lines, _, status) = server.wait_exit();
    assert!(status.success(), "exit status {status}");
    let summary = lines.iter().find(|l| l.starts_with("summary: ")).unwrap();
    assert_eq!(
        summary,
        &format!(
            "summary: served 1 connection (0 refused), read {SENT} bytes, echoed {SENT} bytes"
        )
    );
}

#[test]
fn second_signal_is_named_and_unacknowledged_echo_is_not_counted_as_echoed() {
    const SENT: usize = 32 * 1024;
    let mut server = start(&["--shutdown-timeout", "3600"]);
    let client = connect_with_small_receive_buffer(&server);
    let sent = letters(SENT);
    send_and_wait_until_read(&server, &client, &sent);

    // The first Ctrl-C says at once what the stop waits for.
    server.signal(libc::SIGINT);
    let waiting = server.wait_for_stderr("waiting up to 3600 s for 1 connection to take");
    assert!(
        waiting.contains("of echo; Ctrl-C again to stop now"),
        "{waiting}"
    );
    // The second one ends the wait, and is named as what ended it.
    server.signal(libc::SIGINT);
    let (lines, stderr, status) = server.wait_exit();
    assert!(status.success(), "exit status {status}");
    assert!(
        stderr.iter().any(|l| l.contains("again: stopping now")),
        "{stderr:?}"
    );
    assert!(
        !stderr.iter().any(|l| l.contains("deadline passed")),
        "{stderr:?}"
    );
    // The client never read: most of the echo was never acknowledged, and
    // the summary does not count it as echoed.
    let summary = lines.iter().find(|l| l.starts_with("summary: ")).unwrap();
    let [connections, _refused, read, echoed, unacknowledged] = summary_numbers(summary)[..] else {
        panic!("unexpected summary {summary:?}");
    };
    assert_eq!((connections, read), (1, SENT as u64));
    assert!(unacknowledged > 0, "{summary}");
    assert_eq!(echoed + unacknowledged, SENT as u64, "{summary}");
    assert!(
        summary.contains("not acknowledged when the server stopped"),
        "{summary}"
    );
    drop(client);
}

/// Linux only: the server is paused with SIGSTOP so that everything is
/// queued before it reads (Windows has no such signal), and `/proc` says
/// when the pause has taken hold (a signal is delivered asynchronously:
/// without that wait the server could read the first bytes before it
/// stops, and the test pass without the urgent byte stopping a read short).
#[cfg(target_os = "linux")]
#[test]
fn urgent_data_does_not_stall_the_echo() {
    // An urgent byte (MSG_OOB) makes a read stop short at its mark; a loop
    // that took that short read for "queue empty" left the rest unread.
    let server = start(&["--quiet"]);
    let mut client = server.connect();
    ping(&mut client, b"registered");
    // Paused, the server cannot read until everything below is queued.
    server.signal(libc::SIGSTOP);
    let deadline = Instant::now() + DEADLINE;
    while loop_thread_state(server.id()) != 'T' {
        assert!(Instant::now() < deadline, "the loop never stopped");
        // Retry pacing, not synchronisation: the state is re-read.
        thread::sleep(Duration::from_millis(1));
    }
    client.write_all(&[b'a'; 100]).unwrap();
    socket2::SockRef::from(&client)
        .send_out_of_band(b"!")
        .unwrap();
    client.write_all(&[b'b'; 99]).unwrap();
    server.signal(libc::SIGCONT);
    let mut echoed = [0; 200];
    client
        .read_exact(&mut echoed)
        .expect("all 200 bytes echoed, the urgent one in its place");
    let mut expected = vec![b'a'; 100];
    expected.push(b'!');
    expected.extend_from_slice(&[b'b'; 99]);
    assert_eq!(echoed.as_slice(), expected.as_slice());
}

/// Not on Windows, which refuses `--threads` above 1 (see `Spread`).
#[cfg(not(windows))]
#[test]
fn max_conns_holds_across_several_loops() {
    // Four loops, four slots, 64 clients connecting at once: every loop
    // admits from the same count, so at most four are ever served. The
    // race it guards against is narrow, so the test tries it many times.
    for _ in 0..ROUNDS {
        let server = start(&["--quiet", "--threads", "4", "--max-conns", "4"]);
        // All connect first, so the loops find them queued and accept at once.
        let streams: Vec<_> = (0..64).map(|_| server.connect()).collect();
        let all_tried = std::sync::Arc::new(std::sync::Barrier::new(64));
        let clients: Vec<_> = streams
            .into_iter()
            .map(|mut stream| {
                let all_tried = std::sync::Arc::clone(&all_tried);
                thread::spawn(move || {
                    let mut echoed = [0; 1];
                    // Served: the echo. Refused: end-of-file or a reset.
                    let served = stream
                        .write_all(b"x")
                        .and_then(|()| stream.read_exact(&mut echoed))
                        .is_ok();
                    // Hold every connection open until all have been tried.
                    all_tried.wait();
                    served
                })
            })
            .collect();
        let served = clients
            .into_iter()
            .map(|client| client.join().unwrap())
            .filter(|&served| served)
            .count();
        assert_eq!(served, 4);
    }
}

/// How many servers `max_conns_holds_across_several_loops` tries.
#[cfg(not(windows))]
const ROUNDS: usize = 50;

#[test]
fn every_value_the_flags_accept_works() {
    // The largest value each duration and size flag accepts: the stop must
    // neither panic nor wait (the one client is idle).
    let max = u64::MAX.to_string();
    // The longest wait: seconds as an f64 that a `Duration` holds.
    let longest = "1.8e19";
    let mut server = start(&[
        "--quiet",
        "--shutdown-timeout",
        longest,
        "--idle-timeout",
        longest,
        "--max-pending",
        &max,
        "--max-conns",
        &max,
        "--spin-us",
        "1000000",
    ]);
    let mut client = server.connect();
    ping(&mut client, b"served");
    server.signal(libc::SIGTERM);
    let (lines, stderr, status) = server.wait_exit();
    assert!(status.success(), "exit status {status}; {stderr:?}");
    assert!(
        lines[0].starts_with("summary: served 1 connection ("),
        "{lines:?}"
    );
}

/// Unix only: the full stdout is made with an `sh` pipeline.
#[cfg(unix)]
#[test]
fn full_stdout_does_not_stop_the_server_from_serving() {
    // stdout is a pipe whose reader took the first line and then sleeps:
    // it fills up, and a blocking print would stop the loop.
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(r#""$0" --addr 127.0.0.1:0 | { IFS= read -r line; printf '%s\n' "$line"; exec sleep 3600; }"#)
        .arg(env!("CARGO_BIN_EXE_tcp-server"))
        .env("RUST_LOG", "warn");
    let server = Program::spawn(command);
    let mut chatty = server.connect();
    // About 2 MB of teaching output: more than the pipe and the queue hold.
    let message = letters(2000);
    for _ in 0..1000 {
        ping(&mut chatty, &message);
    }
    let warning = server.wait_for_stderr("stdout is not keeping up");
    assert!(warning.contains("still serving"), "{warning}");
    // And everyone is still served.
    let mut other = server.connect();
    ping(&mut other, b"still served?");
    ping(&mut chatty, b"and you?");
}

#[cfg(unix)]
#[path = "../../edges/tests/support/full_pipe.rs"]
mod full_pipe;

/// A `tcp-server` (see [`start`]) whose stderr is a pipe that is already
/// full and that nobody reads: its first write to stderr would block.
#[cfg(unix)]
fn start_with_full_stderr(
    args: &[&str],
    configure: impl FnOnce(&mut Command),
) -> (Program, full_pipe::Unread) {
    let mut unread = None;
    let server = start_with(args, |command| {
        unread = Some(full_pipe::full_stderr(command));
        configure(command);
    });
    (server, unread.expect("the pipe is made before the spawn"))
}

/// Makes each warning of a serving loop fire with stderr a full pipe: a
/// refusal at `--max-conns`, then a SIGTERM while a client that never
/// reads holds echo ("waiting up to 1 s for 1 connection…"). Written on
/// the loop thread, the first would block it for good: the refused client
/// never closed, the served one never echoed again, SIGTERM never heard.
#[cfg(unix)]
fn full_stderr_stops_neither_serving_nor_stopping_with(extra_args: &[&str]) {
    let args = [
        &["--quiet", "--max-conns", "2", "--shutdown-timeout", "1"][..],
        extra_args,
    ]
    .concat();
    let (mut server, _unread) = start_with_full_stderr(&args, |_| {});
    let mut served = server.connect();
    ping(&mut served, b"before");
    // Sends and never reads: the server ends up holding its echo.
    let hog = server.connect();
    write_until_full(&hog, &pattern(8 * MIB, 21));

    // Over --max-conns: refused with a warning, and closed all the same.
    let mut refused = server.connect();
    assert_closed_by_server(&mut refused);
    ping(&mut served, b"after the refusal");

    // The stop says what it waits for, waits its 1 s for the hog, and
    // exits with the summary.
    server.signal(libc::SIGTERM);
    let (lines, _, status) = server.wait_exit();
    assert!(status.success(), "exit status {status}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("summary: served 2 connections (1 refused)")),
        "{lines:?}"
    );
    drop(hog);
}

/// Unix only: the full pipe is put in place between fork and exec.
#[cfg(unix)]
#[test]
fn full_stderr_stops_neither_serving_nor_stopping() {
    full_stderr_stops_neither_serving_nor_stopping_with(&[]);
}

/// The same with `--trace`, which writes lines to that stderr too, from
/// the loop and for every request: they share the one stderr queue.
#[cfg(unix)]
#[test]
fn full_stderr_under_trace_stops_neither_serving_nor_stopping() {
    full_stderr_stops_neither_serving_nor_stopping_with(&["--trace"]);
}

/// Unix only, as `out_of_descriptors_pauses_accepting_then_serves_the_queued_clients`.
#[cfg(unix)]
#[test]
fn full_stderr_does_not_stop_accepting_once_descriptors_run_out() {
    // The accept error is logged; with stderr full, that line must cost
    // nothing but a dropped line, and every queued client is served.
    let (mut server, _unread) = start_with_full_stderr(&["--quiet"], limit_descriptors_to_16);
    join_all_served(connect_20_clients_that_each_ping_once(&server));
    server.signal(libc::SIGTERM);
    let (_, _, status) = server.wait_exit();
    assert!(status.success(), "exit status {status}");
}

#[test]
fn a_client_leaving_prints_the_go_eof_line_and_the_summary_says_1_connection() {
    let mut server = start(&[]);
    let mut client = server.connect();
    let local = client.local_addr().unwrap();
    ping(&mut client, b"hi");
    client.shutdown(Shutdown::Write).unwrap();
    assert_eq!(client.read(&mut [0; 1]).unwrap(), 0);
    assert_eq!(
        server.stdout_until(|l| l.starts_with("read from client")),
        [
            format!("received client Data sent from terminal: hi (from {local})"),
            format!("read from client failed, err: EOF (from {local})"),
        ]
    );
    server.signal(libc::SIGTERM);
    let (lines, _, status) = server.wait_exit();
    assert!(status.success(), "exit status {status}");
    assert_eq!(
        lines,
        ["summary: served 1 connection (0 refused), read 2 bytes, echoed 2 bytes"]
    );
}

#[test]
fn several_loops_say_what_the_stop_waits_for_in_one_line() {
    // Eight slow readers, spread by the kernel over four loops: one line
    // for all of them, not one per loop.
    const SENT: usize = 32 * 1024;
    let mut server = start(&["--threads", "4", "--shutdown-timeout", "3600"]);
    let clients: Vec<_> = (0..8)
        .map(|_| connect_with_small_receive_buffer(&server))
        .collect();
    let all = letters(SENT).repeat(clients.len());
    for client in &clients {
        (&*client).write_all(&letters(SENT)).unwrap();
    }
    let seen = std::cell::Cell::new(0);
    server.stdout_until(|line| {
        seen.set(seen.get() + read_text(line).map_or(0, str::len));
        seen.get() >= all.len()
    });
    server.signal(libc::SIGINT);
    server.wait_for_stderr("waiting up to 3600 s for 8 connections to take");
    server.signal(libc::SIGINT);
    let (_, stderr, status) = server.wait_exit();
    assert!(status.success(), "exit status {status}");
    // The first line was read above; no loop said it again.
    let count = |needle: &str| stderr.iter().filter(|l| l.contains(needle)).count();
    assert_eq!(count("waiting up to"), 0, "{stderr:#?}");
    assert_eq!(count("again: stopping now"), 1, "{stderr:#?}");
    assert_eq!(count("not taken by 8 connections"), 1, "{stderr:#?}");
    drop(clients);
}

/// One exchange, traced: what `--trace` must show for a learner to follow
/// a request through the loop. The lines come in the loop's
/// order, each naming the connection by its token and peer.
#[test]
fn trace_shows_the_accept_read_write_and_close_of_one_request() {
    let mut server = start(&["--quiet", "--trace"]);
    let mut client = server.connect();
    let peer = client.local_addr().unwrap();
    ping(&mut client, b"hello");
    drop(client);
    let traced = server.stderr_until(|l| l.contains("close: peer closed the connection"));
    let conn = format!(" µs  conn 0 {peer}: ");
    assert_lines_in_order(
        &traced,
        &[
            " µs  loop: poll: 1 events after sleeping".to_owned(),
            format!(" µs  loop: accept {peer} → token 0"),
            format!("{conn}read 5 bytes"),
            format!("{conn}wrote 5 bytes, 0 bytes pending"),
            format!("{conn}short read (5 < 65536): queue drained"),
            format!("{conn}read 0 bytes: peer closed its write side"),
            format!("{conn}close: peer closed the connection"),
        ],
    );
    let rest = server.stop_ok();
    assert_lines_in_order(&rest, &["loop: trace ends"]);
}

/// With `--threads`, each loop numbers its connections from 0, so every
/// trace line names its loop: `conn 0` alone would not say whose.
/// Not on Windows, which refuses `--threads` above 1 (see `Spread`).
#[cfg(not(windows))]
#[test]
fn with_threads_each_trace_line_names_its_loop() {
    let mut server = start(&["--quiet", "--trace", "--threads", "2"]);
    let mut clients: Vec<TcpStream> = (0..4).map(|_| server.connect()).collect();
    for client in &mut clients {
        ping(client, b"hello");
    }
    let peers: Vec<String> = clients
        .iter()
        .map(|c| c.local_addr().unwrap().to_string())
        .collect();
    drop(clients);
    let closed = std::cell::Cell::new(0);
    let traced = server.stderr_until(|line| {
        if line.contains("close: peer closed the connection") {
            closed.set(closed.get() + 1);
        }
        closed.get() == peers.len()
    });
    let rest = server.stop_ok();
    let names_its_loop = |line: &&String| {
        let after = line.split(" µs  ").nth(1).unwrap_or("");
        after.starts_with("loop 0") || after.starts_with("loop 1")
    };
    // Every line but the process' last, `loop: trace ends`, which is
    // written once for all loops.
    let trace: Vec<&String> = traced
        .iter()
        .chain(&rest)
        .filter(|l| l.contains(" µs  ") && !l.ends_with("loop: trace ends"))
        .collect();
    assert!(trace.iter().all(names_its_loop), "{trace:#?}");
    for peer in &peers {
        let accepted = trace
            .iter()
            .any(|l| l.contains(": accept ") && l.contains(peer.as_str()));
        let read = trace
            .iter()
            .any(|l| l.contains(" conn ") && l.contains(&format!("{peer}: read 5 bytes")));
        assert!(accepted && read, "{peer} in {trace:#?}");
    }
}

/// Without `--trace` the same exchange writes no trace line: tracing is off
/// by default (the close is still logged, at debug level).
#[test]
fn without_trace_nothing_is_traced() {
    let mut server = start_with(&["--quiet"], |command| {
        command.env("RUST_LOG", "debug");
    });
    let mut client = server.connect();
    ping(&mut client, b"hello");
    drop(client);
    let mut stderr = server.stderr_until(|l| l.contains("closing: peer closed the connection"));
    stderr.extend(server.stop_ok());
    assert!(!stderr.iter().any(|l| l.contains(" µs  ")), "{stderr:#?}");
}
