// beyond-the-tutorial/worker-pool/main.go: NOT part of the Go tutorial.
// This project wrote it as the Go twin of its `worker-pool` program, to be
// read beside it and run against it (`cargo xtask compare`, `cargo xtask
// bench pool`). It is what the tutorial advises and does not show: "it is
// more recommended to establish a goroutine worker pool". The idiomatic
// shape: a goroutine per connection reading lines, a fixed pool of worker
// goroutines fed by a buffered jobs channel, and each result sent back to
// its connection's writer goroutine.
//
// The protocol, the same as the Rust program's (one line per request and
// per reply):
//
//	sleep MS    a worker sleeps MS ms (0 to 10000), then: slept MS ms
//	spin MS     a worker computes for MS ms, then:        spun MS ms
//	panic       a worker's job panics:     error: the job failed (panicked)
//	other text  echoed at once by the connection's own goroutine
//
// When every worker is busy, a job waits in the channel's buffer (-queue
// jobs, across all connections); when that is full too, the request is
// answered at once with "busy: N jobs waiting, try again later", so the
// client learns it now and its cheap requests (echoes) keep flowing.
// Replies to one connection may come out of request order: an echo goes at
// once, a job's reply when the job is done.
//
// Run it from the repository root: go run ./go/beyond-the-tutorial/worker-pool
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// maxLine is the longest line accepted, without its newline; a longer one
// is refused and its connection closed (never buffer what a peer claims).
const maxLine = 64 * 1024

// maxMS is the longest job a request may ask for.
const maxMS = 10000

// The counts the summary prints, updated from many goroutines.
var connections, jobsAsked, busyReplies, failedJobs, echoed int64

// A job: what to do, and where its reply goes.
type job struct {
	kind    string // "sleep", "spin" or "panic"
	ms      int
	replies chan<- string   // the connection's writer
	gone    <-chan struct{} // closed when the connection's writer has stopped
	done    *sync.WaitGroup // the connection's jobs in flight
}

func main() {
	addr := flag.String("addr", "127.0.0.1:21000", "address to listen on (port 0 picks a free port)")
	workers := flag.Int("workers", 4, "worker goroutines that run the jobs")
	queue := flag.Int("queue", 64, "jobs that may wait for a worker, across all connections")
	flag.Parse()
	if *workers < 1 || *queue < 0 {
		fmt.Fprintln(os.Stderr, "worker-pool: expected -workers N with N >= 1 and -queue N with N >= 0")
		os.Exit(2)
	}
	listen, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Println("listen failed, err:", err)
		os.Exit(1)
	}
	fmt.Println("listening on", listen.Addr())

	// The pool: a fixed number of workers, all taking jobs from one channel.
	jobs := make(chan job, *queue)
	for i := 0; i < *workers; i++ {
		go worker(jobs)
	}
	go summaryOnSignal()
	for {
		conn, err := listen.Accept()
		if err != nil {
			fmt.Println("accept failed, err:", err)
			continue
		}
		atomic.AddInt64(&connections, 1)
		go process(conn, jobs, *queue)
	}
}

// worker runs jobs until the program ends, each reply sent to its
// connection's writer, or dropped if that connection has gone.
func worker(jobs <-chan job) {
	for j := range jobs {
		reply := run(j)
		select {
		case j.replies <- reply:
		case <-j.gone:
		}
		j.done.Done()
	}
}

// run does one job; a panic fails this job only, and the worker goes on.
func run(j job) (reply string) {
	defer func() {
		if recover() != nil {
			atomic.AddInt64(&failedJobs, 1)
			reply = "error: the job failed (panicked)"
		}
	}()
	switch j.kind {
	case "sleep":
		time.Sleep(time.Duration(j.ms) * time.Millisecond)
		return fmt.Sprintf("slept %d ms", j.ms)
	case "spin":
		end := time.Now().Add(time.Duration(j.ms) * time.Millisecond)
		for time.Now().Before(end) {
		}
		return fmt.Sprintf("spun %d ms", j.ms)
	}
	panic("the client asked this job to panic")
}

