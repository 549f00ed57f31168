#!/usr/bin/env python3
"""A fake cloud AI provider for the integration tests: a real HTTP/1.1 server (keep-alive, chunked
streaming, optional TLS) on 127.0.0.1 that speaks the OpenAI shape and the Anthropic Messages
shape, answers as scripted by the test, and records every byte it received. Standard library
only, plus the `openssl` command-line tool for the test certificates.

In-process:

    with FakeCloud(tls=True) as cloud:          # or FakeCloud(), FakeCloud(tls_dir=DIR)
        cloud.script({"status": 429, "headers": {"retry-after": "1"}}, {"reply": "hi"})
        ... point the gateway at cloud.url ("https://127.0.0.1:PORT/v1"), trusting cloud.ca_cert
        cloud.requests, cloud.request_count, cloud.connections_accepted, cloud.wait_for_requests(2)

As a subprocess:

    python3 tests/support/fake_cloud.py --port 0 [--tls-dir DIR] [--api-key KEY] [--verbose]

prints "fake cloud listening on URL" (flushed) and serves until SIGTERM/SIGINT. With --tls-dir
the server certificate is DIR/server.pem + DIR/server.key, generated with the CA DIR/ca.pem when
absent. Control endpoints (no auth, not recorded, consume no script entry):
    POST /_control/script   a JSON list of behaviours (appended to the queue), or an object
                            {"script": [...], "default": {...} or null, "api_key": "..."}
    GET  /_control/requests the record: a JSON list (bodies as "body" text and "body_base64",
                            the exact received bytes as "raw_base64")
    GET  /_control/state    {"request_count", "connections_accepted", "tls_handshake_failures",
                            "pending_script"}
    POST /_control/reset    empties the record, the script, the counters and the default

Endpoints (all POST; a wrong or missing key gets 401 in the provider's error shape):
    /v1/chat/completions, /v1/completions, /v1/embeddings   OpenAI, `Authorization: Bearer KEY`
    /v1/messages                                            Anthropic, `x-api-key: KEY` and
                                                            `anthropic-version`; needs max_tokens
KEY defaults to "test-cloud-key". Streams use chunked transfer encoding, one SSE event per chunk:
OpenAI `data: {chunk}` ... `data: [DONE]`; Anthropic `event: message_start`, per content block
content_block_start (then, after the first, a ping) / content_block_delta (text_delta or
input_json_delta) / content_block_stop, then message_delta and message_stop. OpenAI streams carry
a usage chunk (choices: []) only when the request has stream_options.include_usage.

Default answer: "Hello from the fake cloud", the model echoed from the request. Tokens are
whitespace-separated words: prompt tokens are the words of the message texts (and the system
prompt, the completion prompt or the embedding input), completion tokens the words of the reply
plus one per streamed tool-argument fragment. A request whose max_tokens (or
max_completion_tokens) is below the reply's word count gets the reply cut to that many words and
finish_reason "length" (Anthropic: stop_reason "max_tokens").

Script: cloud.script(b1, b2, ...) queues behaviours; each request to a /v1 path (control paths
excluded) takes the next one, or the default (cloud.set_default(b), initially {}) when the queue
is empty. Keys of a behaviour (unknown keys are refused), which combine:
    status: N            answer N (error statuses get the provider's error shape) instead of the
                         normal answer, whatever the auth and body
    body: dict|str       with or without status (default 200): answer exactly this body
    headers: {...}       extra response headers, on whatever answer this request gets
    delay_ms: N          wait N ms before the response header
    delay_first_token_ms: N   streams: send the header, wait N ms, then the first event
    chunk_interval_ms: N      streams: wait N ms between events
    cut_after_chunks: N  streams: send N events, then close the connection without the
                         terminating zero chunk; non-streams: send the header and half the body
    error_after_chunks: N     streams: send N events, then an error event (OpenAI
                         `data: {"error": ...}`, Anthropic `event: error`), then end the stream
    close_without_response: true   read the request, then close the connection
    raw_events: [str, ...]    answer 200 text/event-stream with these strings, one chunk each
    reply: "text"        the answer's text
    echo: true           the answer's text is the request's last message text (string content
                         or its text parts joined), or the completion prompt: what a model that
                         repeats its input would say (privacy tests: placeholders come back)
    stream_chunk_chars: N     the reply's pieces are N characters each instead of words (streams:
                         one event per piece, so that a placeholder is split across events)
    tool_call: {"name": ..., "arguments": {...} or "raw json", "id": optional}
    tool_calls: [tool_call, ...]   several; arguments stream as 8-character fragments
    logprobs: x or [x, ...]   per-token logprob (OpenAI, when the request asks for logprobs;
                         default -0.25; a list shorter than the reply repeats its last value)
    finish_reason: "..." e.g. "length" (Anthropic maps stop/length/tool_calls to end_turn/
                         max_tokens/tool_use, anything else is passed through)
    usage: {...}         merged into the answer's usage (e.g. cache_read_input_tokens)

Record (cloud.requests, a snapshot; one dict per request, errors and parse failures included):
    id, connection (the connection's serial number from 1, not reset by reset()), tls, method,
    path, headers (dict, lower-case names), body (bytes), raw (every byte of the request as
    received), json (parsed body or None), time (time.time()), monotonic, behaviour (the script
    entry used), status (of the answer; None when none was sent), outcome ("complete", "cut",
    "closed", "client_gone", "error_event"; None while answering).
cloud.wait_for_requests(n), cloud.wait_for(predicate on the record) and cloud.wait_until(
predicate()) wait, bounded, for the record or the counters (connections_accepted,
tls_handshake_failures) to change.

TLS: make_test_ca(dir) -> (ca_cert, server_cert, server_key), a throwaway CA and a server
certificate for DNS:localhost, IP:127.0.0.1; make_untrusted_cert(dir) -> (cert, key), a
self-signed one for the same names that no test CA signed.
"""

