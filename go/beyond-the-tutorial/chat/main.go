// beyond-the-tutorial/chat/main.go: NOT part of the Go tutorial. This
// project wrote it as the Go twin of its `chat` program, to be read beside
// it and run against it (`cargo xtask compare`, `cargo xtask bench chat`):
// the classic next program after an echo server. The idiomatic Go shape is
// the hub: one goroutine owns the set of clients and their names, and the
// others talk to it over channels (register, unregister, lines); each
// client has a reader goroutine, a writer goroutine, and a buffered send
// channel the hub fills. A client whose channel overflows (it does not
// read what it is sent) is disconnected, so it never slows the others.
//
// The protocol, the same as the Rust program's (one line each):
//
//	on connect   it gets "* welcome, you are guestN; K others here; ..."
//	             and the others get "* guestN joined"
//	TEXT         every other client gets "NAME: TEXT"
//	/nick NEW    everyone gets "* OLD is now NEW", or the sender alone
//	             "* cannot take that name: REASON"
//	/quit        leaves; the others get "* NAME left"
//
// Run it from the repository root: go run ./go/beyond-the-tutorial/chat
// and, in other terminals, talk to it with nc 127.0.0.1 22000.
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
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"
)

// maxLine is the longest line accepted, without its newline; a longer one
// is refused and its connection closed (never buffer what a peer claims).
const maxLine = 64 * 1024

const help = "/nick NAME renames you, /quit leaves"

// The counts the summary prints.
var connections, linesSent, deliveries, droppedSlow int64

// client is one connection, as the hub sees it.
type client struct {
	conn net.Conn
	name string
	// send holds the lines the writer has not taken yet; pending counts
	// their bytes. The hub alone sends on it, and closes it.
	send    chan string
	pending int64
}

// line is what a reader hands the hub: a line a client sent, or tooLong.
type line struct {
	from    *client
	text    string
	tooLong bool
}

// hub owns the clients and their names: only its goroutine touches them.
type hub struct {
	clients    map[*client]bool
	names      map[string]*client
	register   chan *client
	unregister chan *client
	lines      chan line
	maxPending int64
}

func main() {
	addr := flag.String("addr", "127.0.0.1:22000", "address to listen on (port 0 picks a free port)")
	maxPending := flag.Int64("max-pending", 1<<20, "bytes a client may leave unread before it is disconnected")
	flag.Parse()
	if *maxPending < 1 {
		fmt.Fprintln(os.Stderr, "chat: expected -max-pending BYTES with BYTES >= 1")
		os.Exit(2)
	}
	listen, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Println("listen failed, err:", err)
		os.Exit(1)
	}
	fmt.Println("listening on", listen.Addr())
	h := &hub{
		clients:    make(map[*client]bool),
		names:      make(map[string]*client),
		register:   make(chan *client),
		unregister: make(chan *client),
		lines:      make(chan line),
		maxPending: *maxPending,
	}
	go h.run()
	go summaryOnSignal()
	for n := 1; ; n++ {
		conn, err := listen.Accept()
		if err != nil {
			fmt.Println("accept failed, err:", err)
			continue
		}
		atomic.AddInt64(&connections, 1)
		// A Go channel is bounded by a count of lines: room for the
		// byte bound's worth of 32-byte lines (the byte bound is kept
		// too, by the hub).
		c := &client{conn: conn, name: fmt.Sprintf("guest%d", n), send: make(chan string, *maxPending/32+1)}
		h.register <- c
		go c.writeLines()
		go h.readLines(c)
	}
}

// run is the hub's goroutine: every change to the clients happens here,
// one event at a time.
func (h *hub) run() {
	for {
		select {
		case c := <-h.register:
			welcome := fmt.Sprintf("* welcome, you are %s; %d others here; %s", c.name, len(h.clients), help)
			h.clients[c] = true
			h.names[c.name] = c
			h.deliver(c, welcome)
			h.broadcast("* "+c.name+" joined", c)
		case c := <-h.unregister:
			h.remove(c, "left")
		case l := <-h.lines:
			if h.clients[l.from] {
				h.handle(l)
			}
		}
	}
}

