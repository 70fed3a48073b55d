// Package local is the Unix-socket API through which programs on the device hand
// messages to thingd and read its status. The wire format is in docs/local-api.md.
package local

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"thingd/internal/human"
)

// Limits of a request, generous enough for any valid message and small enough that a
// hostile client cannot make the daemon allocate much.
const (
	maxLine    = 1024      // a request line: verb, qos, length and topic
	maxPayload = 256 << 10 // payload bytes accepted on the wire; limits.MaxPayload refuses above 128 KiB with a reason
)

// ErrProtocol marks a malformed request; the server answers it and closes the connection
// because the stream can no longer be framed.
var ErrProtocol = errors.New("protocol error")

// Request is one parsed request.
type Request struct {
	Verb    string // "PUB", "STATUS" or "SHADOWGET"
	QoS     int
	Topic   string // for SHADOWGET the shadow's name, "" for the classic one
	Payload []byte
}

// ReadRequest reads one request:
//
//	PUB <qos> <payload-length> <topic>\n<payload bytes>
//	STATUS\n
//	SHADOWGET [<shadow-name>]\n
func ReadRequest(r *bufio.Reader) (Request, error) {
	line, err := readLine(r)
	if err != nil {
		return Request{}, err
	}
	verb, rest, _ := strings.Cut(line, " ")
	switch verb {
	case "STATUS":
		if rest != "" {
			return Request{}, fmt.Errorf("%w: STATUS takes no arguments", ErrProtocol)
		}
		return Request{Verb: verb}, nil
	case "PUB":
		return readPub(r, rest)
	case "DEADLETTER":
		return readDeadLetter(rest)
	case "SHADOWGET":
		if strings.ContainsAny(rest, " /+#") {
			return Request{}, fmt.Errorf("%w: SHADOWGET takes one shadow name", ErrProtocol)
		}
		return Request{Verb: verb, Topic: rest}, nil
	case "":
		return Request{}, fmt.Errorf("%w: empty request line", ErrProtocol)
	default:
		return Request{}, fmt.Errorf("%w: unknown request %q (want PUB, STATUS, DEADLETTER or SHADOWGET)", ErrProtocol, truncate(verb))
	}
}

func readPub(r *bufio.Reader, args string) (Request, error) {
	qs, rest, ok1 := strings.Cut(args, " ")
	ns, topic, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 {
		return Request{}, fmt.Errorf("%w: want \"PUB <qos> <length> <topic>\"", ErrProtocol)
	}
	qos, err1 := strconv.Atoi(qs)
	n, err2 := strconv.Atoi(ns)
	if err1 != nil || err2 != nil || n < 0 || qos < 0 || qos > 9 {
		return Request{}, fmt.Errorf("%w: bad qos %q or length %q", ErrProtocol, truncate(qs), truncate(ns))
	}
	if n > maxPayload {
		return Request{}, fmt.Errorf("%w: payload length %d is over the wire limit %d", ErrProtocol, n, maxPayload)
	}
	payload, err := readPayload(r, n)
	if err != nil {
		return Request{}, fmt.Errorf("%w: payload cut short: %w", ErrProtocol, err)
	}
	return Request{Verb: "PUB", QoS: qos, Topic: topic, Payload: payload}, nil
}

// payloadChunk is the first allocation for a payload; the buffer doubles as bytes
// arrive, so a client that declares a large payload and sends nothing costs little.
const payloadChunk = 16 << 10

func readPayload(r io.Reader, n int) ([]byte, error) {
	buf := make([]byte, 0, min(n, payloadChunk))
	for len(buf) < n {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(n-len(buf), cap(buf)))
		}
		m, err := io.ReadFull(r, buf[len(buf):min(cap(buf), n)])
		buf = buf[:len(buf)+m]
		if err != nil {
			return nil, err
		}
	}
	return buf, nil
}

// readLine reads up to '\n' without letting a client grow the line without bound.
func readLine(r *bufio.Reader) (string, error) {
	chunk, err := r.ReadSlice('\n')
	if err == nil && len(chunk) <= maxLine {
		return trimEOL(chunk), nil // the whole line was buffered: no copy but the string
	}
	buf := append([]byte(nil), chunk...)
	for {
		if len(buf) > maxLine {
			return "", fmt.Errorf("%w: request line longer than %d bytes", ErrProtocol, maxLine)
		}
		switch {
		case err == nil:
			return trimEOL(buf), nil
		case errors.Is(err, bufio.ErrBufferFull):
			chunk, err = r.ReadSlice('\n')
			buf = append(buf, chunk...)
		case errors.Is(err, io.EOF) && len(buf) > 0:
			return "", fmt.Errorf("%w: request line cut short", ErrProtocol)
		default:
			return "", err
		}
	}
}

func trimEOL(line []byte) string {
	return string(bytes.TrimSuffix(line[:len(line)-1], []byte("\r")))
}

// WriteRequest is the client side of ReadRequest.
func WriteRequest(w *bufio.Writer, req Request) error {
	switch req.Verb {
	case "STATUS":
		_, err := w.WriteString("STATUS\n")
		return err
	case "SHADOWGET":
		_, err := fmt.Fprintf(w, "SHADOWGET %s\n", req.Topic)
		return err
	case "PUB":
		if strings.ContainsAny(req.Topic, "\n\r") {
			return fmt.Errorf("topic %q contains a line break", req.Topic)
		}
		fmt.Fprintf(w, "PUB %d %d %s\n", req.QoS, len(req.Payload), req.Topic)
		_, err := w.Write(req.Payload)
		return err
	}
	return fmt.Errorf("unknown request %q", req.Verb)
}

// Response is the answer to one request, in request order: "OK[ <text>]" or "ERR <reason>".
type Response struct {
	OK   bool
	Text string // the reason for ERR; the JSON document for STATUS
}

func writeResponse(w *bufio.Writer, resp Response) error {
	if resp.OK && resp.Text == "" {
		_, err := w.WriteString("OK\n") // the hot path of a publish stream
		return err
	}
	text := human.OneLine(resp.Text) // a reason stays on its response line
	switch {
	case !resp.OK:
		_, err := fmt.Fprintf(w, "ERR %s\n", text)
		return err
	case text == "":
		_, err := w.WriteString("OK\n")
		return err
	default:
		_, err := fmt.Fprintf(w, "OK %s\n", text)
		return err
	}
}

// ReadResponse reads one response line.
func ReadResponse(r *bufio.Reader) (Response, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		if errors.Is(err, io.EOF) {
			return Response{}, fmt.Errorf("thingd closed the connection: %w", io.ErrUnexpectedEOF)
		}
		return Response{}, err
	}
	line = strings.TrimSuffix(line, "\n")
	switch {
	case line == "OK":
		return Response{OK: true}, nil
	case strings.HasPrefix(line, "OK "):
		return Response{OK: true, Text: line[3:]}, nil
	case strings.HasPrefix(line, "ERR "):
		return Response{Text: line[4:]}, nil
	}
	return Response{}, fmt.Errorf("unexpected response %q", truncate(line))
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