import argparse
import base64
import collections
import copy
import hashlib
import http.server
import json
import os
import random
import re
import shutil
import signal
import socket
import socketserver
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse

HOST = "127.0.0.1"
DEFAULT_API_KEY = "test-cloud-key"
DEFAULT_REPLY = "Hello from the fake cloud"
DEFAULT_LOGPROB = -0.25
ARGUMENT_FRAGMENT_CHARS = 8
EMBEDDING_DIMENSIONS = 8

BEHAVIOUR_KEYS = frozenset((
    "status", "body", "headers", "delay_ms", "delay_first_token_ms", "chunk_interval_ms",
    "cut_after_chunks", "error_after_chunks", "close_without_response", "raw_events", "reply",
    "tool_call", "tool_calls", "logprobs", "finish_reason", "usage", "echo",
    "stream_chunk_chars"))

TestCa = collections.namedtuple("TestCa", "ca_cert server_cert server_key")
ServerCert = collections.namedtuple("ServerCert", "cert key")


# ---------------------------------------------------------------------------------------------
# Certificates
# ---------------------------------------------------------------------------------------------


_EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def _openssl(directory, *args):
    result = subprocess.run(["openssl", *args], cwd=directory, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    if result.returncode != 0:
        raise RuntimeError("openssl %s failed (%d): %s"
                           % (" ".join(args), result.returncode,
                              result.stdout.decode("utf-8", "replace")))


def _write_config(path, common_name, extensions):
    # A private config, so the system openssl.cnf cannot add or clash with extensions.
    with open(path, "w") as config:
        config.write("[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = %s\n[ext]\n%s\n"
                     % (common_name, "\n".join(extensions)))


def _server_extensions(san):
    return ["basicConstraints = critical,CA:FALSE", "keyUsage = critical,digitalSignature",
            "extendedKeyUsage = serverAuth", "subjectAltName = " + san,
            "subjectKeyIdentifier = hash"]


def make_test_ca(directory, san="DNS:localhost,IP:127.0.0.1"):
    """Writes ca.pem/ca.key (a CA:TRUE self-signed CA) and server.pem/server.key (signed by it
    for `san`) into `directory`; returns TestCa(ca_cert, server_cert, server_key)."""
    os.makedirs(directory, exist_ok=True)
    files = TestCa(*(os.path.join(directory, name) for name in ("ca.pem", "server.pem",
                                                                 "server.key")))
    ca_key = os.path.join(directory, "ca.key")
    ca_config = os.path.join(directory, "ca.cnf")
    server_config = os.path.join(directory, "server.cnf")
    csr = os.path.join(directory, "server.csr")
    _write_config(ca_config, "Hearth Fake Cloud Test CA",
                  ["basicConstraints = critical,CA:TRUE", "keyUsage = critical,keyCertSign,cRLSign",
                   "subjectKeyIdentifier = hash", "authorityKeyIdentifier = keyid:always"])
    _write_config(server_config, "localhost",
                  _server_extensions(san) + ["authorityKeyIdentifier = keyid:always"])
    try:
        _openssl(directory, "req", "-x509", "-config", ca_config, "-extensions", "ext", *_EC_KEY,
                 "-keyout", ca_key, "-out", files.ca_cert, "-days", "365", "-sha256")
        _openssl(directory, "req", "-new", "-config", server_config, *_EC_KEY,
                 "-keyout", files.server_key, "-out", csr)
        _openssl(directory, "x509", "-req", "-in", csr, "-CA", files.ca_cert, "-CAkey", ca_key,
                 "-set_serial", "0x%x" % random.getrandbits(63), "-days", "365", "-sha256",
                 "-extfile", server_config, "-extensions", "ext", "-out", files.server_cert)
    finally:
        for leftover in (ca_config, server_config, csr):
            if os.path.exists(leftover):
                os.unlink(leftover)
    return files


def make_untrusted_cert(directory, san="DNS:localhost,IP:127.0.0.1"):
    """A self-signed server certificate for `san` that no test CA signed: untrusted.pem and
    untrusted.key in `directory`; returns ServerCert(cert, key)."""
    os.makedirs(directory, exist_ok=True)
    files = ServerCert(os.path.join(directory, "untrusted.pem"),
                       os.path.join(directory, "untrusted.key"))
    config = os.path.join(directory, "untrusted.cnf")
    _write_config(config, "localhost", _server_extensions(san))
    try:
        _openssl(directory, "req", "-x509", "-config", config, "-extensions", "ext", *_EC_KEY,
                 "-keyout", files.key, "-out", files.cert, "-days", "365", "-sha256")
    finally:
        os.unlink(config)
    return files


# ---------------------------------------------------------------------------------------------
# Answer building
# ---------------------------------------------------------------------------------------------


def _word_count(value):
    """Words of the texts in a message list, a content-part list or a plain string."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list):
        return sum(_word_count(item) for item in value)
    if isinstance(value, dict):
        return sum(_word_count(value[key]) for key in ("content", "text") if key in value)
    return 0


def _tokens(text):
    """Whitespace-led words; joined they give `text` back."""
    parts = re.findall(r"\s*\S+", text)
    rest = text[len("".join(parts)):]
    if rest:
        if parts:
            parts[-1] += rest
        else:
            parts = [rest]
    return parts


def _fragments(text):
    return [text[i:i + ARGUMENT_FRAGMENT_CHARS]
            for i in range(0, len(text), ARGUMENT_FRAGMENT_CHARS)] or [""]


def _text_of(content):
    """The text of a message content: a string, or the text parts of a list, joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content
                       if isinstance(part, dict) and isinstance(part.get("text"), str))
    return ""


def _last_message_text(messages):
    last = messages[-1] if messages else {}
    return _text_of(last.get("content")) if isinstance(last, dict) else ""


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


