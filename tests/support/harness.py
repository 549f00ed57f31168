"""Shared harness of the Python integration tests: child processes that never outlive the test
run, a small HTTP client, SSE framing checks, Prometheus text helpers and the OpenAI error shape.
Standard library only.

HEARTH_SANITIZED=1 (set by ctest for the ASan+UBSan binaries) multiplies every timeout by SCALE.
"""

import atexit
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

HOST = "127.0.0.1"
SANITIZED = os.environ.get("HEARTH_SANITIZED", "") == "1"
# Sanitized binaries run ~3-10x slower; every timeout below is multiplied by this.
SCALE = 8 if SANITIZED else 1


_LIVE_PROCESSES = set()


_LIVE_LOCK = threading.Lock()


@atexit.register
def _kill_leftovers():
    with _LIVE_LOCK:
        leftovers = list(_LIVE_PROCESSES)
    for process in leftovers:
        process.stop()


class ManagedProcess:
    """A child process whose merged stdout/stderr is drained by a thread and kept for messages.

    stop() sends SIGTERM, then SIGKILL after a grace period; it is safe to call twice.
    """

    # `hearth worker` and `hearth serve` print this once their port is open.
    PORT_RE = re.compile(r"(?:worker|gateway) listening on http://127\.0\.0\.1:(\d+)")
    MAX_LINES = 4000

    def __init__(self, argv, label, env=None):
        self.label = label
        self.argv = argv
        self.lines = []
        self.port = None
        self._lock = threading.Lock()
        self._port_seen = threading.Event()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     env=None if env is None else dict(os.environ, **env))
        with _LIVE_LOCK:
            _LIVE_PROCESSES.add(self)
        self._reader = threading.Thread(target=self._drain, name="drain-" + label, daemon=True)
        self._reader.start()

    def _drain(self):
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._lock:
                self.lines.append(line)
                if len(self.lines) > self.MAX_LINES:
                    del self.lines[: len(self.lines) - self.MAX_LINES]
            if self.port is None:
                match = self.PORT_RE.search(line)
                if match:
                    self.port = int(match.group(1))
                    self._port_seen.set()
        self._port_seen.set()  # EOF: the process is gone; wake any waiter

    def log_tail(self, count=40):
        with self._lock:
            return "\n".join(self.lines[-count:])

    def log_text(self):
        with self._lock:
            return "\n".join(self.lines)

    def alive(self):
        return self.proc.poll() is None

    def wait_for_port(self, timeout):
        self._port_seen.wait(timeout)
        if self.port is None:
            raise RuntimeError("%s printed no 'worker listening on' line within %.0fs "
                               "(exit status %s); log:\n%s"
                               % (self.label, timeout, self.proc.poll(), self.log_tail()))
        return self.port

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout=15 * SCALE)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
            except ProcessLookupError:
                pass
        self._reader.join(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        with _LIVE_LOCK:
            _LIVE_PROCESSES.discard(self)
        return self.proc.returncode


def children_of(pid):
    """Pids of the live (non-zombie) processes whose parent is `pid`, with their command lines."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            if int(fields[1]) != pid or fields[0] == "Z":
                continue
            with open("/proc/%s/cmdline" % entry, "rb") as cmdline:
                found[int(entry)] = cmdline.read().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
    return found


def wait_until(predicate, timeout, message):
    """Polls `predicate` until it returns something true (returned), for timeout * SCALE s."""
    deadline = time.monotonic() + timeout * SCALE
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(message)


def start_gateway(hearth_bin, config_path, *extra, env=None):
    """`hearth serve --config FILE` on a free loopback port, once /healthz answers; `env` adds
    environment variables (provider keys). Returns (process, port)."""
    process = ManagedProcess([hearth_bin, "serve", "--config", config_path, "--listen",
                              HOST + ":0", *extra], "hearth serve", env=env)
    try:
        port = process.wait_for_port(30 * SCALE)
        wait_until(lambda: http_request(port, "GET", "/healthz").status == 200, 30,
                   "gateway /healthz never answered 200")
    except BaseException:
        process.stop()
        raise
    return process, port


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def wait_until_healthy(process, port, timeout, ready_body=None, loading_body=None):
    """Polls /health until 200; every other answer must be a 503 (still loading)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if not process.alive():
            raise RuntimeError("%s exited with status %s while starting; log:\n%s"
                               % (process.label, process.proc.returncode, process.log_tail()))
        try:
            reply = http_request(port, "GET", "/health", timeout=5)
        except OSError as error:
            last = repr(error)
            time.sleep(0.05)
            continue
        last = "%d %r" % (reply.status, reply.body[:200])
        if reply.status == 200:
            if ready_body is not None and reply.json() != ready_body:
                raise AssertionError("/health 200 body %r, expected %r" % (reply.body, ready_body))
            return
        if reply.status != 503:
            raise AssertionError("/health answered %s while loading" % last)
        if loading_body is not None and reply.json() != loading_body:
            raise AssertionError("/health 503 body %r, expected %r" % (reply.body, loading_body))
        time.sleep(0.05)
    raise RuntimeError("%s not healthy within %.0fs (last /health: %s); log:\n%s"
                       % (process.label, timeout, last, process.log_tail()))


SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "SUMMARY: UndefinedBehaviorSanitizer", "SUMMARY: AddressSanitizer")


