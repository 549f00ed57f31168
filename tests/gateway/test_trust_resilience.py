#!/usr/bin/env python3
"""Resilience of the gateway's trust side (issue 6): crash safety of the usage ledger and the
audit log under `kill -9`, abusive clients (slowloris, oversize headers, connection floods), TLS on
the listener (refusals, certificate reload, client certificates for /admin), the default listening
posture, and ledger back-pressure while the store is locked. Each test starts its own `hearth
serve` with its own SQLite ledger in a temporary directory; everything listens on 127.0.0.1 (the
posture test binds 0.0.0.0 on purpose and connects only to local addresses).

Environment (set by ctest): HEARTH_BIN, HEARTH_STORIES_MODEL, HEARTH_SANITIZED. By hand:
  HEARTH_BIN=build/bin/hearth HEARTH_SANITIZED=0 \
  HEARTH_STORIES_MODEL=../shared/models/stories260K.gguf \
  python3 -u tests/gateway/test_trust_resilience.py -v
"""

import hashlib
import http.client
import json
import os
import re
import select
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from harness import (HOST, SCALE, ManagedProcess, Reply, encode_body,  # noqa: E402
                     metric_value, stop_and_check, wait_until)
import fake_cloud  # noqa: E402
from fake_cloud import make_test_ca  # noqa: E402

HEARTH_BIN = os.environ.get("HEARTH_BIN", "")
STORIES = os.path.abspath(os.environ.get("HEARTH_STORIES_MODEL", "")) \
    if os.environ.get("HEARTH_STORIES_MODEL") else ""

FLUSH_INTERVAL = 0.1  # ledger.flush_interval of the crash test, seconds
GENESIS_HASH = "0" * 64


def setUpModule():
    missing = [name for name, value in (("HEARTH_BIN", HEARTH_BIN),
                                        ("HEARTH_STORIES_MODEL", STORIES)) if not value]
    if missing:
        raise RuntimeError("test_trust_resilience.py needs %s (see its header)"
                           % ", ".join(missing))
    absent = [path for path in (HEARTH_BIN, STORIES) if not os.path.isfile(path)]
    if absent:
        raise RuntimeError("missing files: %s" % ", ".join(absent))


# ---------------------------------------------------------------------------------------------
# Gateway processes and requests (plain or TLS)
# ---------------------------------------------------------------------------------------------


class GatewayProcess(ManagedProcess):
    # The harness's pattern knows only http:// on 127.0.0.1; the gateway also says https:// and,
    # when told to listen beyond loopback, 0.0.0.0.
    PORT_RE = re.compile(r"gateway listening on https?://(?:127\.0\.0\.1|0\.0\.0\.0):(\d+)")


def write_config(directory, text, name="hearth.yaml", server=None):
    """Writes the YAML `text` (dedented; {dir} and {stories} filled in, and {server} with the
    `server` settings indented under it) into `directory`."""
    server_block = textwrap.indent(textwrap.dedent(server or "").strip(), "  ")
    path = os.path.join(directory, name)
    with open(path, "w") as config:
        config.write(textwrap.dedent(text).format(dir=directory, stories=STORIES,
                                                  server=server_block))
    return path


def request(port, method, path, body=None, headers=None, context=None, timeout=30,
            connection=None):
    """One request on a new connection (or on `connection`, left open); HTTPS with `context`."""
    own = connection is None
    if own:
        connection = (http.client.HTTPSConnection(HOST, port, timeout=timeout * SCALE,
                                                  context=context)
                      if context is not None else
                      http.client.HTTPConnection(HOST, port, timeout=timeout * SCALE))
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
        if own:
            connection.close()


def bearer(key):
    return {"Authorization": "Bearer " + key}


def start(config_path, *extra, context=None):
    """`hearth serve --config FILE [extra]`, once /healthz answers 200. Returns (process, port)."""
    process = GatewayProcess([HEARTH_BIN, "serve", "--config", config_path, *extra],
                             "hearth serve")
    try:
        port = process.wait_for_port(30 * SCALE)

        def healthy():
            try:
                return request(port, "GET", "/healthz", context=context, timeout=5).status == 200
            except OSError:
                return False
        wait_until(healthy, 30, "gateway /healthz never answered 200; log:\n%s"
                   % process.log_tail())
    except BaseException:
        process.stop()
        raise
    return process, port


def metrics_text(port, context=None):
    reply = request(port, "GET", "/metrics", context=context)
    if reply.status != 200:
        raise AssertionError("/metrics: %r" % reply)
    return reply.body.decode("utf-8")


def metric(port, name, labels=None, context=None):
    return metric_value(metrics_text(port, context), name, labels) or 0.0


def wait_for(port, name, predicate, timeout, labels=None, context=None):
    last = []

    def check():
        last[:] = [metric(port, name, labels, context)]
        return predicate(last[0])
    try:
        wait_until(check, timeout, "")
    except AssertionError:
        raise AssertionError("metric %s never satisfied the condition (last value %r)"
                             % (name, last[0] if last else None)) from None
    return last[0]