class _Answer:
    """What one request is answered with, from its behaviour and the request's limits."""

    def __init__(self, behaviour, max_tokens, echo_text=None):
        calls = behaviour.get("tool_calls")
        if calls is None:
            calls = [behaviour["tool_call"]] if "tool_call" in behaviour else []
        self.tool_calls = []
        for call in calls:
            arguments = call.get("arguments", {})
            if not isinstance(arguments, str):
                arguments = json.dumps(arguments)
            self.tool_calls.append({"id": call.get("id"), "name": call["name"],
                                    "arguments": arguments,
                                    "fragments": _fragments(arguments)})
        self.text = behaviour.get("reply", None if self.tool_calls else DEFAULT_REPLY)
        if behaviour.get("echo"):
            self.text = echo_text or ""
        chunk_chars = behaviour.get("stream_chunk_chars")
        if self.text is None:
            self.tokens = []
        elif _is_int(chunk_chars) and chunk_chars > 0:
            self.tokens = [self.text[i:i + chunk_chars]
                           for i in range(0, len(self.text), chunk_chars)]
        else:
            self.tokens = _tokens(self.text)
        truncated = False
        if (_is_int(max_tokens) and max_tokens >= 0 and not self.tool_calls
                and len(self.tokens) > max_tokens):
            self.tokens = self.tokens[:max_tokens]
            self.text = "".join(self.tokens)
            truncated = True
        self.finish_reason = behaviour.get("finish_reason") or (
            "length" if truncated else "tool_calls" if self.tool_calls else "stop")
        self.completion_tokens = len(self.tokens) + sum(len(call["fragments"])
                                                        for call in self.tool_calls)
        self.logprobs = behaviour.get("logprobs", DEFAULT_LOGPROB)
        self.usage_override = behaviour.get("usage") or {}

    def logprob(self, index):
        values = self.logprobs
        if isinstance(values, list):
            if not values:
                return DEFAULT_LOGPROB
            return float(values[index] if index < len(values) else values[-1])
        return float(values)

    def anthropic_stop_reason(self):
        return {"stop": "end_turn", "length": "max_tokens",
                "tool_calls": "tool_use"}.get(self.finish_reason, self.finish_reason)


def _chat_logprob_entry(token, value, top):
    entry = {"token": token, "logprob": value, "bytes": list(token.encode("utf-8")),
             "top_logprobs": []}
    if top:
        entry["top_logprobs"].append({"token": token, "logprob": value,
                                      "bytes": list(token.encode("utf-8"))})
        for rank in range(1, top):
            alternative = " alt%d" % rank
            entry["top_logprobs"].append({"token": alternative, "logprob": value - rank,
                                          "bytes": list(alternative.encode("utf-8"))})
    return entry


def _completion_logprobs(answer, top):
    offsets, offset = [], 0
    for token in answer.tokens:
        offsets.append(offset)
        offset += len(token)
    values = [answer.logprob(i) for i in range(len(answer.tokens))]
    top_lists = None
    if top:
        top_lists = []
        for token, value in zip(answer.tokens, values):
            choices = {token: value}
            for rank in range(1, top):
                choices[" alt%d" % rank] = value - rank
            top_lists.append(choices)
    return {"tokens": list(answer.tokens), "token_logprobs": values, "top_logprobs": top_lists,
            "text_offset": offsets}


def _embedding(item, dimensions):
    seed = json.dumps(item, sort_keys=True).encode("utf-8")
    raw = b""
    counter = 0
    while len(raw) < dimensions:
        raw += hashlib.sha256(seed + struct.pack("<I", counter)).digest()
        counter += 1
    values = [byte / 127.5 - 1.0 for byte in raw[:dimensions]]
    norm = sum(v * v for v in values) ** 0.5 or 1.0
    return [v / norm for v in values]


OPENAI_ERRORS = {
    400: ("invalid_request_error", None, "Bad request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("invalid_request_error", "unsupported_country_region_territory", "Forbidden."),
    404: ("invalid_request_error", "unknown_url", "Unknown request URL."),
    405: ("invalid_request_error", None, "Method not allowed."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests."),
    500: ("server_error", None, "The server had an error while processing your request."),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
    504: ("server_error", None, "Gateway timeout."),
}

ANTHROPIC_ERRORS = {
    400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
    404: "not_found_error", 405: "invalid_request_error", 413: "request_too_large",
    429: "rate_limit_error", 500: "api_error", 529: "overloaded_error",
}


def openai_error(status, message=None, code=None, param=None, error_type=None):
    known_type, known_code, known_message = OPENAI_ERRORS.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None,
                 "Error %d." % status))
    return {"error": {"message": message or known_message, "type": error_type or known_type,
                      "param": param, "code": code if code is not None else known_code}}


def anthropic_error(status, message=None, error_type=None):
    known_type = ANTHROPIC_ERRORS.get(status, "api_error" if status >= 500
                                      else "invalid_request_error")
    return {"type": "error",
            "error": {"type": error_type or known_type, "message": message or "Error %d." % status}}


# ---------------------------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------------------------


class _TeeReader:
    """The request stream, keeping every byte read from it until take()."""

    def __init__(self, stream):
        self._stream = stream
        self._seen = bytearray()

    def readline(self, limit=-1):
        data = self._stream.readline(limit)
        self._seen += data
        return data

    def read(self, size=-1):
        data = self._stream.read(size)
        self._seen += data
        return data

    def take(self):
        data = bytes(self._seen)
        self._seen.clear()
        return data

    def close(self):
        self._stream.close()

    def __getattr__(self, name):
        return getattr(self._stream, name)