def stop_and_check(process):
    """Stops a worker; raises if it died on its own, exited uncleanly or a sanitizer spoke."""
    was_alive = process.alive()
    status = process.stop()
    log = process.log_text()
    problems = []
    if not was_alive:
        problems.append("it had already exited (status %s) before the tests finished" % status)
    elif status != 0:
        problems.append("it exited with status %s after SIGTERM" % status)
    for marker in SANITIZER_MARKERS:
        if marker in log:
            problems.append("its log contains %r" % marker)
    if problems:
        raise AssertionError("%s: %s; log tail:\n%s"
                             % (process.label, "; ".join(problems), process.log_tail(80)))


class Reply:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-cased names
        self.body = body

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "Reply(%d, %r)" % (self.status, self.body[:600])


def encode_body(body):
    if body is None or isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    return json.dumps(body).encode("utf-8")


def http_request(port, method, path, body=None, headers=None, timeout=60):
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout * SCALE)
    try:
        all_headers = {}
        data = encode_body(body)
        if data is not None:
            all_headers["Content-Type"] = "application/json"
        all_headers.update(headers or {})
        connection.request(method, path, body=data, headers=all_headers)
        response = connection.getresponse()
        payload = response.read()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, payload)
    finally:
        connection.close()


def post(port, path, body, timeout=60):
    return http_request(port, "POST", path, body, timeout=timeout)


def raw_exchange(port, data, timeout=20):
    """Sends raw bytes and reads until the server closes; returns what came back."""
    with socket.create_connection((HOST, port), timeout=timeout * SCALE) as sock:
        try:
            sock.sendall(data)
        except OSError:
            pass  # the server may answer and close before it has read everything
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def raw_post(path, body, extra_headers=""):
    data = encode_body(body)
    head = ("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
            "Content-Length: %d\r\n%s\r\n" % (path, HOST, len(data), extra_headers))
    return head.encode("ascii") + data


def open_stream(port, path, body, frames=1, timeout=30):
    """Starts a streaming request on a raw socket and returns it once `frames` SSE data frames
    (or, with frames=0, nothing at all) have arrived. The caller closes it."""
    sock = socket.create_connection((HOST, port), timeout=timeout * SCALE)
    try:
        sock.sendall(raw_post(path, body))
        received = b""
        deadline = time.monotonic() + timeout * SCALE
        while received.count(b"data: ") < frames:
            if time.monotonic() > deadline:
                raise AssertionError("no %d SSE frames within %ss; got %r"
                                     % (frames, timeout * SCALE, received[:500]))
            chunk = sock.recv(65536)
            if not chunk:
                raise AssertionError("server closed the stream early: %r" % received[:500])
            received += chunk
        if frames:
            head = received.split(b"\r\n", 1)[0]
            if b" 200 " not in head + b" ":
                raise AssertionError("stream did not start with 200: %r" % received[:300])
        return sock
    except BaseException:
        sock.close()
        raise


