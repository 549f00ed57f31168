#!/usr/bin/env python3
"""Integration tests for `hearth serve`, the gateway, with real supervised `hearth worker`
processes on the tiny models. Each TestCase class writes its own YAML configuration into a
temporary directory and starts one gateway on a free loopback port.

Environment (set by ctest): HEARTH_BIN, HEARTH_FIXTURES_DIR, HEARTH_STORIES_MODEL,
HEARTH_SANITIZED. Run by hand from the repository root:
  HEARTH_BIN=build/bin/hearth HEARTH_FIXTURES_DIR=build/fixtures HEARTH_SANITIZED=0 \
  HEARTH_STORIES_MODEL=../shared/models/stories260K.gguf python3 -u tests/gateway/test_gateway.py -v
"""

import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from harness import (HOST, SCALE, ManagedProcess, assert_error, children_of,  # noqa: E402
                     http_request, metric_value, metrics, open_stream, parse_sse, post,
                     raw_exchange, start_gateway, stop_and_check, wait_for_metric, wait_until)

HEARTH_BIN = os.environ.get("HEARTH_BIN", "")
FIXTURES = os.environ.get("HEARTH_FIXTURES_DIR", "")
STORIES = os.environ.get("HEARTH_STORIES_MODEL", "")
QWEN = os.path.join(FIXTURES, "tiny-qwen2-chat.gguf")
BERT_EMBED = os.path.join(FIXTURES, "tiny-bert-embed.gguf")


def setUpModule():
    missing = [name for name, value in (("HEARTH_BIN", HEARTH_BIN), ("HEARTH_FIXTURES_DIR", FIXTURES),
                                        ("HEARTH_STORIES_MODEL", STORIES)) if not value]
    if missing:
        raise RuntimeError("test_gateway.py needs %s (see its header)" % ", ".join(missing))
    absent = [p for p in (HEARTH_BIN, STORIES, QWEN, BERT_EMBED) if not os.path.isfile(p)]
    if absent:
        raise RuntimeError("missing files (build `test-deps` first): %s" % ", ".join(absent))


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def worker_pids(gateway_pid, model):
    return [pid for pid, argv in children_of(gateway_pid).items()
            if b"worker" in argv and model.encode() in argv]


def process_gone(pid):
    try:
        with open("/proc/%d/stat" % pid) as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def model_states(port):
    reply = http_request(port, "GET", "/v1/models")
    assert reply.status == 200, reply
    return {card["id"]: card["meta"]["state"] for card in reply.json()["data"]}


def read_until(sock, marker, timeout=30):
    """Reads from a raw socket until `marker` arrived or the peer closed; returns all of it."""
    received = b""
    sock.settimeout(timeout * SCALE)
    while marker not in received:
        chunk = sock.recv(65536)
        if not chunk:
            break
        received += chunk
    return received


def completion(model, max_tokens=8, **extra):
    body = {"model": model, "prompt": "Once upon a time", "max_tokens": max_tokens,
            "temperature": 0}
    body.update(extra)
    return body


class GatewayTestCase(unittest.TestCase):
    CONFIG = ""  # YAML; {stories}, {qwen}, {embed} and {runtime} are filled in

    @classmethod
    def config_text(cls):
        return textwrap.dedent(cls.CONFIG).format(stories=STORIES, qwen=QWEN, embed=BERT_EMBED,
                                                  threads=1)

    @classmethod
    def setUpClass(cls):
        cls.directory = tempfile.TemporaryDirectory(prefix="hearth-gateway-test-")
        cls.config_path = os.path.join(cls.directory.name, "hearth.yaml")
        with open(cls.config_path, "w") as config:
            config.write(cls.config_text())
        cls.gateway, cls.port = start_gateway(HEARTH_BIN, cls.config_path)

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.gateway is not None:
                stop_and_check(cls.gateway)
        finally:
            cls.directory.cleanup()

    def setUp(self):
        if not self.gateway.alive():
            self.fail("the gateway died earlier; log:\n%s" % self.gateway.log_tail())

    def post_ok(self, path, body):
        reply = post(self.port, path, body)
        self.assertEqual(reply.status, 200, reply)
        return reply