// handle acts on one line from a client that is still here.
func (h *hub) handle(l line) {
	c := l.from
	switch {
	case l.tooLong:
		h.deliver(c, fmt.Sprintf("error: line longer than %d bytes", maxLine))
		h.remove(c, "left")
	case l.text == "/nick" || strings.HasPrefix(l.text, "/nick "):
		name := strings.TrimPrefix(strings.TrimPrefix(l.text, "/nick"), " ")
		if why := h.refuse(name); why != "" {
			h.deliver(c, "* cannot take that name: "+why)
			return
		}
		old := c.name
		delete(h.names, old)
		c.name = name
		h.names[name] = c
		h.broadcast("* "+old+" is now "+name, nil)
	case strings.HasPrefix(l.text, "/"):
		h.deliver(c, "* unknown command; "+help)
	default:
		atomic.AddInt64(&linesSent, 1)
		atomic.AddInt64(&deliveries, h.broadcast(c.name+": "+l.text, c))
	}
}

// refuse says why name cannot be taken, or "" if it can.
func (h *hub) refuse(name string) string {
	if n := utf8.RuneCountInString(name); n < 1 || n > 32 {
		return "a name has 1 to 32 characters"
	}
	for _, r := range name {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return "a name has no spaces or control characters"
		}
	}
	// A guest's name is kept for the newcomer it is given to: a peer that
	// took guest7 would share it with the seventh connection when it came.
	if digits := strings.TrimPrefix(name, "guest"); digits != name && digits != "" &&
		strings.Trim(digits, "0123456789") == "" {
		return "guest names are given to newcomers"
	}
	if h.names[name] != nil {
		return name + " is in use"
	}
	return ""
}

// broadcast sends text to every client but skip, and says to how many;
// those too slow to take it are disconnected afterwards.
func (h *hub) broadcast(text string, skip *client) (delivered int64) {
	var slow []*client
	for c := range h.clients {
		switch {
		case c == skip:
		case h.deliver(c, text):
			delivered++
		default:
			slow = append(slow, c)
		}
	}
	for _, c := range slow {
		atomic.AddInt64(&droppedSlow, 1)
		c.conn.Close() // its writer may be stuck on a full socket
		h.remove(c, "left (too slow: it did not read its messages)")
	}
	return delivered
}

// deliver queues text for c without waiting; false if c is too slow:
// its unread lines would pass the bound, or its channel is full.
func (h *hub) deliver(c *client, text string) bool {
	size := int64(len(text) + 1)
	if atomic.LoadInt64(&c.pending)+size > h.maxPending {
		return false
	}
	select {
	case c.send <- text:
		atomic.AddInt64(&c.pending, size)
		return true
	default:
		return false
	}
}

// remove forgets c, closes its channel (its writer sends what is queued,
// then closes the connection) and tells the others why it went.
func (h *hub) remove(c *client, why string) {
	if !h.clients[c] {
		return
	}
	delete(h.clients, c)
	delete(h.names, c.name)
	close(c.send)
	h.broadcast("* "+c.name+" "+why, nil)
}

// readLines hands the hub each line the client sends, until it leaves.
func (h *hub) readLines(c *client) {
	defer func() { h.unregister <- c }()
	reader := bufio.NewReaderSize(c.conn, maxLine+2) // the longest line, its \r and \n
	for {
		text, err := readLine(reader)
		if err == errTooLong {
			h.lines <- line{from: c, tooLong: true}
			return
		}
		if err != nil || text == "/quit" {
			return
		}
		h.lines <- line{from: c, text: text}
	}
}

// writeLines writes what the hub queues for c, several lines a write when
// they queued meanwhile, until the hub closes the channel.
func (c *client) writeLines() {
	defer c.conn.Close()
	w := bufio.NewWriter(c.conn)
	for text := range c.send {
		w.WriteString(text + "\n")
		atomic.AddInt64(&c.pending, -int64(len(text)+1))
		if len(c.send) == 0 && w.Flush() != nil {
			return
		}
	}
	if w.Flush() == nil {
		discardRest(c.conn)
	}
}

// discardRest ends a connection the server closes: it says so (FIN) and
// reads what the client still sends for a second, so that closing over
// unread bytes does not reset the connection and destroy the last lines.
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
	text, err := r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return "", errTooLong
	}
	if err != nil {
		return "", err
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(text), "\n"), "\r")
	if len(s) > maxLine {
		return "", errTooLong
	}
	return s, nil
}

// summaryOnSignal prints the summary line on SIGINT or SIGTERM and ends
// the program, as every server of this project does.
func summaryOnSignal() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	<-stop
	fmt.Printf("summary: served %d connections, %d lines delivered %d times, %d dropped as too slow\n",
		atomic.LoadInt64(&connections), atomic.LoadInt64(&linesSent),
		atomic.LoadInt64(&deliveries), atomic.LoadInt64(&droppedSlow))
	os.Exit(0)
}