def error_of(test, reply, status, code, error_type=None):
    """The OpenAI error shape with `status` and `code` (and `type` when given)."""
    test.assertEqual(reply.status, status, reply)
    error = reply.json()["error"]
    test.assertEqual(set(error), {"message", "type", "param", "code"}, error)
    test.assertEqual(error["code"], code, error)
    if error_type is not None:
        test.assertEqual(error["type"], error_type, error)
    return error


def parse_raw_response(data):
    """A Reply from the raw bytes of one HTTP/1.1 response with a Content-Length body."""
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", len(rest)))
    return Reply(status, headers, rest[:length])


def create_key(test, port, tenant, name, scopes, headers=None, context=None):
    reply = request(port, "POST", "/admin/keys",
                    {"tenant": tenant, "name": name, "scopes": scopes}, headers=headers,
                    context=context)
    test.assertEqual(reply.status, 201, reply)
    return reply.json()


# ---------------------------------------------------------------------------------------------
# The ledger and the audit chain, read from Python
# ---------------------------------------------------------------------------------------------


def open_ledger(path):
    return sqlite3.connect(path, timeout=10 * SCALE)


def usage_request_ids(path):
    with open_ledger(path) as db:
        return [row[0] for row in db.execute("SELECT request_id FROM usage")]


def audit_record_hash(previous_hash, sequence, time_us, kind, actor, detail):
    """src/audit/chain.cpp record_hash: length-prefixed fields after a version line."""
    encoded = b"hearth-audit-v1\n"
    for field in (previous_hash, str(sequence), str(time_us), kind, actor, detail):
        data = field.encode("utf-8")
        encoded += str(len(data)).encode("ascii") + b":" + data
    return hashlib.sha256(encoded).hexdigest()