# ---------------------------------------------------------------------------------------------
# Routing, aliases, on-demand load, the API surface and bad input
# ---------------------------------------------------------------------------------------------


class RoutingTest(GatewayTestCase):
    CONFIG = """
        server:
          max_body_bytes: 65536
        default_model: stories
        models:
          - name: stories
            aliases: [tiny-stories, default-chat]
            path: {stories}
            parallel: 4
            context: 2048
            threads: {threads}
          - name: qwen
            path: {qwen}
            context: 1024
            parallel: 2
            threads: {threads}
          - name: embed
            task: embedding
            path: {embed}
            context: 2048
            parallel: 4
            threads: {threads}
        """

    def test_requests_reach_the_named_model_loaded_on_demand(self):
        states = model_states(self.port)
        self.assertEqual(states["qwen"], "unloaded", states)
        reply = self.post_ok("/v1/chat/completions",
                             {"model": "qwen", "messages": [{"role": "user", "content": "Hi"}],
                              "max_tokens": 4, "temperature": 0})
        document = reply.json()
        self.assertEqual(document["object"], "chat.completion")
        self.assertEqual(document["model"], "qwen")
        self.assertEqual(reply.headers["x-hearth-model"], "qwen")
        self.assertEqual(reply.headers["x-hearth-backend"], "worker:qwen")
        self.assertGreaterEqual(float(reply.headers["x-hearth-overhead-ms"]), 0.0)
        self.assertEqual(model_states(self.port)["qwen"], "loaded")
        embedded = self.post_ok("/v1/embeddings", {"model": "embed", "input": ["a", "b"]}).json()
        self.assertEqual(len(embedded["data"]), 2)
        self.assertEqual(len(embedded["data"][0]["embedding"]), 64)

    def test_aliases_and_the_default_model(self):
        by_name = self.post_ok("/v1/completions", completion("stories")).json()
        by_alias = self.post_ok("/v1/completions", completion("tiny-stories"))
        self.assertEqual(by_alias.headers["x-hearth-model"], "stories")
        self.assertEqual(by_alias.json()["choices"][0]["text"], by_name["choices"][0]["text"])
        body = completion("stories")
        del body["model"]
        default = self.post_ok("/v1/completions", body)
        self.assertEqual(default.headers["x-hearth-model"], "stories")
        self.assertEqual(default.json()["choices"][0]["text"], by_name["choices"][0]["text"])

    def test_streaming_is_relayed_chunk_by_chunk_and_matches(self):
        plain = self.post_ok("/v1/completions", completion("stories", 24)).json()
        reply = self.post_ok("/v1/completions", completion("stories", 24, stream=True))
        payloads = parse_sse(self, reply)
        text = "".join(p["choices"][0]["text"] for p in payloads if p.get("choices"))
        self.assertEqual(text, plain["choices"][0]["text"])
        self.assertEqual(reply.headers["x-hearth-model"], "stories")
        # Chunk by chunk: the first event arrives before the answer is complete.
        sock = open_stream(self.port, "/v1/completions", completion("stories", 2000, stream=True),
                           frames=1)
        sock.close()

    def test_concurrent_first_requests_wait_for_the_load(self):
        import threading
        results = []

        def one(index):
            results.append(post(self.port, "/v1/completions",
                                completion("default-chat", 4, prompt="Story %d" % index)))
        threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual([r.status for r in results], [200] * 6, results)

    def test_models_health_ready_and_metrics(self):
        listing = http_request(self.port, "GET", "/v1/models").json()
        self.assertEqual(listing["object"], "list")
        cards = {card["id"]: card for card in listing["data"]}
        self.assertEqual(set(cards), {"stories", "qwen", "embed"})
        self.assertEqual(cards["embed"]["meta"]["task"], "embedding")
        self.assertEqual(cards["stories"]["meta"]["aliases"], ["tiny-stories", "default-chat"])
        self.assertEqual(http_request(self.port, "GET", "/healthz").status, 200)
        ready = http_request(self.port, "GET", "/readyz")
        self.assertEqual((ready.status, ready.json()["status"]), (200, "ready"))
        self.post_ok("/v1/completions", completion("stories", 2))
        text = metrics(self.port)
        self.assertGreaterEqual(metric_value(text, "hearth_gateway_requests_total"), 1)
        # The worker's own metrics, labelled with the model.
        self.assertIn('hearth_worker_engine_generated_tokens_total{model="stories"}', text)
        self.assertGreaterEqual(metric_value(text, "hearth_gateway_worker_starts_total"), 1)

    def test_bad_input_gets_the_openai_error_shape_and_the_gateway_keeps_serving(self):
        assert_error(self, post(self.port, "/v1/chat/completions", b"{not json"), 400,
                     code="invalid_json")
        assert_error(self, post(self.port, "/v1/chat/completions", b"[1, 2]"), 400,
                     code="invalid_type")
        assert_error(self, post(self.port, "/v1/completions", {"model": 7}), 400)
        missing = assert_error(self, post(self.port, "/v1/completions", completion("nope")), 404,
                               code="model_not_found", param="model")
        self.assertIn("stories", missing["message"])
        assert_error(self, post(self.port, "/v1/completions",
                                completion("stories", keep_alive="soon")), 400,
                     code="invalid_value", param="keep_alive")
        big = completion("stories", prompt="x" * 70000)
        assert_error(self, post(self.port, "/v1/completions", big), 413)
        assert_error(self, http_request(self.port, "GET", "/v1/nothing"), 404, code="not_found")
        assert_error(self, http_request(self.port, "DELETE", "/v1/models"), 405)
        # The worker's own validation reaches the client unchanged.
        assert_error(self, post(self.port, "/v1/completions", completion("stories", max_tokens=-5)),
                     400)
        raw = raw_exchange(self.port, b"GARBAGE\r\n\r\n")
        self.assertIn(b" 400 ", raw.split(b"\r\n", 1)[0] + b" ")
        self.post_ok("/v1/completions", completion("stories", 2))

    def test_access_log_has_one_json_line_per_request_without_text(self):
        secret = "zebra-violin-%d" % os.getpid()
        reply = self.post_ok("/v1/completions", completion("stories", 4, prompt=secret))
        answer = reply.json()["choices"][0]["text"]

        def logged():
            for line in self.gateway.log_text().splitlines():
                if line.startswith("{") and '"path":"/v1/completions"' in line:
                    found.append(json.loads(line))
            return found
        found = []
        wait_until(logged, 10, "no access-log line for the request")
        entry = found[-1]
        for key in ("ts", "method", "path", "status", "model", "backend", "stream", "duration_ms",
                    "overhead_ms", "upstream_ms", "bytes_out"):
            self.assertIn(key, entry)
        self.assertEqual((entry["method"], entry["status"], entry["model"], entry["backend"]),
                         ("POST", 200, "stories", "worker:stories"))
        self.assertGreaterEqual(entry["duration_ms"], entry["overhead_ms"])
        log = self.gateway.log_text()
        self.assertNotIn(secret, log)
        if len(answer.strip()) > 8:
            self.assertNotIn(answer, log)

    def test_client_disconnect_cancels_the_workers_job(self):
        self.post_ok("/v1/completions", completion("stories", 2))
        before = metric_value(metrics(self.port), "hearth_worker_jobs_cancelled_total") or 0
        sock = open_stream(self.port, "/v1/completions",
                           completion("stories", 100000, stream=True), frames=2)
        sock.close()
        wait_for_metric(self.port, "hearth_worker_jobs_cancelled_total",
                        lambda value: value >= before + 1, 20)