class _BadRequest(Exception):
    pass


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeCloud/1.0"
    disable_nagle_algorithm = True  # streamed events must leave one by one

    def __init__(self, request, client_address, server, connection_id, tls):
        self.cloud = server.cloud
        self.connection_id = connection_id
        self.tls = tls
        self.record = None
        self.timeout = self.cloud.idle_timeout
        super().__init__(request, client_address, server)

    def version_string(self):
        return self.server_version

    def setup(self):
        super().setup()
        self.rfile = _TeeReader(self.rfile)

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        if self.cloud.verbose:
            sys.stderr.write("fake cloud: %s - %s\n" % (self.address_string(), format % args))

    def send_error(self, code, message=None, explain=None):
        # Requests the base class rejects before do_* (malformed, unsupported method) are
        # recorded too.
        if self.record is None:
            self.record = self.cloud._record(self, getattr(self, "command", None) or "",
                                             getattr(self, "path", None) or "", b"", None)
        self.cloud._update(self.record, status=code, outcome="complete")
        super().send_error(code, message, explain)

    def handle_one_request(self):
        self.record = None  # set once this request is recorded
        super().handle_one_request()

    def do_POST(self):
        try:
            body = self._read_body()
        except _BadRequest as error:
            self.close_connection = True
            self.record = self.cloud._record(self, self.command, self.path, b"", None)
            self._send(400, "application/json", json.dumps(openai_error(400, str(error))))
            return
        route = urllib.parse.urlsplit(self.path).path
        if route.startswith("/_control/"):
            self.rfile.take()
            self._control(route, body)
            return
        behaviour = self.cloud._next_behaviour()
        self.record = self.cloud._record(self, self.command, self.path, body, behaviour)
        try:
            self._serve(route, body, behaviour)
        except OSError:  # the client went away
            self.close_connection = True
            self.cloud._update(self.record, outcome="client_gone")

    do_GET = do_PUT = do_DELETE = do_PATCH = do_POST

    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                size_line = self.rfile.readline(1024)
                try:
                    size = int(size_line.split(b";")[0].strip(), 16)
                except ValueError:
                    raise _BadRequest("bad chunk size line %r" % size_line[:40])
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline(1024)
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            count = int(length)
        except ValueError:
            raise _BadRequest("bad Content-Length %r" % length)
        if count < 0:
            raise _BadRequest("bad Content-Length %r" % length)
        return self.rfile.read(count)

    # -- writing -------------------------------------------------------------------------------

    def _start(self, status, content_type, extra_headers, length=None):
        reason = "Overloaded" if status == 529 else None
        self.send_response(status, reason)
        self.send_header("Content-Type", content_type)
        if length is None:
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Cache-Control", "no-cache")
        else:
            self.send_header("Content-Length", str(length))
        for name, value in (extra_headers or {}).items():
            self.send_header(name, str(value))
        # The record is updated before the client can see the answer it describes, so a test
        # reading the record after its response never finds it stale.
        self.cloud._update(self.record, status=status)
        self.end_headers()

    def _send(self, status, content_type, body, extra_headers=None, cut=False):
        data = body.encode("utf-8") if isinstance(body, str) else body
        self._start(status, content_type, extra_headers, length=len(data))
        if cut:
            self.wfile.write(data[:len(data) // 2])
            self._drop("cut")
            return
        self.cloud._update(self.record, outcome="complete")  # OSError below: "client_gone"
        self.wfile.write(data)

    def _send_json(self, status, document, behaviour=None):
        behaviour = behaviour or {}
        self._send(status, "application/json", json.dumps(document), behaviour.get("headers"),
                   cut=behaviour.get("cut_after_chunks") is not None)

    def _drop(self, outcome):
        self.close_connection = True
        self.cloud._update(self.record, outcome=outcome)

    def _stream(self, events, behaviour, error_event=None):
        """One event per chunk, paced and cut as the behaviour says."""
        cut = behaviour.get("cut_after_chunks")
        fail = behaviour.get("error_after_chunks")
        if fail is not None and error_event is not None:
            events = events[:fail] + [error_event]
        self._start(200, "text/event-stream; charset=utf-8", behaviour.get("headers"))
        for index, event in enumerate(events):
            if cut is not None and index >= cut:
                self._drop("cut")
                return
            pause = (behaviour.get("delay_first_token_ms", 0) if index == 0
                     else behaviour.get("chunk_interval_ms", 0))
            if pause and self.cloud._pause(pause):
                self._drop("closed")
                return
            data = event.encode("utf-8") if isinstance(event, str) else event
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        if cut is not None:
            self._drop("cut")
            return
        errored = fail is not None and error_event is not None
        self.cloud._update(self.record, outcome="error_event" if errored else "complete")
        self.wfile.write(b"0\r\n\r\n")

    # -- control -------------------------------------------------------------------------------

    def _control(self, route, body):
        cloud = self.cloud
        if route == "/_control/requests" and self.command == "GET":
            self._send(200, "application/json",
                       json.dumps([_record_to_json(r) for r in cloud.requests]))
            return
        if route == "/_control/state" and self.command == "GET":
            self._send(200, "application/json", json.dumps(cloud.state()))
            return
        if route == "/_control/reset" and self.command == "POST":
            cloud.reset()
            self._send(200, "application/json", json.dumps({"ok": True}))
            return
        if route == "/_control/script" and self.command == "POST":
            try:
                document = json.loads(body.decode("utf-8"))
                if isinstance(document, list):
                    document = {"script": document}
                if not isinstance(document, dict):
                    raise ValueError("expected a list or an object")
                unknown = set(document) - {"script", "default", "api_key"}
                if unknown:
                    raise ValueError("unknown keys %s" % sorted(unknown))
                if "default" in document:
                    cloud.set_default(document["default"])
                if "api_key" in document:
                    cloud.api_key = document["api_key"]
                cloud.script(*document.get("script", []))
            except (ValueError, TypeError) as error:
                self._send(400, "application/json", json.dumps({"error": str(error)}))
                return
            self._send(200, "application/json", json.dumps({"pending": cloud.state()[
                "pending_script"]}))
            return
        self._send(404, "application/json", json.dumps({"error": "no control route " + route}))

    # -- the API -------------------------------------------------------------------------------

    def _serve(self, route, body, behaviour):
        anthropic = route.startswith("/v1/messages")

        def error_body(status, message=None, param=None):
            if anthropic:
                return anthropic_error(status, message)
            return openai_error(status, message, param=param)

        if behaviour.get("delay_ms") and self.cloud._pause(behaviour["delay_ms"]):
            self._drop("closed")
            return
        if behaviour.get("close_without_response"):
            self._drop("closed")
            return
        if "status" in behaviour or "body" in behaviour:
            status = int(behaviour.get("status", 200))
            custom = behaviour.get("body")
            if custom is None:
                custom = error_body(status) if status >= 400 else {}
            if isinstance(custom, (dict, list)):
                custom = json.dumps(custom)
            self._send(status, "application/json", custom, behaviour.get("headers"),
                       cut=behaviour.get("cut_after_chunks") is not None)
            return
        if "raw_events" in behaviour:
            self._stream(list(behaviour["raw_events"]), behaviour)
            return

        handlers = {"/v1/chat/completions": self._chat, "/v1/completions": self._completion,
                    "/v1/embeddings": self._embeddings, "/v1/messages": self._messages}
        handler = handlers.get(route)
        if handler is None:
            self._send_json(404, error_body(404, "Unknown request URL: %s %s"
                                            % (self.command, route)), behaviour)
            return
        if self.command != "POST":
            self._send_json(405, error_body(405, "Use POST for %s." % route), behaviour)
            return
        if anthropic:
            if self.headers.get("x-api-key") != self.cloud.api_key:
                self._send_json(401, anthropic_error(401, "invalid x-api-key"), behaviour)
                return
            if not self.headers.get("anthropic-version"):
                self._send_json(400, anthropic_error(
                    400, "anthropic-version: header is required"), behaviour)
                return
        elif self.headers.get("Authorization") != "Bearer " + self.cloud.api_key:
            self._send_json(401, openai_error(401), behaviour)
            return
        request = self.record["json"]
        if not isinstance(request, dict):
            self._send_json(400, error_body(400, "The body is not a JSON object."), behaviour)
            return
        model = request.get("model")
        if not isinstance(model, str) or not model:
            self._send_json(400, error_body(400, "model: a model name is required", "model"),
                            behaviour)
            return
        handler(request, behaviour)

    def _invalid(self, behaviour, message, param=None):
        self._send_json(400, openai_error(400, message, param=param), behaviour)

    def _openai_usage(self, prompt_tokens, answer):
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": answer.completion_tokens,
                 "total_tokens": prompt_tokens + answer.completion_tokens}
        usage.update(answer.usage_override)
        return usage

    def _chat(self, request, behaviour):
        messages = request.get("messages")
        if not isinstance(messages, list) or not messages:
            self._invalid(behaviour, "messages: a non-empty array is required", "messages")
            return
        max_tokens = request.get("max_completion_tokens", request.get("max_tokens"))
        answer = _Answer(behaviour, max_tokens, _last_message_text(messages))
        prompt_tokens = _word_count(messages)
        want_logprobs = request.get("logprobs") is True
        top = request.get("top_logprobs") if _is_int(request.get("top_logprobs")) else 0
        ident = "chatcmpl-fake-%d" % self.cloud._next_id()
        created = int(time.time())
        model = request["model"]
        calls = [dict(call, id=call["id"] or "call_fake_%d" % self.cloud._next_id())
                 for call in answer.tool_calls]

        if not request.get("stream"):
            message = {"role": "assistant", "content": answer.text}
            if calls:
                message["tool_calls"] = [
                    {"id": call["id"], "type": "function",
                     "function": {"name": call["name"], "arguments": call["arguments"]}}
                    for call in calls]
            logprobs = None
            if want_logprobs:
                logprobs = {"content": [_chat_logprob_entry(token, answer.logprob(i), top)
                                        for i, token in enumerate(answer.tokens)]}
            self._send_json(200, {
                "id": ident, "object": "chat.completion", "created": created, "model": model,
                "choices": [{"index": 0, "message": message, "logprobs": logprobs,
                             "finish_reason": answer.finish_reason}],
                "usage": self._openai_usage(prompt_tokens, answer)}, behaviour)
            return

        include_usage = bool((request.get("stream_options") or {}).get("include_usage"))

        def chunk(delta, finish_reason=None, logprobs=None):
            document = {"id": ident, "object": "chat.completion.chunk", "created": created,
                        "model": model, "choices": [{"index": 0, "delta": delta,
                                                     "logprobs": logprobs,
                                                     "finish_reason": finish_reason}]}
            if include_usage:
                document["usage"] = None
            return "data: %s\n\n" % json.dumps(document)

        events = [chunk({"role": "assistant", "content": "" if answer.text is not None else None})]
        for i, token in enumerate(answer.tokens):
            logprobs = None
            if want_logprobs:
                logprobs = {"content": [_chat_logprob_entry(token, answer.logprob(i), top)]}
            events.append(chunk({"content": token}, logprobs=logprobs))
        for index, call in enumerate(calls):
            events.append(chunk({"tool_calls": [
                {"index": index, "id": call["id"], "type": "function",
                 "function": {"name": call["name"], "arguments": ""}}]}))
            for fragment in call["fragments"]:
                events.append(chunk({"tool_calls": [
                    {"index": index, "function": {"arguments": fragment}}]}))
        events.append(chunk({}, finish_reason=answer.finish_reason))
        if include_usage:
            events.append("data: %s\n\n" % json.dumps({
                "id": ident, "object": "chat.completion.chunk", "created": created,
                "model": model, "choices": [],
                "usage": self._openai_usage(prompt_tokens, answer)}))
        events.append("data: [DONE]\n\n")
        self._stream(events, behaviour, error_event="data: %s\n\n" % json.dumps(
            openai_error(500, "The fake cloud failed mid-stream.")))

    def _completion(self, request, behaviour):
        prompt = request.get("prompt")
        if prompt is None:
            self._invalid(behaviour, "prompt: a prompt is required", "prompt")
            return
        echo_text = prompt if isinstance(prompt, str) else (
            prompt[0] if isinstance(prompt, list) and prompt and isinstance(prompt[0], str) else "")
        answer = _Answer(behaviour, request.get("max_tokens"), echo_text)
        prompt_tokens = _word_count(prompt) if not (
            isinstance(prompt, list) and prompt and _is_int(prompt[0])) else len(prompt)
        top = request.get("logprobs") if _is_int(request.get("logprobs")) else None
        ident = "cmpl-fake-%d" % self.cloud._next_id()
        created = int(time.time())
        model = request["model"]
        text = answer.text or ""

        if not request.get("stream"):
            self._send_json(200, {
                "id": ident, "object": "text_completion", "created": created, "model": model,
                "choices": [{"text": text, "index": 0,
                             "logprobs": _completion_logprobs(answer, top)
                             if top is not None else None,
                             "finish_reason": answer.finish_reason}],
                "usage": self._openai_usage(prompt_tokens, answer)}, behaviour)
            return

        include_usage = bool((request.get("stream_options") or {}).get("include_usage"))

        def chunk(piece, finish_reason=None, logprobs=None):
            document = {"id": ident, "object": "text_completion", "created": created,
                        "model": model, "choices": [{"text": piece, "index": 0,
                                                     "logprobs": logprobs,
                                                     "finish_reason": finish_reason}]}
            if include_usage:
                document["usage"] = None
            return "data: %s\n\n" % json.dumps(document)

        events = []
        for i, token in enumerate(answer.tokens):
            logprobs = None
            if top is not None:
                value = answer.logprob(i)
                logprobs = {"tokens": [token], "token_logprobs": [value],
                            "top_logprobs": [{token: value}] if top else None,
                            "text_offset": [len("".join(answer.tokens[:i]))]}
            events.append(chunk(token, logprobs=logprobs))
        events.append(chunk("", finish_reason=answer.finish_reason))
        if include_usage:
            events.append("data: %s\n\n" % json.dumps({
                "id": ident, "object": "text_completion", "created": created, "model": model,
                "choices": [], "usage": self._openai_usage(prompt_tokens, answer)}))
        events.append("data: [DONE]\n\n")
        self._stream(events, behaviour, error_event="data: %s\n\n" % json.dumps(
            openai_error(500, "The fake cloud failed mid-stream.")))

    def _embeddings(self, request, behaviour):
        inputs = request.get("input")
        if isinstance(inputs, str) or (isinstance(inputs, list) and inputs
                                       and all(_is_int(item) for item in inputs)):
            inputs = [inputs]
        if (not isinstance(inputs, list) or not inputs
                or not all(isinstance(item, (str, list)) for item in inputs)):
            self._invalid(behaviour, "input: a string, an array of strings or token arrays",
                          "input")
            return
        dimensions = request.get("dimensions", EMBEDDING_DIMENSIONS)
        if not _is_int(dimensions) or dimensions < 1:
            self._invalid(behaviour, "dimensions: a positive integer", "dimensions")
            return
        as_base64 = request.get("encoding_format") == "base64"
        data = []
        prompt_tokens = 0
        for index, item in enumerate(inputs):
            vector = _embedding(item, dimensions)
            prompt_tokens += _word_count(item) if isinstance(item, str) else len(item)
            if as_base64:
                vector = base64.b64encode(struct.pack("<%df" % dimensions, *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": vector})
        usage = {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}
        usage.update(behaviour.get("usage") or {})
        self._send_json(200, {"object": "list", "data": data, "model": request["model"],
                              "usage": usage}, behaviour)

    def _messages(self, request, behaviour):
        max_tokens = request.get("max_tokens")
        if not _is_int(max_tokens) or max_tokens < 1:
            self._send_json(400, anthropic_error(400, "max_tokens: Field required"), behaviour)
            return
        messages = request.get("messages")
        if not isinstance(messages, list) or not messages:
            self._send_json(400, anthropic_error(400, "messages: Field required"), behaviour)
            return
        answer = _Answer(behaviour, max_tokens, _last_message_text(messages))
        usage = {"input_tokens": _word_count(request.get("system", "")) + _word_count(messages),
                 "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                 "output_tokens": answer.completion_tokens}
        usage.update(answer.usage_override)
        ident = "msg_fake_%d" % self.cloud._next_id()
        calls = [dict(call, id=call["id"] or "toolu_fake_%d" % self.cloud._next_id())
                 for call in answer.tool_calls]
        message = {"id": ident, "type": "message", "role": "assistant", "content": [],
                   "model": request["model"], "stop_reason": None, "stop_sequence": None}

        if not request.get("stream"):
            if answer.text is not None:
                message["content"].append({"type": "text", "text": answer.text})
            for call in calls:
                try:
                    arguments = json.loads(call["arguments"])
                except ValueError:
                    arguments = call["arguments"]
                message["content"].append({"type": "tool_use", "id": call["id"],
                                           "name": call["name"], "input": arguments})
            message.update(stop_reason=answer.anthropic_stop_reason(), usage=usage)
            self._send_json(200, message, behaviour)
            return

        def event(name, document):
            return "event: %s\ndata: %s\n\n" % (name, json.dumps(document))

        start_usage = dict(usage, output_tokens=1)
        events = [event("message_start", {"type": "message_start",
                                           "message": dict(message, usage=start_usage)})]
        blocks = []
        if answer.text is not None:
            blocks.append(({"type": "text", "text": ""},
                           [{"type": "text_delta", "text": token} for token in answer.tokens]))
        for call in calls:
            blocks.append(({"type": "tool_use", "id": call["id"], "name": call["name"],
                            "input": {}},
                           [{"type": "input_json_delta", "partial_json": piece}
                            for piece in [""] + call["fragments"]]))
        for index, (block, deltas) in enumerate(blocks):
            events.append(event("content_block_start", {"type": "content_block_start",
                                                        "index": index, "content_block": block}))
            if index == 0:
                events.append(event("ping", {"type": "ping"}))
            for delta in deltas:
                events.append(event("content_block_delta", {"type": "content_block_delta",
                                                            "index": index, "delta": delta}))
            events.append(event("content_block_stop", {"type": "content_block_stop",
                                                       "index": index}))
        delta_usage = {"output_tokens": usage["output_tokens"]}
        events.append(event("message_delta", {
            "type": "message_delta",
            "delta": {"stop_reason": answer.anthropic_stop_reason(), "stop_sequence": None},
            "usage": delta_usage}))
        events.append(event("message_stop", {"type": "message_stop"}))
        self._stream(events, behaviour, error_event=event("error", anthropic_error(
            529, "Overloaded")))


def _record_to_json(record):
    document = {key: value for key, value in record.items() if key not in ("body", "raw")}
    document["body"] = record["body"].decode("utf-8", "replace")
    document["body_base64"] = base64.b64encode(record["body"]).decode("ascii")
    document["raw_base64"] = base64.b64encode(record["raw"]).decode("ascii")
    return document


class _Server(http.server.HTTPServer):
    request_queue_size = 128

    def __init__(self, cloud, address):
        self.cloud = cloud
        super().__init__(address, _Handler)

    def server_bind(self):
        # HTTPServer.server_bind looks the host name up (socket.getfqdn), which can be slow.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def process_request(self, request, client_address):
        self.cloud._start_connection(request, client_address)


# ---------------------------------------------------------------------------------------------
# The fake
# ---------------------------------------------------------------------------------------------


class FakeCloud:
    """See the module docstring. Thread-safe; start() / stop() or use it as a context manager.

    tls=True: a throwaway CA in a private temporary directory (ca_cert names it).
    tls_dir=DIR: DIR/server.pem + DIR/server.key (created with make_test_ca when absent).
    tls_cert=, tls_key=: serve exactly this certificate (e.g. from make_untrusted_cert).
    """

    def __init__(self, tls=False, tls_dir=None, tls_cert=None, tls_key=None,
                 api_key=DEFAULT_API_KEY, host=HOST, port=0, idle_timeout=60.0,
                 handshake_timeout=10.0, verbose=False):
        self.host = host
        self.requested_port = port
        self.api_key = api_key
        self.idle_timeout = idle_timeout
        self.handshake_timeout = handshake_timeout
        self.verbose = verbose
        self.ca_cert = None
        self._own_dir = None
        if tls_cert is not None or tls_key is not None:
            if tls_cert is None or tls_key is None:
                raise ValueError("tls_cert and tls_key go together")
            self._cert, self._key = tls_cert, tls_key
        elif tls or tls_dir is not None:
            if tls_dir is None:
                tls_dir = self._own_dir = tempfile.mkdtemp(prefix="hearth-fake-cloud-")
            cert, key = os.path.join(tls_dir, "server.pem"), os.path.join(tls_dir, "server.key")
            if not (os.path.exists(cert) and os.path.exists(key)):
                make_test_ca(tls_dir)
            self._cert, self._key = cert, key
            if os.path.exists(os.path.join(tls_dir, "ca.pem")):
                self.ca_cert = os.path.join(tls_dir, "ca.pem")
        else:
            self._cert = self._key = None
        self._ssl_context = None
        if self._cert is not None:
            self._ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._ssl_context.load_cert_chain(self._cert, self._key)
            self._ssl_context.set_alpn_protocols(["http/1.1"])

        self._lock = threading.Condition()
        self._records = []
        self._queue = collections.deque()
        self._default = {}
        self._ids = 0
        self._connections = 0
        self._connection_serial = 0
        self._handshake_failures = 0
        self._live = {}
        self._threads = []
        self._stopping = threading.Event()
        self._server = None
        self._serve_thread = None
        self.port = None

    # -- lifetime ------------------------------------------------------------------------------

    @property
    def tls(self):
        return self._ssl_context is not None

    @property
    def origin(self):
        return "%s://%s:%d" % ("https" if self.tls else "http", self.host, self.port)

    @property
    def url(self):
        return self.origin + "/v1"

    def start(self):
        assert self._server is None, "FakeCloud.start() called twice"
        self._server = _Server(self, (self.host, self.requested_port))
        self.port = self._server.server_address[1]
        self._serve_thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                              name="fake-cloud-accept", daemon=True)
        self._serve_thread.start()
        return self

    def stop(self):
        """Stops accepting, drops every open connection and waits (bounded) for their threads."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._serve_thread.join(timeout=5)
        with self._lock:
            live = list(self._live.values())
            threads = list(self._threads)
        for sock in live:
            try:
                socket.socket.shutdown(sock, socket.SHUT_RDWR)  # bypasses SSLSocket's unwrap
            except OSError:
                pass
        deadline = time.monotonic() + 5
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        self._server = None
        if self._own_dir is not None:
            shutil.rmtree(self._own_dir, ignore_errors=True)
            self._own_dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    # -- script --------------------------------------------------------------------------------

    @staticmethod
    def _checked(behaviour):
        if not isinstance(behaviour, dict):
            raise TypeError("a behaviour is a dict, not %r" % (behaviour,))
        unknown = set(behaviour) - BEHAVIOUR_KEYS
        if unknown:
            raise ValueError("unknown behaviour keys %s (known: %s)"
                             % (sorted(unknown), sorted(BEHAVIOUR_KEYS)))
        return copy.deepcopy(behaviour)

    def script(self, *behaviours):
        """Queues behaviours, one per coming request; a single list argument works too."""
        if len(behaviours) == 1 and isinstance(behaviours[0], list):
            behaviours = behaviours[0]
        checked = [self._checked(b) for b in behaviours]
        with self._lock:
            self._queue.extend(checked)

    def set_default(self, behaviour):
        """The behaviour of requests that find the queue empty ({} or None: the normal answer)."""
        checked = self._checked(behaviour or {})
        with self._lock:
            self._default = checked

    def reset(self):
        with self._lock:
            self._records.clear()
            self._queue.clear()
            self._default = {}
            self._connections = 0
            self._handshake_failures = 0
            self._lock.notify_all()

    def _next_behaviour(self):
        with self._lock:
            return copy.deepcopy(self._queue.popleft() if self._queue else self._default)

    def _next_id(self):
        with self._lock:
            self._ids += 1
            return self._ids

    def _pause(self, milliseconds):
        """Sleeps; True when the fake is stopping meanwhile."""
        return self._stopping.wait(milliseconds / 1000.0)

    # -- record --------------------------------------------------------------------------------

    def _record(self, handler, method, path, body, behaviour):
        try:
            parsed = json.loads(body.decode("utf-8")) if body else None
        except ValueError:
            parsed = None
        headers = {}
        if getattr(handler, "headers", None) is not None:
            for name, value in handler.headers.items():
                name = name.lower()
                headers[name] = headers[name] + ", " + value if name in headers else value
        record = {"id": None, "connection": handler.connection_id, "tls": handler.tls,
                  "method": method, "path": path, "headers": headers, "body": body,
                  "raw": handler.rfile.take() if isinstance(handler.rfile, _TeeReader) else b"",
                  "json": parsed, "time": time.time(), "monotonic": time.monotonic(),
                  "behaviour": behaviour, "status": None, "outcome": None}
        with self._lock:
            record["id"] = len(self._records) + 1
            self._records.append(record)
            self._lock.notify_all()
        return record

    def _update(self, record, **fields):
        if record is None:
            return
        with self._lock:
            record.update(fields)
            self._lock.notify_all()

    @property
    def requests(self):
        """A snapshot of the record: copies, safe to keep while requests go on."""
        with self._lock:
            return [dict(r, headers=dict(r["headers"])) for r in self._records]

    @property
    def request_count(self):
        with self._lock:
            return len(self._records)

    @property
    def last_request(self):
        with self._lock:
            return dict(self._records[-1]) if self._records else None

    @property
    def connections_accepted(self):
        with self._lock:
            return self._connections

    @property
    def tls_handshake_failures(self):
        with self._lock:
            return self._handshake_failures

    def state(self):
        with self._lock:
            return {"request_count": len(self._records), "connections_accepted": self._connections,
                    "tls_handshake_failures": self._handshake_failures,
                    "pending_script": len(self._queue)}

    def wait_until(self, predicate, timeout=10.0):
        """Waits until predicate() is true, re-checking whenever the record or a counter changes;
        returns its value or raises AssertionError after `timeout` seconds. predicate may use
        this object's properties (the lock is reentrant)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                value = predicate()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        "fake cloud: condition not met within %.1fs; state %r, record %r"
                        % (timeout, self.state(), [(r["method"], r["path"], r["status"],
                                                    r["outcome"]) for r in self._records]))
                self._lock.wait(left)

    def wait_for(self, predicate, timeout=10.0):
        """Waits until predicate(snapshot of the record) is true; returns the snapshot."""
        found = []

        def check():
            snapshot = self.requests
            if predicate(snapshot):
                found.append(snapshot)
                return True
            return False

        self.wait_until(check, timeout)
        return found[0]

    def wait_for_requests(self, count, timeout=10.0):
        return self.wait_for(lambda records: len(records) >= count, timeout)

    # -- connections ---------------------------------------------------------------------------

    def _start_connection(self, sock, address):
        with self._lock:
            self._connections += 1
            self._connection_serial += 1  # unlike the counter, never reset: keys self._live
            self._lock.notify_all()
            connection_id = self._connection_serial
            self._live[connection_id] = sock
            self._threads = [t for t in self._threads if t.is_alive()]
            thread = threading.Thread(target=self._serve_connection,
                                      args=(sock, address, connection_id),
                                      name="fake-cloud-conn-%d" % connection_id, daemon=True)
            self._threads.append(thread)
        thread.start()

    def _serve_connection(self, sock, address, connection_id):
        active = sock
        try:
            if self._ssl_context is not None:
                sock.settimeout(self.handshake_timeout)
                try:
                    active = self._ssl_context.wrap_socket(sock, server_side=True)
                except (ssl.SSLError, OSError) as error:
                    with self._lock:
                        self._handshake_failures += 1
                        self._lock.notify_all()
                    if self.verbose:
                        sys.stderr.write("fake cloud: TLS handshake failed: %s\n" % error)
                    return
                with self._lock:
                    self._live[connection_id] = active
            _Handler(active, address, self._server, connection_id, self.tls)
        except OSError:
            pass  # the peer or stop() closed the connection
        except Exception:  # a bug in the fake: show it, the client sees a closed connection
            if not self._stopping.is_set():
                traceback.print_exc()
        finally:
            with self._lock:
                self._live.pop(connection_id, None)
            try:
                if not isinstance(active, ssl.SSLSocket):
                    active.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            active.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description="A fake OpenAI/Anthropic cloud for tests.")
    parser.add_argument("--host", default=HOST)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tls-dir", help="serve HTTPS with DIR/server.pem (made when absent)")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    parser.add_argument("--verbose", action="store_true")
    options = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    cloud = FakeCloud(tls_dir=options.tls_dir, api_key=options.api_key, host=options.host,
                      port=options.port, verbose=options.verbose)
    cloud.start()
    print("fake cloud listening on %s" % cloud.url, flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        cloud.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