def verify_audit_chain(test, ledger_path, config_path):
    """Checks the hash chain in Python (records contiguous from 1, each linked to the one before
    and hashing to its stored hash, anchors agreeing) and with `hearth audit verify` when the CLI
    has it. Returns the records as dicts."""
    with open_ledger(ledger_path) as db:
        rows = db.execute("SELECT sequence, time_us, kind, actor, detail, previous_hash, hash "
                          "FROM audit_log ORDER BY sequence").fetchall()
        anchors = dict(db.execute("SELECT sequence, hash FROM audit_anchors").fetchall())
    previous = GENESIS_HASH
    for index, (sequence, time_us, kind, actor, detail, previous_hash, stored) in enumerate(rows):
        test.assertEqual(sequence, index + 1, "audit records are not contiguous from 1")
        test.assertEqual(previous_hash, previous, "audit record %d does not follow the one "
                         "before it" % sequence)
        test.assertEqual(audit_record_hash(previous_hash, sequence, time_us, kind, actor, detail),
                         stored, "audit record %d does not hash to its stored hash" % sequence)
        if sequence in anchors:
            test.assertEqual(anchors[sequence], stored, "anchor %d differs" % sequence)
        json.loads(detail)  # always a JSON object
        previous = stored
    test.assertTrue(all(sequence <= len(rows) for sequence in anchors),
                    "an anchor is newer than the last record: %r" % sorted(anchors))
    cli = subprocess.run([HEARTH_BIN, "audit", "verify", "--help"], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, timeout=30 * SCALE)
    if cli.returncode == 0:
        verified = subprocess.run([HEARTH_BIN, "audit", "verify", "--config", config_path,
                                   "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  timeout=60 * SCALE)
        test.assertEqual(verified.returncode, 0, "hearth audit verify: %r %r"
                         % (verified.stdout, verified.stderr))
        document = json.loads(verified.stdout)
        test.assertTrue(document["ok"], document)
        test.assertEqual(document["records_checked"], len(rows), document)
    else:
        print("\n  note: `hearth audit verify` is not available; the chain was verified in "
              "Python only", file=sys.stderr)
    return [dict(zip(("sequence", "time_us", "kind", "actor", "detail"), row[:5]))
            for row in rows]


# ---------------------------------------------------------------------------------------------
# Certificates (openssl, through the fake cloud's helpers)
# ---------------------------------------------------------------------------------------------


def issue_certificate(directory, name, common_name, ca_dir, usage):
    """A certificate for `common_name` signed by the CA that make_test_ca wrote into `ca_dir`:
    NAME.pem and NAME.key in `directory`. `usage`: "server" (for 127.0.0.1) or "client"."""
    cert = os.path.join(directory, name + ".pem")
    key = os.path.join(directory, name + ".key")
    config = os.path.join(directory, name + ".cnf")
    csr = os.path.join(directory, name + ".csr")
    if usage == "server":
        extensions = fake_cloud._server_extensions("DNS:localhost,IP:127.0.0.1")
    else:
        extensions = ["basicConstraints = critical,CA:FALSE",
                      "keyUsage = critical,digitalSignature", "extendedKeyUsage = clientAuth",
                      "subjectKeyIdentifier = hash"]
    fake_cloud._write_config(config, common_name,
                             extensions + ["authorityKeyIdentifier = keyid:always"])
    try:
        fake_cloud._openssl(directory, "req", "-new", "-config", config, *fake_cloud._EC_KEY,
                            "-keyout", key, "-out", csr)
        fake_cloud._openssl(directory, "x509", "-req", "-in", csr,
                            "-CA", os.path.join(ca_dir, "ca.pem"),
                            "-CAkey", os.path.join(ca_dir, "ca.key"),
                            "-set_serial", "0x%x" % int.from_bytes(os.urandom(8), "big"),
                            "-days", "30", "-sha256", "-extfile", config, "-extensions", "ext",
                            "-out", cert)
    finally:
        for leftover in (config, csr):
            if os.path.exists(leftover):
                os.unlink(leftover)
    return cert, key


def der_of(pem_path):
    with open(pem_path) as pem:
        return ssl.PEM_cert_to_DER_cert(pem.read())


def client_context(ca_cert, certificate=None):
    context = ssl.create_default_context(cafile=ca_cert)
    if certificate is not None:
        context.load_cert_chain(*certificate)
    return context


def peer_certificate(port, context):
    """The DER certificate the gateway presents to a new connection."""
    with socket.create_connection((HOST, port), timeout=10 * SCALE) as raw:
        with context.wrap_socket(raw, server_hostname=HOST) as tls:
            return tls.getpeercert(binary_form=True)


def replace_file(source, target):
    """Atomically, as a certificate renewal tool would."""
    temporary = target + ".new"
    shutil.copyfile(source, temporary)
    os.replace(temporary, target)


# ---------------------------------------------------------------------------------------------
# Addresses
# ---------------------------------------------------------------------------------------------


def non_loopback_ipv4():
    """A local IPv4 address outside 127/8 (from the kernel's local routing table), or None."""
    try:
        with open("/proc/net/fib_trie") as trie:
            lines = trie.read().splitlines()
    except OSError:
        return None
    for previous, line in zip(lines, lines[1:]):
        match = re.match(r"\s*\|-- (\d+\.\d+\.\d+\.\d+)$", previous)
        if match and line.strip() == "/32 host LOCAL" and not match.group(1).startswith("127."):
            return match.group(1)
    return None


def listening_addresses(port):
    """The local addresses (hex, as /proc/net/tcp{,6} print them) listening on `port`."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as entries:
                rows = entries.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            address, _, hex_port = fields[1].partition(":")
            if fields[3] == "0A" and int(hex_port, 16) == port:
                found.append(address)
    return found


def live_group_members(group):
    """Pids of the live (non-zombie) processes in process group `group`."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            members.append(int(entry))
    return members


# ---------------------------------------------------------------------------------------------
# 1. Crash safety
# ---------------------------------------------------------------------------------------------


class CrashSafetyTest(unittest.TestCase):
    THREADS = 64
    LOAD_SECONDS = 3.0

    def setUp(self):
        self.directory = tempfile.TemporaryDirectory(prefix="hearth-crash-test-")
        self.addCleanup(self.directory.cleanup)
        self.ledger = os.path.join(self.directory.name, "ledger.db")
        self.config = write_config(self.directory.name, """
            server:
              access_log: false
              max_connections: 512
            ledger:
              path: {dir}/ledger.db
              flush_interval: 100ms
            models:
              - name: stories
                path: {stories}
                context: 1024
                parallel: 4
                threads: 1
            """)

    def test_kill_9_under_load_loses_no_answered_request(self):
        gateway, port = start(self.config, "--listen", HOST + ":0")
        self.addCleanup(gateway.stop)
        admin = create_key(self, port, "crash", "admin", ["admin"])["key"]
        auth = bearer(admin)
        chat = {"model": "stories", "messages": [{"role": "user", "content": "Once upon"}],
                "max_tokens": 2, "temperature": 0}
        warm = request(port, "POST", "/v1/chat/completions", chat, headers=auth, timeout=60)
        self.assertEqual(warm.status, 200, warm)

        stop = threading.Event()
        lock = threading.Lock()
        answered = []  # (request id, monotonic time its whole response had arrived, status)
        keys_created = []  # (key id, monotonic time of its 201)

        def client(index):
            connection = None
            serial = 0
            while not stop.is_set():
                serial += 1
                request_id = "crash-%02d-%05d" % (index, serial)
                try:
                    if connection is None:
                        connection = http.client.HTTPConnection(HOST, port, timeout=60 * SCALE)
                    reply = request(port, "POST", "/v1/chat/completions", chat,
                                    headers=dict(auth, **{"x-request-id": request_id}),
                                    connection=connection)
                    arrived = time.monotonic()
                except (OSError, http.client.HTTPException):
                    if connection is not None:
                        connection.close()
                    connection = None
                    if stop.is_set():
                        break
                    time.sleep(0.01)
                    continue
                with lock:
                    answered.append((request_id, arrived, reply.status))
            if connection is not None:
                connection.close()

        def key_maker():
            serial = 0
            while not stop.is_set():
                serial += 1
                try:
                    reply = request(port, "POST", "/admin/keys",
                                    {"tenant": "crash", "name": "k%d" % serial, "scopes": []},
                                    headers=auth, timeout=30)
                except (OSError, http.client.HTTPException):
                    break
                if reply.status == 201:
                    with lock:
                        keys_created.append((reply.json()["id"], time.monotonic()))
                stop.wait(0.15)

        threads = [threading.Thread(target=client, args=(index,), daemon=True)
                   for index in range(self.THREADS)]
        threads.append(threading.Thread(target=key_maker, daemon=True))
        for thread in threads:
            thread.start()
        time.sleep(self.LOAD_SECONDS)
        kill_time = time.monotonic()
        # The whole process group: the gateway (a session leader) and its workers.
        os.killpg(gateway.proc.pid, signal.SIGKILL)
        stop.set()
        gateway.proc.wait(timeout=30)
        for thread in threads:
            thread.join(timeout=30 * SCALE)
            self.assertFalse(thread.is_alive(), "a client thread hung after the kill")
        self.assertEqual(gateway.proc.returncode, -signal.SIGKILL)
        wait_until(lambda: not live_group_members(gateway.proc.pid), 10,
                   "processes of the gateway's group (its workers) survived the kill")

        with open_ledger(self.ledger) as db:
            self.assertEqual(db.execute("PRAGMA integrity_check").fetchall(), [("ok",)])
        recorded = usage_request_ids(self.ledger)
        ours = [rid for rid in recorded if rid.startswith("crash-")]
        self.assertEqual(len(ours), len(set(ours)), "a request has several usage records")
        # A response the client had whole this long before the kill had been committed: its
        # record was queued as it was sent, and the writer commits within a flush interval (the
        # margin of two more is doubled for the slower sanitized build).
        settle = FLUSH_INTERVAL + 2 * FLUSH_INTERVAL * (2 if SCALE > 1 else 1)
        cutoff = kill_time - settle
        with lock:
            due = [(rid, status) for rid, arrived, status in answered if arrived < cutoff]
            late = [rid for rid, arrived, _ in answered if arrived >= cutoff]
            keys_due = [key for key, created in keys_created if created < cutoff]
        self.assertGreaterEqual(len(due), 20, "too few requests answered before the kill to "
                                "tell anything (%d)" % len(due))
        self.assertEqual({status for _, status in due}, {200},
                         "requests under load were not all answered 200")
        missing = sorted(set(rid for rid, _ in due) - set(recorded))
        self.assertEqual(missing, [], "%d of %d requests answered more than %.2fs before the "
                         "kill have no usage record" % (len(missing), len(due), settle))
        print("\n  crash: %d answered before the cutoff (all recorded), %d in the last %.2fs "
              "(%d of those recorded), %d keys created" %
              (len(due), len(late), settle, len(set(late) & set(recorded)),
               len(keys_created)), file=sys.stderr)

        records = verify_audit_chain(self, self.ledger, self.config)
        audited = {json.loads(record["detail"]).get("id") for record in records
                   if record["kind"] == "key.created"}
        self.assertGreaterEqual(len(keys_due), 3, "the key maker created too few keys")
        self.assertEqual(sorted(set(keys_due) - audited), [],
                         "keys created before the kill have no key.created audit record")

        # The same ledger opens again: the key still works and the chain goes on.
        gateway.stop()
        again, port = start(self.config, "--listen", HOST + ":0")
        self.addCleanup(again.stop)
        self.assertEqual(request(port, "GET", "/v1/models", headers=auth).status, 200)
        self.assertEqual(request(port, "GET", "/v1/models").status, 401)
        create_key(self, port, "crash", "after-restart", [], headers=auth)
        stop_and_check(again)
        after = verify_audit_chain(self, self.ledger, self.config)
        self.assertEqual(after[-1]["kind"], "key.created")
        self.assertEqual(json.loads(after[-1]["detail"])["name"], "after-restart")
        self.assertEqual(len(after), len(records) + 1)


# ---------------------------------------------------------------------------------------------
# 2. Abusive clients
# ---------------------------------------------------------------------------------------------


class AbuseTest(unittest.TestCase):
    def setUp(self):
        self.directory = tempfile.TemporaryDirectory(prefix="hearth-abuse-test-")
        self.addCleanup(self.directory.cleanup)

    def gateway(self, server_settings):
        config = write_config(self.directory.name, """
            server:
            {server}
            ledger:
              path: {dir}/ledger.db
            models:
              - name: stories
                path: {stories}
                context: 512
                threads: 1
            """, server=server_settings)
        gateway, port = start(config, "--listen", HOST + ":0")
        self.addCleanup(gateway.stop)
        return gateway, port

    def test_slowloris_is_dropped_while_others_are_served(self):
        gateway, port = self.gateway("""
            header_timeout: 2s
            max_header_bytes: 4096
            """)
        served = []  # (status, seconds)
        stop = threading.Event()

        def steady_client():
            while not stop.is_set():
                began = time.monotonic()
                try:
                    status = request(port, "GET", "/v1/models", timeout=10).status
                except OSError as error:
                    status = repr(error)
                served.append((status, time.monotonic() - began))
                stop.wait(0.1)

        steady = threading.Thread(target=steady_client, daemon=True)
        steady.start()
        try:
            slow = socket.create_connection((HOST, port), timeout=10 * SCALE)
            began = time.monotonic()
            payload = (b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 200)
            received = b""
            closed_after = None
            for byte in payload:
                try:
                    slow.send(bytes([byte]))
                except OSError:
                    closed_after = time.monotonic() - began
                    break
                readable, _, _ = select.select([slow], [], [], 0.5)
                if readable:
                    try:
                        chunk = slow.recv(65536)
                    except OSError:
                        chunk = b""
                    if not chunk:
                        closed_after = time.monotonic() - began
                        break
                    received += chunk
                if time.monotonic() - began > 2 + 4 * SCALE:
                    break
            slow.close()
        finally:
            stop.set()
            steady.join(timeout=30 * SCALE)
        self.assertIsNotNone(closed_after, "the slow connection was still open after %.1fs"
                             % (time.monotonic() - began))
        self.assertGreaterEqual(closed_after, 1.9, "closed before header_timeout")
        self.assertLessEqual(closed_after, 2 + 1.0 * SCALE, "closed long after header_timeout")
        self.assertEqual(received, b"", "the slow client got an answer")
        during = list(served)
        self.assertGreaterEqual(len(during), 5, during)
        self.assertEqual({status for status, _ in during}, {200}, during)
        self.assertLess(max(seconds for _, seconds in during), 2.0 * SCALE, during)

        # Oversize headers: 431 in the OpenAI shape, and the gateway keeps serving.
        head = ("GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: %s\r\n\r\n"
                % ("b" * 8192)).encode("ascii")
        with socket.create_connection((HOST, port), timeout=10 * SCALE) as sock:
            sock.sendall(head)
            raw = b""
            while True:
                try:
                    chunk = sock.recv(65536)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                raw += chunk
        refused = parse_raw_response(raw)
        error_of(self, refused, 431, "request_header_fields_too_large", "invalid_request_error")
        self.assertGreaterEqual(metric(port, "hearth_gateway_protocol_errors_total"), 1)
        self.assertEqual(request(port, "GET", "/v1/models").status, 200)
        self.assertTrue(gateway.alive())
        stop_and_check(gateway)

    def test_connection_flood_is_refused_cleanly_and_recovers(self):
        limit = 20
        gateway, port = self.gateway("""
            max_connections: %d
            header_timeout: 60s
            """ % limit)
        idle = []
        try:
            for _ in range(100):
                idle.append(socket.create_connection((HOST, port), timeout=10 * SCALE))
            refused = {}  # socket -> bytes received before the server closed it

            def all_refusals_arrived():
                readable, _, _ = select.select([s for s in idle if s not in refused], [], [], 0.05)
                for sock in readable:
                    data = b""
                    while True:
                        try:
                            chunk = sock.recv(65536)
                        except OSError:
                            break
                        if not chunk:
                            break
                        data += chunk
                    refused[sock] = data
                return len(refused) >= 100 - limit
            wait_until(all_refusals_arrived, 10, "fewer than %d of 100 connections were refused"
                       % (100 - limit))
            self.assertLessEqual(len(idle) - len(refused), limit)
            for data in refused.values():
                error_of(self, parse_raw_response(data), 503, "too_many_connections")
            # A newcomer beyond the limit: 503 in the OpenAI shape, with Retry-After.
            extra = request(port, "GET", "/v1/models", timeout=10)
            error_of(self, extra, 503, "too_many_connections")
            self.assertEqual(extra.headers.get("retry-after"), "1", extra.headers)
            self.assertTrue(gateway.alive())
        finally:
            for sock in idle:
                sock.close()

        def served():
            try:
                return request(port, "GET", "/v1/models", timeout=5).status == 200
            except OSError:
                return False
        wait_until(served, 10, "requests still refused after the idle connections closed")
        self.assertGreaterEqual(metric(port, "hearth_gateway_connections_rejected_total"),
                                100 - limit + 1)
        stop_and_check(gateway)


# ---------------------------------------------------------------------------------------------
# 3. TLS on the listener
# ---------------------------------------------------------------------------------------------


class TlsTest(unittest.TestCase):
    def setUp(self):
        self.directory = tempfile.TemporaryDirectory(prefix="hearth-tls-test-")
        self.addCleanup(self.directory.cleanup)
        self.ca_dir = os.path.join(self.directory.name, "ca")
        self.ca = make_test_ca(self.ca_dir)

    def test_https_refusals_and_certificate_reload(self):
        first = (self.ca.server_cert, self.ca.server_key)
        renewed = issue_certificate(self.directory.name, "renewed", "hearth-renewed",
                                    self.ca_dir, "server")
        other = issue_certificate(self.directory.name, "other", "hearth-other", self.ca_dir,
                                  "server")
        live_cert = os.path.join(self.directory.name, "live.pem")
        live_key = os.path.join(self.directory.name, "live.key")
        replace_file(first[0], live_cert)
        replace_file(first[1], live_key)
        config = write_config(self.directory.name, """
            server:
              listen: 127.0.0.1:0
              tls:
                certificate: {dir}/live.pem
                private_key: {dir}/live.key
            ledger:
              path: {dir}/ledger.db
            models:
              - name: stories
                path: {stories}
                context: 512
                threads: 1
            """)
        context = client_context(self.ca.ca_cert)
        gateway, port = start(config, context=context)
        self.addCleanup(gateway.stop)
        self.assertIn("gateway listening on https://127.0.0.1:%d" % port, gateway.log_text())
        self.assertEqual(request(port, "GET", "/v1/models", context=context).status, 200)
        self.assertEqual(peer_certificate(port, context), der_of(first[0]))

        # Plain HTTP on the TLS port: no HTTP answer, the connection ends, the gateway serves on.
        failures = metric(port, "hearth_gateway_tls_handshake_failures_total", context=context)
        with socket.create_connection((HOST, port), timeout=10 * SCALE) as plain:
            plain.sendall(b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            answer = b""
            while True:
                try:
                    chunk = plain.recv(65536)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                answer += chunk
        self.assertNotIn(b"HTTP/", answer)
        failures = wait_for(port, "hearth_gateway_tls_handshake_failures_total",
                            lambda value: value >= failures + 1, 10, context=context)

        # TLS 1.1 is refused in the handshake.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            old.load_verify_locations(self.ca.ca_cert)
            old.minimum_version = ssl.TLSVersion.TLSv1_1
            old.maximum_version = ssl.TLSVersion.TLSv1_1
        old.set_ciphers("DEFAULT:@SECLEVEL=0")
        with self.assertRaises(ssl.SSLError) as refused:
            peer_certificate(port, old)
        self.assertNotIn("NO_PROTOCOLS_AVAILABLE", str(refused.exception),
                         "the client could not even offer TLS 1.1")
        wait_for(port, "hearth_gateway_tls_handshake_failures_total",
                 lambda value: value >= failures + 1, 10, context=context)

        # Renewal: new files, SIGHUP. New connections get the new certificate; a keep-alive
        # connection opened before keeps working on the old one.
        kept = http.client.HTTPSConnection(HOST, port, timeout=30 * SCALE, context=context)
        self.addCleanup(kept.close)
        self.assertEqual(request(port, "GET", "/healthz", connection=kept).status, 200)
        replace_file(renewed[0], live_cert)
        replace_file(renewed[1], live_key)
        gateway.proc.send_signal(signal.SIGHUP)
        wait_for(port, "hearth_gateway_config_reloads_total", lambda value: value >= 1, 10,
                 labels={"result": "ok"}, context=context)
        self.assertEqual(peer_certificate(port, context), der_of(renewed[0]))
        with socket.create_connection((HOST, port), timeout=10 * SCALE) as raw:
            with context.wrap_socket(raw, server_hostname=HOST) as tls:
                subject = dict(item[0] for item in tls.getpeercert()["subject"])
        self.assertEqual(subject["commonName"], "hearth-renewed")
        self.assertEqual(request(port, "GET", "/v1/models", connection=kept).status, 200)
        self.assertEqual(kept.sock.getpeercert(binary_form=True), der_of(first[0]))

        # A key that does not match the certificate: the reload is refused, the old stays.
        replace_file(other[0], live_cert)  # live.key still holds the renewed key
        rejected = request(port, "POST", "/admin/reload", context=context)
        self.assertEqual(rejected.status, 400, rejected)
        self.assertIn("does not match", rejected.json()["error"]["message"])
        self.assertEqual(peer_certificate(port, context), der_of(renewed[0]))
        gateway.proc.send_signal(signal.SIGHUP)
        wait_for(port, "hearth_gateway_config_reloads_total", lambda value: value >= 2, 10,
                 labels={"result": "rejected"}, context=context)
        self.assertRegex(gateway.log_text(), r"reload rejected.*server\.tls.*does not match")
        self.assertEqual(peer_certificate(port, context), der_of(renewed[0]))
        self.assertEqual(request(port, "GET", "/v1/models", context=context).status, 200)
        stop_and_check(gateway)

    def test_admin_endpoints_need_a_client_certificate(self):
        operator = issue_certificate(self.directory.name, "operator", "hearth-operator",
                                     self.ca_dir, "client")
        stranger_dir = os.path.join(self.directory.name, "stranger")
        make_test_ca(stranger_dir)
        stranger = issue_certificate(self.directory.name, "stranger", "hearth-stranger",
                                     stranger_dir, "client")
        config = write_config(self.directory.name, """
            server:
              listen: 127.0.0.1:0
              tls:
                certificate: %s
                private_key: %s
                client_ca: %s
                admin_client_certificate: true
            ledger:
              path: {dir}/ledger.db
            models:
              - name: stories
                path: {stories}
                context: 512
                threads: 1
            """ % (self.ca.server_cert, self.ca.server_key, self.ca.ca_cert))
        anonymous = client_context(self.ca.ca_cert)
        with_cert = client_context(self.ca.ca_cert, operator)
        gateway, port = start(config, context=anonymous)
        self.addCleanup(gateway.stop)
        key_request = {"tenant": "ops", "name": "admin", "scopes": ["admin"]}

        error_of(self, request(port, "POST", "/admin/keys", key_request, context=anonymous),
                 403, "client_certificate_required", "permission_error")
        created = request(port, "POST", "/admin/keys", key_request, context=with_cert)
        self.assertEqual(created.status, 201, created)
        key = created.json()["key"]
        # A key exists now: the certificate alone is not enough, nor the key alone.
        error_of(self, request(port, "GET", "/admin/keys", context=with_cert), 401,
                 "missing_api_key")
        error_of(self, request(port, "GET", "/admin/keys", headers=bearer(key),
                               context=anonymous), 403, "client_certificate_required")
        listed = request(port, "GET", "/admin/keys", headers=bearer(key), context=with_cert)
        self.assertEqual(listed.status, 200, listed)
        self.assertEqual([item["name"] for item in listed.json()["data"]], ["admin"])
        # Public endpoints need no client certificate.
        self.assertEqual(request(port, "GET", "/v1/models", headers=bearer(key),
                                 context=anonymous).status, 200)
        # A certificate from another CA fails the handshake (TLS 1.3 reports it at the first
        # read): no HTTP answer.
        with self.assertRaises((ssl.SSLError, ConnectionResetError, BrokenPipeError,
                                http.client.RemoteDisconnected)):
            request(port, "GET", "/v1/models", headers=bearer(key),
                    context=client_context(self.ca.ca_cert, stranger))
        self.assertEqual(request(port, "GET", "/v1/models", headers=bearer(key),
                                 context=with_cert).status, 200)
        stop_and_check(gateway)


# ---------------------------------------------------------------------------------------------
# 4. The default listening posture
# ---------------------------------------------------------------------------------------------


class PostureTest(unittest.TestCase):
    def setUp(self):
        self.directory = tempfile.TemporaryDirectory(prefix="hearth-posture-test-")
        self.addCleanup(self.directory.cleanup)

    def config(self, server_settings, name="hearth.yaml"):
        return write_config(self.directory.name, """
            server:
            {server}
            ledger:
              path: {dir}/ledger.db
            models:
              - name: stories
                path: {stories}
                context: 512
                threads: 1
            """, name, server=server_settings)

    def test_without_keys_a_public_listen_binds_loopback_only(self):
        config = self.config("""
            listen: 0.0.0.0:0
            """)
        gateway, port = start(config)
        self.addCleanup(gateway.stop)
        log = gateway.log_text()
        self.assertIn("no API key exists: listening on loopback only", log)
        self.assertIn("gateway listening on http://127.0.0.1:%d" % port, log)
        self.assertEqual(listening_addresses(port), ["0100007F"])
        address = non_loopback_ipv4()
        if address is None:
            print("\n  note: no non-loopback IPv4 interface: the connection attempt to it was "
                  "skipped", file=sys.stderr)
        else:
            with self.assertRaises(ConnectionRefusedError, msg="reachable on %s" % address):
                socket.create_connection((address, port), timeout=5 * SCALE).close()
        self.assertEqual(request(port, "GET", "/v1/models").status, 200)
        stop_and_check(gateway)

    def test_keys_without_tls_refuse_a_public_listen(self):
        loopback = self.config("""
            listen: 127.0.0.1:0
            """)
        gateway, port = start(loopback)
        key = create_key(self, port, "ops", "admin", ["admin"])["key"]
        stop_and_check(gateway)

        public = self.config("""
            listen: 0.0.0.0:0
            """, "public.yaml")
        refused = GatewayProcess([HEARTH_BIN, "serve", "--config", public], "hearth serve")
        self.addCleanup(refused.stop)
        try:
            refused.proc.wait(timeout=30 * SCALE)
        except subprocess.TimeoutExpired:
            self.fail("the gateway started on 0.0.0.0 with keys and without TLS; log:\n%s"
                      % refused.log_tail())
        refused.stop()
        self.assertEqual(refused.proc.returncode, 2, refused.log_tail())
        log = refused.log_text()
        self.assertRegex(log, r"error .*without TLS.*server\.tls")
        self.assertNotIn("gateway listening", log)

        insecure = self.config("""
            listen: 0.0.0.0:0
            insecure: true
            """, "insecure.yaml")
        gateway, port = start(insecure)
        self.addCleanup(gateway.stop)
        log = gateway.log_text()
        self.assertIn("INSECURE: listening on 0.0.0.0:0 without TLS", log)
        self.assertIn("gateway listening on http://0.0.0.0:%d" % port, log)
        self.assertEqual(request(port, "GET", "/v1/models", headers=bearer(key)).status, 200)
        error_of(self, request(port, "GET", "/v1/models"), 401, "missing_api_key")
        stop_and_check(gateway)
        # At every start, not once.
        gateway, port = start(insecure)
        self.addCleanup(gateway.stop)
        self.assertIn("INSECURE", gateway.log_text())
        stop_and_check(gateway)


# ---------------------------------------------------------------------------------------------
# 5. Ledger back-pressure
# ---------------------------------------------------------------------------------------------


class BackPressureTest(unittest.TestCase):
    REQUESTS = 30

    def setUp(self):
        self.directory = tempfile.TemporaryDirectory(prefix="hearth-backpressure-test-")
        self.addCleanup(self.directory.cleanup)
        self.ledger = os.path.join(self.directory.name, "ledger.db")
        self.config = write_config(self.directory.name, """
            server:
              max_connections: 256
            ledger:
              path: {dir}/ledger.db
              queue_capacity: 4
              flush_interval: 50ms
            models:
              - name: stories
                path: {stories}
                context: 512
                threads: 1
            """)

    def test_a_locked_store_holds_requests_back_and_loses_nothing(self):
        gateway, port = start(self.config, "--listen", HOST + ":0")
        self.addCleanup(gateway.stop)
        warm = request(port, "GET", "/v1/models", headers={"x-request-id": "bp-warm"})
        self.assertEqual(warm.status, 200, warm)
        wait_until(lambda: "bp-warm" in usage_request_ids(self.ledger), 10,
                   "the ledger never recorded the first request")

        # The writer's BEGIN IMMEDIATE waits (busy timeout), then fails and retries.
        locker = sqlite3.connect(self.ledger, isolation_level=None, timeout=10 * SCALE)
        self.addCleanup(locker.close)
        locker.execute("BEGIN EXCLUSIVE")
        locked = True
        results = {}
        lock = threading.Lock()

        def client(index):
            request_id = "bp-%02d" % index
            try:
                reply = request(port, "GET", "/v1/models",
                                headers={"x-request-id": request_id}, timeout=120)
                outcome = reply.status
            except (OSError, http.client.HTTPException) as error:
                outcome = repr(error)
            with lock:
                results[request_id] = outcome

        threads = [threading.Thread(target=client, args=(index,), daemon=True)
                   for index in range(self.REQUESTS)]
        try:
            for thread in threads:
                thread.start()
            wait_for(port, "hearth_gateway_ledger_backpressure_total", lambda value: value > 0,
                     10)
            # SQLite's busy timeout (10 s in sqlite_store) passes: the batch fails, is put back
            # and retried.
            wait_for(port, "hearth_gateway_ledger_write_failures_total",
                     lambda value: value > 0, 15)
            with lock:
                done_while_locked = dict(results)
            self.assertLess(len(done_while_locked), self.REQUESTS,
                            "no request waited for the locked ledger")
            wait_until(lambda: "ledger queue full" in gateway.log_text(), 10,
                       "no 'ledger queue full' line in the gateway's log")
            self.assertTrue(gateway.alive())
            locker.execute("ROLLBACK")
            locked = False
        finally:
            if locked:
                locker.execute("ROLLBACK")
        for thread in threads:
            thread.join(timeout=60 * SCALE)
            self.assertFalse(thread.is_alive(), "a request never finished after the lock went")
        self.assertEqual(results, {"bp-%02d" % index: 200 for index in range(self.REQUESTS)})
        wanted = {"bp-warm"} | set(results)

        def all_recorded():
            return wanted <= set(usage_request_ids(self.ledger))
        wait_until(all_recorded, 10, "usage records are missing after the lock went: %s"
                   % sorted(wanted - set(usage_request_ids(self.ledger))))
        recorded = [rid for rid in usage_request_ids(self.ledger) if rid.startswith("bp-")]
        self.assertEqual(sorted(recorded), sorted(wanted), "lost or duplicated usage records")
        print("\n  back-pressure: %d of %d requests answered while the store was locked"
              % (len(done_while_locked), self.REQUESTS), file=sys.stderr)
        stop_and_check(gateway)
        verify_audit_chain(self, self.ledger, self.config)


if __name__ == "__main__":
    unittest.main()