# ---------------------------------------------------------------------------------------------
# Keep-alive, eviction, crashes and restarts
# ---------------------------------------------------------------------------------------------


class LifecycleTest(GatewayTestCase):
    CONFIG = """
        workers:
          max_loaded_models: 1
          restart_backoff_initial: 100ms
          health_interval: 200ms
        models:
          - name: stories
            path: {stories}
            context: 1024
            parallel: 2
            threads: {threads}
            keep_alive: 1h
          - name: qwen
            path: {qwen}
            context: 1024
            parallel: 2
            threads: {threads}
            keep_alive: 1h
          - name: short
            path: {stories}
            context: 512
            parallel: 1
            threads: {threads}
            keep_alive: 300ms
        """

    def test_1_least_recently_used_model_is_evicted(self):
        self.post_ok("/v1/completions", completion("stories", 2))
        self.assertEqual(model_states(self.port)["stories"], "loaded")
        stories_pids = worker_pids(self.gateway.proc.pid, "stories")
        self.assertEqual(len(stories_pids), 1)
        self.post_ok("/v1/completions", completion("qwen", 2))
        states = model_states(self.port)
        self.assertEqual((states["qwen"], states["stories"]), ("loaded", "unloaded"), states)
        wait_until(lambda: process_gone(stories_pids[0]), 10, "evicted worker still running")
        text = metrics(self.port)
        self.assertIn('hearth_gateway_worker_unloads_total{model="stories",reason="evicted"} 1',
                      text)

    def test_2_idle_model_unloads_after_keep_alive_and_reloads(self):
        self.post_ok("/v1/completions", completion("short", 2))
        wait_until(lambda: model_states(self.port)["short"] == "unloaded", 10,
                   "model with keep_alive 300ms was not unloaded")
        self.assertIn('reason="idle"', metrics(self.port))
        self.post_ok("/v1/completions", completion("short", 2))

    def test_3_per_request_keep_alive_zero_unloads_at_once(self):
        self.post_ok("/v1/completions", completion("stories", 2, keep_alive=0))
        wait_until(lambda: model_states(self.port)["stories"] == "unloaded", 10,
                   "keep_alive 0 did not unload the model")

    def test_4_killed_worker_fails_its_stream_and_is_restarted(self):
        self.post_ok("/v1/completions", completion("qwen", 2))
        pids = worker_pids(self.gateway.proc.pid, "qwen")
        self.assertEqual(len(pids), 1, children_of(self.gateway.proc.pid))
        sock = open_stream(self.port, "/v1/completions", completion("qwen", 100000, stream=True),
                           frames=2)
        try:
            os.kill(pids[0], signal.SIGKILL)
            received = read_until(sock, b"\r\n0\r\n\r\n")  # the last chunk
        finally:
            sock.close()
        self.assertNotIn(b"data: [DONE]", received)
        self.assertIn(b'"code":"backend_stream_broken"', received)
        # The next request waits for the restart and succeeds.
        reply = self.post_ok("/v1/completions", completion("qwen", 2))
        self.assertEqual(reply.headers["x-hearth-model"], "qwen")
        new_pids = worker_pids(self.gateway.proc.pid, "qwen")
        self.assertEqual(len(new_pids), 1)
        self.assertNotEqual(new_pids, pids)
        self.assertIn('hearth_gateway_worker_restarts_total{model="qwen",reason="crash"} 1',
                      metrics(self.port))
        self.assertGreaterEqual(
            metric_value(metrics(self.port), "hearth_gateway_broken_streams_total"), 1)

    def test_5_hung_worker_is_killed_by_the_health_check_and_restarted(self):
        self.post_ok("/v1/completions", completion("qwen", 2))
        pids = worker_pids(self.gateway.proc.pid, "qwen")
        self.assertEqual(len(pids), 1)
        os.kill(pids[0], signal.SIGSTOP)  # alive but answering nothing: hung
        try:
            wait_until(lambda: process_gone(pids[0]), 30,
                       "the hung worker was not killed by the health check")
        finally:
            try:
                os.kill(pids[0], signal.SIGCONT)
            except ProcessLookupError:
                pass
        self.post_ok("/v1/completions", completion("qwen", 2))
        self.assertIn('reason="hung"', metrics(self.port))