// process reads one connection's lines, answers echoes and refusals at
// once, and hands jobs to the pool; a writer goroutine sends every reply.
func process(conn net.Conn, jobs chan<- job, queue int) {
	defer conn.Close()
	replies := make(chan string, 64)
	gone := make(chan struct{})
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		writeLines(conn, replies)
		close(gone)
	}()
	// reply sends a line to the writer, unless the writer has stopped.
	reply := func(line string) {
		select {
		case replies <- line:
		case <-gone:
		}
	}
	var inFlight sync.WaitGroup
	// submit hands a job to the pool, or answers busy at once when every
	// worker is busy and the queue is full.
	submit := func(j job) {
		atomic.AddInt64(&jobsAsked, 1)
		j.replies, j.gone, j.done = replies, gone, &inFlight
		inFlight.Add(1)
		select {
		case jobs <- j:
		default:
			inFlight.Done()
			atomic.AddInt64(&busyReplies, 1)
			reply(fmt.Sprintf("busy: %d jobs waiting, try again later", queue))
		}
	}
	reader := bufio.NewReaderSize(conn, maxLine+2) // the longest line, its \r and \n
	for {
		line, err := readLine(reader)
		if err == errTooLong {
			reply(fmt.Sprintf("error: line longer than %d bytes", maxLine))
			defer discardRest(conn)
			break
		}
		if err != nil {
			break // the client has gone, or closed its side
		}
		kind, arg := line, ""
		if i := strings.IndexByte(line, ' '); i >= 0 {
			kind, arg = line[:i], line[i+1:]
		}
		switch {
		case line == "panic":
			submit(job{kind: "panic"})
		case kind == "sleep" || kind == "spin":
			ms, err := strconv.Atoi(arg)
			if err != nil || ms < 0 || ms > maxMS {
				reply(`error: expected "sleep MS" or "spin MS" with MS from 0 to 10000`)
				continue
			}
			submit(job{kind: kind, ms: ms})
		default:
			atomic.AddInt64(&echoed, 1)
			reply(line)
		}
	}
	// Jobs still running reply before the connection closes (a client
	// that has gone makes the writer stop, and their replies are dropped).
	inFlight.Wait()
	close(replies)
	<-writerDone
}

// writeLines writes each reply as one line, until the channel is closed
// or the client stops taking them.
func writeLines(conn net.Conn, replies <-chan string) {
	w := bufio.NewWriter(conn)
	for line := range replies {
		w.WriteString(line + "\n")
		// Replies that queued meanwhile go out in the same write.
		if len(replies) == 0 && w.Flush() != nil {
			return
		}
	}
	w.Flush()
}

// discardRest ends the connection after its last reply: it says so (FIN)
// and reads what the client still sends for a second, so that closing over
// unread bytes does not reset the connection and destroy that reply.
func discardRest(conn net.Conn) {
	if tcp, ok := conn.(*net.TCPConn); ok {
		tcp.CloseWrite()
	}
	conn.SetReadDeadline(time.Now().Add(time.Second))
	io.Copy(io.Discard, conn)
}

var errTooLong = errors.New("line too long")

// readLine returns the next line without its "\n" (and a "\r" before it).
// A last line without "\n" is dropped: the client closed mid-line.
func readLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return "", errTooLong
	}
	if err != nil {
		return "", err
	}
	text := strings.TrimSuffix(strings.TrimSuffix(string(line), "\n"), "\r")
	if len(text) > maxLine {
		return "", errTooLong
	}
	return text, nil
}

// summaryOnSignal prints the summary line on SIGINT or SIGTERM and ends
// the program, as every server of this project does.
func summaryOnSignal() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	<-stop
	fmt.Printf("summary: served %d connections, %d jobs (%d busy, %d failed), %d echoed lines\n",
		atomic.LoadInt64(&connections), atomic.LoadInt64(&jobsAsked),
		atomic.LoadInt64(&busyReplies), atomic.LoadInt64(&failedJobs), atomic.LoadInt64(&echoed))
	os.Exit(0)
}