BUSY_COMMENT = re.compile(r": hearth-busy-ms (\d+\.\d{3})")


def stream_busy_ms(reply):
    """The worker's busy time from a stream's `: hearth-busy-ms N` comment; None without one."""
    found = BUSY_COMMENT.findall(reply.body.decode("utf-8"))
    return float(found[-1]) if found else None


def parse_sse(test, reply, busy_comment=False):
    """Checks SSE framing strictly and returns the JSON payloads (without the final [DONE]).
    busy_comment: a hearth worker's stream, which has one `: hearth-busy-ms N` comment just
    before [DONE] (anything else must have no comment at all)."""
    test.assertEqual(reply.status, 200, reply)
    test.assertTrue(reply.headers.get("content-type", "").startswith("text/event-stream"),
                    reply.headers)
    text = reply.body.decode("utf-8")
    test.assertTrue(text.endswith("\n\n"), "stream does not end with a blank line: %r"
                    % text[-200:])
    frames = text[:-2].split("\n\n")
    if busy_comment:
        test.assertGreaterEqual(len(frames), 2, text[-200:])
        test.assertRegex(frames[-2], "^%s$" % BUSY_COMMENT.pattern,
                         "no busy-time comment before [DONE]: %r" % text[-200:])
        del frames[-2]
    for frame in frames:
        test.assertTrue(frame.startswith("data: "), "frame is not 'data: ...': %r" % frame[:200])
        test.assertNotIn("\n", frame, "frame spans several lines: %r" % frame[:200])
    test.assertEqual(frames[-1], "data: [DONE]", "stream does not end with data: [DONE]")
    test.assertNotIn("data: [DONE]", frames[:-1], "[DONE] before the end of the stream")
    payloads = []
    for frame in frames[:-1]:
        payload = json.loads(frame[len("data: "):])
        test.assertNotIn("error", payload, "error event in stream: %r" % frame[:400])
        payloads.append(payload)
    return payloads


def metrics(port):
    reply = http_request(port, "GET", "/metrics")
    if reply.status != 200:
        raise AssertionError("/metrics: %r" % reply)
    return reply.body.decode("utf-8")


def metric_value(text, name, labels=None):
    """Sum of the series of `name` that carry every label in `labels` (a dict; None: any
    series); None when no such series exists."""
    total = None
    pattern = re.compile(r"^%s(\{[^}]*\})?\s+(\S+)$" % re.escape(name))
    wanted = ['%s="%s"' % (key, value) for key, value in (labels or {}).items()]
    for line in text.splitlines():
        match = pattern.match(line)
        if match and all(item in (match.group(1) or "") for item in wanted):
            total = (total or 0.0) + float(match.group(2))
    return total


def wait_for_metric(port, name, predicate, timeout):
    deadline = time.monotonic() + timeout * SCALE
    value = None
    while time.monotonic() < deadline:
        value = metric_value(metrics(port), name)
        if value is not None and predicate(value):
            return value
        time.sleep(0.05)
    raise AssertionError("metric %s never satisfied the condition (last value %r)" % (name, value))


MISSING = object()


def assert_error(test, reply, status, code=MISSING, param=MISSING):
    """The OpenAI error shape {"error": {"message", "type", "param", "code"}} with `status`."""
    test.assertEqual(reply.status, status, reply)
    test.assertTrue(reply.headers.get("content-type", "").startswith("application/json"),
                    reply.headers)
    document = reply.json()
    test.assertEqual(list(document), ["error"], document)
    error = document["error"]
    test.assertEqual(set(error), {"message", "type", "param", "code"}, error)
    test.assertIsInstance(error["message"], str)
    test.assertTrue(error["message"], error)
    test.assertIsInstance(error["type"], str)
    test.assertTrue(error["type"], error)
    test.assertTrue(error["param"] is None or isinstance(error["param"], str), error)
    test.assertTrue(error["code"] is None or isinstance(error["code"], str), error)
    if status < 500:
        test.assertEqual(error["type"], "invalid_request_error", error)
    if code is not MISSING:
        test.assertEqual(error["code"], code, error)
    if param is not MISSING:
        test.assertEqual(error["param"], param, error)
    return error