class LoadFailureTest(GatewayTestCase):
    CONFIG = """
        workers:
          restart_backoff_initial: 200ms
        models:
          - name: broken
            path: {broken}
            context: 512
            parallel: 1
            threads: {threads}
          - name: stories
            path: {stories}
            context: 512
            parallel: 1
            threads: {threads}
        """

    @classmethod
    def config_text(cls):
        cls.broken_file = tempfile.NamedTemporaryFile(suffix=".gguf")
        cls.broken_file.write(b"not a GGUF at all\n" * 100)
        cls.broken_file.flush()
        return textwrap.dedent(cls.CONFIG).format(stories=STORIES, broken=cls.broken_file.name,
                                                  threads=1)

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.broken_file.close()

    def test_a_model_that_cannot_load_fails_fast_and_others_keep_serving(self):
        started = time.monotonic()
        error = assert_error(self, post(self.port, "/v1/completions", completion("broken", 2)),
                             503, code="model_load_failed")
        self.assertLess(time.monotonic() - started, 20 * SCALE)
        self.assertIn("broken", error["message"])
        self.assertIn("GGUF", error["message"])
        self.assertEqual(model_states(self.port)["broken"], "failed")
        self.post_ok("/v1/completions", completion("stories", 2))
        self.assertGreaterEqual(
            metric_value(metrics(self.port), "hearth_gateway_worker_load_failures_total"), 1)
        wait_until(lambda: "loading failed" in self.gateway.log_text(), 10,
                   "no 'loading failed' line in the gateway's log")
        # After the backoff it is tried again (and fails again the same way).
        time.sleep(0.5)
        again = assert_error(self, post(self.port, "/v1/completions", completion("broken", 2)),
                             503, code="model_load_failed")
        self.assertIn("GGUF", again["message"])


class BytesCapTest(GatewayTestCase):
    # qwen (25.5 MB) and stories (1.2 MB) fit under the cap together; the embedding model
    # (4.7 MB) does not fit beside both, so loading it unloads the least recently used.
    CONFIG = """
        workers:
          max_loaded_models: 8
          max_loaded_bytes: 28000000
        models:
          - name: qwen
            path: {qwen}
            context: 512
            parallel: 1
            threads: {threads}
          - name: stories
            path: {stories}
            context: 512
            parallel: 1
            threads: {threads}
          - name: embed
            task: embedding
            path: {embed}
            context: 512
            parallel: 1
            threads: {threads}
        """

    def test_total_model_bytes_cap_evicts_the_least_recently_used(self):
        self.post_ok("/v1/completions", completion("qwen", 2))
        self.post_ok("/v1/completions", completion("stories", 2))
        states = model_states(self.port)
        self.assertEqual((states["qwen"], states["stories"]), ("loaded", "loaded"), states)
        self.post_ok("/v1/embeddings", {"model": "embed", "input": "hello"})
        states = model_states(self.port)
        self.assertEqual((states["qwen"], states["stories"], states["embed"]),
                         ("unloaded", "loaded", "loaded"), states)


# ---------------------------------------------------------------------------------------------
# Configuration: errors, hot reload
# ---------------------------------------------------------------------------------------------


class ConfigTest(unittest.TestCase):
    def test_errors_name_file_line_and_key(self):
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "bad.yaml")
            with open(path, "w") as bad:
                bad.write("models:\n  - name: a\n    path: %s\n    contxt: 10\n" % STORIES)
            check = subprocess.run([HEARTH_BIN, "config", "check", path], capture_output=True,
                                   timeout=30 * SCALE)
            self.assertEqual(check.returncode, 1)
            message = (check.stdout + check.stderr).decode()
            self.assertIn("bad.yaml:4", message)
            self.assertIn("models[0].contxt", message)
            self.assertIn("did you mean 'context'", message)
            serve = subprocess.run([HEARTH_BIN, "serve", "--config", path, "--listen",
                                    HOST + ":0"], capture_output=True, timeout=30 * SCALE)
            self.assertEqual(serve.returncode, 2)
            self.assertIn("models[0].contxt", (serve.stdout + serve.stderr).decode())


class ReloadTest(GatewayTestCase):
    CONFIG = """
        models:
          - name: stories
            path: {stories}
            context: 1024
            parallel: 2
            threads: {threads}
        """

    def write_config(self, text):
        with open(self.config_path, "w") as config:
            config.write(textwrap.dedent(text).format(stories=STORIES, qwen=QWEN, threads=1))

    def test_bad_reload_keeps_serving_and_a_good_one_applies(self):
        self.post_ok("/v1/completions", completion("stories", 2))
        self.write_config("models:\n  - name: stories\n    path: {stories}\n    parallel: many\n")
        rejected = post(self.port, "/admin/reload", b"")
        error = assert_error(self, rejected, 400, code="invalid_config")
        self.assertIn("hearth.yaml:4", error["message"])
        self.assertIn("models[0].parallel", error["message"])
        os.kill(self.gateway.proc.pid, signal.SIGHUP)  # the same through the signal
        wait_for_metric(self.port, "hearth_gateway_config_reloads_total", lambda v: v >= 2, 10)
        self.post_ok("/v1/completions", completion("stories", 2))
        self.write_config("""
            models:
              - name: stories
                path: {stories}
                context: 1024
                parallel: 1
                threads: {threads}
              - name: qwen
                path: {qwen}
                context: 1024
                parallel: 2
                threads: {threads}
            """)
        old_worker = worker_pids(self.gateway.proc.pid, "stories")
        self.assertEqual(len(old_worker), 1)
        # A request in flight across the reload finishes on the worker it started on, although
        # the reload changes that model's definition (parallel 2 -> 1).
        sock = open_stream(self.port, "/v1/completions", completion("stories", 300, stream=True),
                           frames=1)
        try:
            os.kill(self.gateway.proc.pid, signal.SIGHUP)
            wait_until(lambda: "qwen" in model_states(self.port), 10, "reload did not add qwen")
            received = read_until(sock, b"data: [DONE]")
        finally:
            sock.close()
        self.assertIn(b"data: [DONE]", received)
        self.post_ok("/v1/completions", completion("qwen", 2))
        self.post_ok("/v1/completions", completion("stories", 2))
        new_worker = worker_pids(self.gateway.proc.pid, "stories")
        self.assertEqual(len(new_worker), 1)
        self.assertNotEqual(new_worker, old_worker)
        wait_until(lambda: process_gone(old_worker[0]), 10,
                   "the old worker was not stopped after its request finished")


# ---------------------------------------------------------------------------------------------
# Remote backends, orphans, graceful shutdown
# ---------------------------------------------------------------------------------------------


class RemoteBackendTest(GatewayTestCase):
    @classmethod
    def setUpClass(cls):
        cls.remote = ManagedProcess([HEARTH_BIN, "worker", "--model", STORIES, "--listen",
                                     HOST + ":0", "--threads", "1", "--parallel", "2",
                                     "--context", "1024"], "remote worker")
        cls.remote_port = cls.remote.wait_for_port(30 * SCALE)
        wait_until(lambda: http_request(cls.remote_port, "GET", "/health").status == 200, 60,
                   "remote worker not ready")
        cls.CONFIG = """
            models:
              - name: far-stories
                url: http://127.0.0.1:%d
                upstream_model: stories260K
              - name: nowhere
                url: http://127.0.0.1:%d
            """ % (cls.remote_port, cls.unused_port())
        super().setUpClass()

    @staticmethod
    def unused_port():
        with socket.socket() as probe:
            probe.bind((HOST, 0))
            return probe.getsockname()[1]

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        stop_and_check(cls.remote)

    def test_requests_reach_the_remote_worker(self):
        reply = self.post_ok("/v1/completions", completion("far-stories", 6))
        self.assertEqual(reply.headers["x-hearth-backend"], "http://127.0.0.1:%d" % self.remote_port)
        direct = post(self.remote_port, "/v1/completions", completion("stories260K", 6)).json()
        self.assertEqual(reply.json()["choices"][0]["text"], direct["choices"][0]["text"])
        stream = self.post_ok("/v1/completions", completion("far-stories", 6, stream=True))
        self.assertTrue(parse_sse(self, stream))

    def test_unreachable_remote_gets_503(self):
        error = assert_error(self, post(self.port, "/v1/completions", completion("nowhere", 2)),
                             503, code="backend_unavailable")
        self.assertIn("nowhere", error["message"])
        wait_until(lambda: model_states(self.port)["nowhere"] == "remote_unreachable", 10,
                   "health check did not mark the remote unreachable")


class LimitsTest(GatewayTestCase):
    CONFIG = """
        server:
          max_connections: 3
          max_header_bytes: 4096
          header_timeout: 500ms
        models:
          - name: stories
            path: {stories}
            context: 512
            parallel: 1
            threads: {threads}
        """

    def test_oversized_headers_get_431_in_the_error_shape(self):
        request = (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 8000 +
                   b"\r\n\r\n")
        answer = raw_exchange(self.port, request, timeout=10)
        head, _, body = answer.partition(b"\r\n\r\n")
        self.assertIn(b" 431 ", head.split(b"\r\n", 1)[0] + b" ")
        self.assertEqual(set(json.loads(body)["error"]), {"message", "type", "param", "code"})
        self.assertEqual(http_request(self.port, "GET", "/healthz").status, 200)

    def test_headers_too_slow_close_the_connection(self):
        with socket.create_connection((HOST, self.port), timeout=10 * SCALE) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\n")  # and then nothing
            started = time.monotonic()
            answer = b""
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
            waited = time.monotonic() - started
        self.assertLess(waited, 5 * SCALE)
        if answer:
            self.assertRegex(answer.split(b"\r\n", 1)[0], rb"^HTTP/1\.1 408 ")
        self.assertEqual(http_request(self.port, "GET", "/healthz").status, 200)

    def test_too_many_connections_get_503_and_the_gateway_recovers(self):
        held = []
        try:
            for _ in range(3):
                sock = socket.create_connection((HOST, self.port), timeout=10 * SCALE)
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                self.assertIn(b" 200 ", sock.recv(65536).split(b"\r\n", 1)[0] + b" ")
                held.append(sock)
            answer = raw_exchange(self.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            head, _, body = answer.partition(b"\r\n\r\n")
            self.assertIn(b" 503 ", head.split(b"\r\n", 1)[0] + b" ")
            self.assertEqual(json.loads(body)["error"]["code"], "too_many_connections")
        finally:
            for sock in held:
                sock.close()
        wait_until(lambda: http_request(self.port, "GET", "/healthz").status == 200, 10,
                   "the gateway did not recover after the connections closed")


class ProcessLifetimeTest(unittest.TestCase):
    CONFIG = "models:\n  - name: stories\n    path: %s\n    context: 512\n    parallel: 1\n" \
             "    threads: 1\n    load_on_start: true\n"

    def start(self, directory):
        path = os.path.join(directory, "hearth.yaml")
        with open(path, "w") as config:
            config.write(self.CONFIG % STORIES)
        gateway, port = start_gateway(HEARTH_BIN, path)
        wait_until(lambda: model_states(port)["stories"] == "loaded", 60,
                   "load_on_start model never loaded")
        pids = worker_pids(gateway.proc.pid, "stories")
        self.assertEqual(len(pids), 1)
        return gateway, port, pids[0]

    def test_workers_die_with_a_killed_gateway(self):
        with tempfile.TemporaryDirectory() as directory:
            gateway, _, worker = self.start(directory)
            runtime = re.search(r"workers' sockets in (\S+)\)", gateway.log_text())
            self.assertIsNotNone(runtime, gateway.log_tail())
            runtime = runtime.group(1)
            try:
                # The workers' private directory: only this user may enter it.
                self.assertEqual(stat.S_IMODE(os.stat(runtime).st_mode), 0o700)
                os.kill(gateway.proc.pid, signal.SIGKILL)
                wait_until(lambda: process_gone(worker), 10,
                           "worker %d outlived its SIGKILLed gateway" % worker)
            finally:
                gateway.stop()
                if not process_gone(worker):
                    os.kill(worker, signal.SIGKILL)
                # A SIGKILLed gateway cannot remove its runtime directory; the test does.
                shutil.rmtree(runtime, ignore_errors=True)

    def test_sigterm_finishes_requests_in_flight_then_stops_workers(self):
        with tempfile.TemporaryDirectory() as directory:
            gateway, port, worker = self.start(directory)
            sock = open_stream(port, "/v1/completions", completion("stories", 200, stream=True),
                               frames=1)
            try:
                os.kill(gateway.proc.pid, signal.SIGTERM)
                received = read_until(sock, b"data: [DONE]")
            finally:
                sock.close()
            self.assertIn(b"data: [DONE]", received)
            self.assertEqual(gateway.proc.wait(timeout=30 * SCALE), 0, gateway.log_tail())
            wait_until(lambda: process_gone(worker), 10, "worker outlived the gateway")
            runtime = re.search(r"workers' sockets in (\S+)\)", gateway.log_text()).group(1)
            self.assertFalse(os.path.exists(runtime), "runtime directory left behind")
            gateway.stop()
            self.assertIn("gateway stopped", gateway.log_text())


if __name__ == "__main__":
    unittest.main()
