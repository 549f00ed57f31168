#!/usr/bin/env python3
"""Integration tests for `hearth worker`, the OpenAI-compatible single-model server.

Each TestCase class starts one worker (setUpClass) and stops it again (tearDownClass); the
differential tests compare its output with llama.cpp's own tools on the same GGUF files.
Standard library only.

Environment (set by ctest, see cmake/HearthTargets.cmake):
  HEARTH_BIN            path to `hearth` or `hearth-asan`
  HEARTH_FIXTURES_DIR   build/fixtures: tiny-qwen2-chat.gguf, tiny-bert-embed.gguf,
                        tiny-bert-rerank.gguf (random weights, real tokenizers)
  LLAMA_BIN_DIR         build/bin with llama-server, llama-completion, llama-embedding
  HEARTH_STORIES_MODEL  stories260K.gguf (a real, tiny TinyStories llama)
  HEARTH_SANITIZED      "1" for the ASan+UBSan binary (slower: timeouts are scaled)

Run by hand from the repository root:
  HEARTH_BIN=build/bin/hearth HEARTH_FIXTURES_DIR=build/fixtures LLAMA_BIN_DIR=build/bin \
  HEARTH_STORIES_MODEL=../shared/models/stories260K.gguf HEARTH_SANITIZED=0 \
  python3 -u tests/worker/test_worker.py -v
"""

import base64
import json
import math
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from harness import (HOST, SCALE, SANITIZED, MISSING, ManagedProcess, Reply, assert_error,  # noqa: E402
                     encode_body, free_port, http_request, metric_value, metrics, open_stream,
                     parse_sse, post, raw_exchange, raw_post, stop_and_check, stream_busy_ms,
                     wait_for_metric,
                     wait_until_healthy)

# ---------------------------------------------------------------------------------------------
# Environment
# ---------------------------------------------------------------------------------------------

_REQUIRED_ENV = ("HEARTH_BIN", "HEARTH_FIXTURES_DIR", "LLAMA_BIN_DIR", "HEARTH_STORIES_MODEL",
                 "HEARTH_SANITIZED")
ENV = {name: os.environ.get(name, "") for name in _REQUIRED_ENV}

HEARTH_BIN = ENV["HEARTH_BIN"]
FIXTURES = ENV["HEARTH_FIXTURES_DIR"]
LLAMA_BIN = ENV["LLAMA_BIN_DIR"]
STORIES = ENV["HEARTH_STORIES_MODEL"]
QWEN = os.path.join(FIXTURES, "tiny-qwen2-chat.gguf")
BERT_EMBED = os.path.join(FIXTURES, "tiny-bert-embed.gguf")
BERT_RERANK = os.path.join(FIXTURES, "tiny-bert-rerank.gguf")
LLAMA_SERVER = os.path.join(LLAMA_BIN, "llama-server")
LLAMA_COMPLETION = os.path.join(LLAMA_BIN, "llama-completion")
LLAMA_EMBEDDING = os.path.join(LLAMA_BIN, "llama-embedding")


def setUpModule():
    missing = [name for name in _REQUIRED_ENV if not ENV[name]]
    if missing:
        raise RuntimeError(
            "test_worker.py needs the environment variables %s (ctest sets them; see the header "
            "of tests/worker/test_worker.py to run it by hand)" % ", ".join(missing))
    if ENV["HEARTH_SANITIZED"] not in ("0", "1"):
        raise RuntimeError("HEARTH_SANITIZED must be 0 or 1, not %r" % ENV["HEARTH_SANITIZED"])
    files = [HEARTH_BIN, STORIES, QWEN, BERT_EMBED, BERT_RERANK, LLAMA_SERVER, LLAMA_COMPLETION,
             LLAMA_EMBEDDING]
    absent = [path for path in files if not os.path.isfile(path)]
    if absent:
        raise RuntimeError("missing files (build the `test-deps` target first): %s"
                           % ", ".join(absent))
    # The long-request probe needs ~85 s of wall time; it runs in the background meanwhile.
    LONG_REQUESTS.start()


def tearDownModule():
    LONG_REQUESTS.stop()


def model_name(path):
    return os.path.splitext(os.path.basename(path))[0]


# ---------------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------------











def start_worker(model_path, *extra_args, env=None):
    argv = [HEARTH_BIN, "worker", "--model", model_path, "--listen", HOST + ":0",
            "--threads", "1", *extra_args]
    process = ManagedProcess(argv, "hearth worker " + model_name(model_path), env=env)
    try:
        port = process.wait_for_port(30 * SCALE)
        wait_until_healthy(process, port, 60 * SCALE, ready_body={"status": "ready"},
                           loading_body={"status": "loading"})
    except BaseException:
        process.stop()
        raise
    return process, port


def start_llama_server(model_path, *extra_args):
    port = free_port()
    argv = [LLAMA_SERVER, "-m", model_path, "--host", HOST, "--port", str(port), "-t", "1",
            "--no-webui", *extra_args]
    process = ManagedProcess(argv, "llama-server " + model_name(model_path))
    try:
        wait_until_healthy(process, port, 120)
    except BaseException:
        process.stop()
        raise
    return process, port






# ---------------------------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------------------------
























# ---------------------------------------------------------------------------------------------
# Requests that outlive the server's keep-alive idle timeout (shortened with --idle-timeout)
# ---------------------------------------------------------------------------------------------


class LongRequestProbe:
    """Two requests kept running for HOLD_S seconds on a worker of their own: one streaming, one
    not. Started by setUpModule so its wall time overlaps the other tests; LongRequestTest reads
    the outcome. Each outcome is "alive" (still going at HOLD_S: good), "finished" (the model
    filled the context first: inconclusive) or a description of what went wrong."""

    IDLE_TIMEOUT_S = 3  # passed to the worker as --idle-timeout (the default is 75 s)
    HOLD_S = 8  # well past the idle timeout

    def __init__(self):
        self.worker = None
        self.port = None
        self.error = None
        self.outcomes = {}
        self.threads = []
        self.started = None

    def start(self):
        try:
            # Big slots, so that greedy generation cannot fill them within HOLD_S.
            self.worker, self.port = start_worker(STORIES, "--parallel", "2", "--context",
                                                  "131072", "--idle-timeout",
                                                  str(self.IDLE_TIMEOUT_S))
        except BaseException as error:  # reported by the test
            self.error = error
            return
        self.started = time.monotonic()
        for label, stream in (("streaming", True), ("non-streaming", False)):
            thread = threading.Thread(target=self._run, args=(label, stream), daemon=True)
            thread.start()
            self.threads.append(thread)

    def _run(self, label, stream):
        body = {"model": model_name(STORIES), "prompt": "Once upon a time", "temperature": 0,
                "max_tokens": 1000000, "ignore_eos": True, "stream": stream}
        received = b""
        try:
            with socket.create_connection((HOST, self.port), timeout=30) as sock:
                sock.sendall(raw_post("/v1/completions", body))
                while True:
                    left = self.HOLD_S - (time.monotonic() - self.started)
                    if left <= 0:
                        self.outcomes[label] = "alive"
                        return
                    sock.settimeout(left)
                    try:
                        chunk = sock.recv(65536)
                    except socket.timeout:
                        continue
                    if chunk:
                        received = (received + chunk)[-4096:]
                        continue
                    elapsed = time.monotonic() - self.started
                    if b"data: [DONE]" in received or (not stream and b'"finish_reason"' in
                                                       received):
                        self.outcomes[label] = "finished"
                    else:
                        self.outcomes[label] = (
                            "the server closed the connection after %.1fs without completing "
                            "the response (last bytes: %r)" % (elapsed, received[-200:]))
                    return
        except BaseException as error:
            self.outcomes[label] = "client error: %r" % error

    def wait(self):
        for thread in self.threads:
            thread.join(timeout=self.HOLD_S + 60)
        return dict(self.outcomes)

    def stop(self):
        if self.worker is not None:
            self.worker.stop()


LONG_REQUESTS = LongRequestProbe()


class LongRequestTest(unittest.TestCase):
    def test_requests_outlive_the_idle_timeout(self):
        """A generation that runs longer than the keep-alive idle timeout must not be cut
        off: the idle timer is for the gap between requests, not for a request in progress."""
        if LONG_REQUESTS.error is not None:
            raise LONG_REQUESTS.error
        outcomes = LONG_REQUESTS.wait()
        worker = LONG_REQUESTS.worker
        self.assertEqual(set(outcomes), {"streaming", "non-streaming"}, outcomes)
        if all(outcome == "finished" for outcome in outcomes.values()):
            self.skipTest("both generations filled the context within %ds" % LONG_REQUESTS.HOLD_S)
        for label, outcome in sorted(outcomes.items()):
            with self.subTest(label):
                self.assertIn(outcome, ("alive", "finished"), "%s request: %s" % (label, outcome))
        LONG_REQUESTS.worker = None
        stop_and_check(worker)


# ---------------------------------------------------------------------------------------------
# OpenAI object checks
# ---------------------------------------------------------------------------------------------





def assert_usage(test, usage, finish_reason=None, max_tokens=None):
    for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
        test.assertIsInstance(usage.get(key), int, usage)
    test.assertGreater(usage["prompt_tokens"], 0, usage)
    test.assertGreaterEqual(usage["completion_tokens"], 0, usage)
    test.assertEqual(usage["total_tokens"], usage["prompt_tokens"] + usage["completion_tokens"],
                     usage)
    if finish_reason == "length" and max_tokens is not None:
        test.assertEqual(usage["completion_tokens"], max_tokens, usage)
    if max_tokens is not None:
        test.assertLessEqual(usage["completion_tokens"], max_tokens, usage)


def assert_common(test, document, object_name, model, id_prefix):
    test.assertEqual(document.get("object"), object_name, document)
    test.assertIsInstance(document.get("id"), str, document)
    test.assertTrue(document["id"].startswith(id_prefix), document["id"])
    test.assertGreater(len(document["id"]), len(id_prefix))
    test.assertIsInstance(document.get("created"), int, document)
    test.assertLess(abs(document["created"] - time.time()), 3600, document["created"])
    test.assertEqual(document.get("model"), model, document)
    test.assertIsInstance(document.get("choices"), list, document)


def assert_completion(test, document, model, max_tokens):
    assert_common(test, document, "text_completion", model, "cmpl-")
    test.assertEqual(len(document["choices"]), 1, document)
    choice = document["choices"][0]
    test.assertEqual(choice["index"], 0)
    test.assertIsInstance(choice["text"], str)
    test.assertIn(choice["finish_reason"], ("stop", "length"), choice)
    assert_usage(test, document["usage"], choice["finish_reason"], max_tokens)
    return choice


def assert_chat_completion(test, document, model, max_tokens):
    assert_common(test, document, "chat.completion", model, "chatcmpl-")
    test.assertEqual(len(document["choices"]), 1, document)
    choice = document["choices"][0]
    test.assertEqual(choice["index"], 0)
    test.assertEqual(choice["message"]["role"], "assistant", choice)
    test.assertIn(choice["finish_reason"], ("stop", "length", "tool_calls"), choice)
    if not choice["message"].get("tool_calls"):
        test.assertIsInstance(choice["message"]["content"], str, choice)
    assert_usage(test, document["usage"], choice["finish_reason"], max_tokens)
    return choice


def stream_choices(test, payloads, obj, model, id_prefix, include_usage):
    """Checks what every stream shares (one id, object shape, one choice of index 0 per chunk,
    nothing after finish_reason, the usage chunk last). Yields (position, choice) and returns
    (finish_reason, usage) through the generator's return value."""
    ids = {payload["id"] for payload in payloads}
    test.assertEqual(len(ids), 1, "chunks carry different ids: %r" % ids)
    finish_reason = None
    usage = None
    for position, payload in enumerate(payloads):
        assert_common(test, payload, obj, model, id_prefix)
        if not payload["choices"]:
            test.assertTrue(include_usage, "a chunk without choices but no usage was asked for")
            test.assertEqual(position, len(payloads) - 1, "usage chunk is not the last one")
            usage = payload["usage"]
            continue
        test.assertIsNone(finish_reason, "a chunk after the one with finish_reason")
        test.assertEqual(len(payload["choices"]), 1, payload)
        choice = payload["choices"][0]
        test.assertEqual(choice["index"], 0)
        yield position, choice
        if choice.get("finish_reason") is not None:
            finish_reason = choice["finish_reason"]
    return finish_reason, usage


def check_stream_end(test, finish_reason, usage, allowed, max_tokens, include_usage):
    test.assertIn(finish_reason, allowed, "no chunk carried a finish_reason")
    if include_usage:
        test.assertIsNotNone(usage, "stream_options.include_usage gave no usage chunk")
        assert_usage(test, usage, finish_reason, max_tokens)


def completion_stream_text(test, payloads, model, max_tokens, include_usage):
    """Validates completion chunks; returns (text, finish_reason, usage or None)."""
    text = ""
    walk = stream_choices(test, payloads, "text_completion", model, "cmpl-", include_usage)
    while True:
        try:
            _, choice = next(walk)
        except StopIteration as end:
            finish_reason, usage = end.value
            break
        text += choice["text"]
    check_stream_end(test, finish_reason, usage, ("stop", "length"), max_tokens, include_usage)
    return text, finish_reason, usage


def chat_stream_text(test, payloads, model, max_tokens, include_usage):
    """Validates chat chunks; returns (content, finish_reason, usage or None, tool_call deltas)."""
    test.assertTrue(payloads, "empty stream")
    first = payloads[0]["choices"][0]
    test.assertEqual(first["delta"].get("role"), "assistant", "first chunk lacks the role")
    content = ""
    tool_calls = []
    walk = stream_choices(test, payloads, "chat.completion.chunk", model, "chatcmpl-",
                          include_usage)
    while True:
        try:
            position, choice = next(walk)
        except StopIteration as end:
            finish_reason, usage = end.value
            break
        delta = choice["delta"]
        if position > 0:
            test.assertNotIn("role", delta, "role repeated after the first chunk")
        content += delta.get("content") or ""
        tool_calls.extend(delta.get("tool_calls") or [])
    check_stream_end(test, finish_reason, usage, ("stop", "length", "tool_calls"), max_tokens,
                     include_usage)
    return content, finish_reason, usage, tool_calls


def llama_completion(model_path, prompt, n_predict):
    """Greedy text from llama.cpp's own CLI, without the echoed prompt."""
    argv = [LLAMA_COMPLETION, "-m", model_path, "-p", prompt, "-n", str(n_predict), "--temp", "0",
            "-no-cnv", "--no-warmup", "-t", "1", "--seed", "1", "--no-display-prompt",
            "--simple-io"]
    # llama.cpp's logger (which also prints the generated text) is an asynchronous thread that
    # the tool does not flush at exit, so on a busy machine the output is sometimes cut short.
    # The timing summary is logged after the text; when it made it out, so did the text.
    for _ in range(5):
        result = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError("llama-completion failed (%d): %s" % (
                result.returncode, result.stderr.decode("utf-8", "replace")[-2000:]))
        if b"common_perf_print:" in result.stderr and b"total time" in result.stderr:
            break
    else:
        raise RuntimeError("llama-completion kept losing its output (no timing summary)")
    text = result.stdout.decode("utf-8")
    # The tool always ends its output with "\n\n", after " [end of text]\n" when EOS came.
    if not text.endswith("\n\n"):
        raise RuntimeError("unexpected llama-completion output ending: %r" % text[-100:])
    text = text[:-2]
    hit_eos = text.endswith(" [end of text]\n")
    if hit_eos:
        text = text[: -len(" [end of text]\n")]
    return text, hit_eos


# ---------------------------------------------------------------------------------------------
# Base class: one worker per TestCase class
# ---------------------------------------------------------------------------------------------


class WorkerTestCase(unittest.TestCase):
    MODEL = None  # path, set by subclasses
    ARGS = ()
    worker = None
    port = None
    references = None

    @classmethod
    def setUpClass(cls):
        cls.name = model_name(cls.MODEL)
        cls.references = []
        cls.worker, cls.port = start_worker(cls.MODEL, *cls.ARGS)

    @classmethod
    def tearDownClass(cls):
        for process in cls.references:
            process.stop()
        if cls.worker is not None:
            stop_and_check(cls.worker)

    @classmethod
    def reference_server(cls, *args):
        """A llama-server on the same model, started once per class on first use."""
        key = "_reference_%s" % "_".join(args)
        if not hasattr(cls, key):
            process, port = start_llama_server(cls.MODEL, *args)
            cls.references.append(process)
            setattr(cls, key, port)
        return getattr(cls, key)

    def setUp(self):
        if not self.worker.alive():
            self.fail("the worker died earlier (status %s); log:\n%s"
                      % (self.worker.proc.returncode, self.worker.log_tail()))

    def post(self, path, body, timeout=60):
        return post(self.port, path, body, timeout=timeout)

    def post_ok(self, path, body, timeout=60):
        reply = self.post(path, body, timeout=timeout)
        self.assertEqual(reply.status, 200, reply)
        return reply.json()

    def complete(self, prompt, max_tokens=24, **extra):
        body = {"model": self.name, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0}
        body.update(extra)
        return self.post_ok("/v1/completions", body)

    def chat(self, messages, max_tokens=24, **extra):
        body = {"model": self.name, "messages": messages, "max_tokens": max_tokens,
                "temperature": 0}
        body.update(extra)
        return self.post_ok("/v1/chat/completions", body)

    def assert_still_serves(self):
        document = self.complete("Once upon a time", max_tokens=4)
        assert_completion(self, document, self.name, 4)


class GenerationShapeMixin:
    """Completions and chat, streamed and not, on the class's model."""

    PROMPT = "Once upon a time"
    MESSAGES = [{"role": "user", "content": "Tell me a story."}]

    def test_completion_object(self):
        document = self.complete(self.PROMPT, max_tokens=16)
        choice = assert_completion(self, document, self.name, 16)
        self.assertTrue(choice["text"], "empty completion")

    def test_completion_stream_matches_non_stream(self):
        plain = self.complete(self.PROMPT, max_tokens=16)
        reply = self.post("/v1/completions", {
            "model": self.name, "prompt": self.PROMPT, "max_tokens": 16, "temperature": 0,
            "stream": True, "stream_options": {"include_usage": True}})
        payloads = parse_sse(self, reply, busy_comment=True)
        text, finish_reason, usage = completion_stream_text(self, payloads, self.name, 16, True)
        self.assertEqual(text, plain["choices"][0]["text"])
        self.assertEqual(finish_reason, plain["choices"][0]["finish_reason"])
        self.assertEqual(usage["prompt_tokens"], plain["usage"]["prompt_tokens"])
        self.assertEqual(usage["completion_tokens"], plain["usage"]["completion_tokens"])

    def test_completion_stream_without_usage(self):
        reply = self.post("/v1/completions", {
            "model": self.name, "prompt": self.PROMPT, "max_tokens": 4, "temperature": 0,
            "stream": True})
        payloads = parse_sse(self, reply, busy_comment=True)
        completion_stream_text(self, payloads, self.name, 4, False)
        self.assertTrue(all(payload["choices"] for payload in payloads))
        self.assertTrue(all("usage" not in payload or payload["usage"] is None
                            for payload in payloads), "usage sent without include_usage")

    def test_chat_object(self):
        document = self.chat(self.MESSAGES, max_tokens=16)
        assert_chat_completion(self, document, self.name, 16)

    def test_chat_stream_matches_non_stream(self):
        plain = self.chat(self.MESSAGES, max_tokens=16)
        reply = self.post("/v1/chat/completions", {
            "model": self.name, "messages": self.MESSAGES, "max_tokens": 16, "temperature": 0,
            "stream": True, "stream_options": {"include_usage": True}})
        payloads = parse_sse(self, reply, busy_comment=True)
        content, finish_reason, usage, _ = chat_stream_text(self, payloads, self.name, 16, True)
        self.assertEqual(content, plain["choices"][0]["message"]["content"])
        self.assertEqual(finish_reason, plain["choices"][0]["finish_reason"])
        self.assertEqual(usage["prompt_tokens"], plain["usage"]["prompt_tokens"])
        self.assertEqual(usage["completion_tokens"], plain["usage"]["completion_tokens"])

    def test_models_health_metrics(self):
        reply = http_request(self.port, "GET", "/v1/models")
        self.assertEqual(reply.status, 200, reply)
        listing = reply.json()
        self.assertEqual(listing["object"], "list")
        self.assertEqual([card["id"] for card in listing["data"]], [self.name])
        self.assertEqual(listing["data"][0]["object"], "model")
        health = http_request(self.port, "GET", "/health")
        self.assertEqual((health.status, health.json()), (200, {"status": "ready"}))
        text = metrics(self.port)
        before = metric_value(text, "hearth_worker_requests_total")
        self.assertIsNotNone(before, "hearth_worker_requests_total missing:\n" + text)
        self.complete(self.PROMPT, max_tokens=2)
        wait_for_metric(self.port, "hearth_worker_requests_total", lambda v: v >= before + 1, 10)
        text = metrics(self.port)
        steps = metric_value(text, "hearth_worker_decode_calls_total")
        self.assertIsNotNone(steps, "hearth_worker_decode_calls_total missing:\n" + text)
        self.complete(self.PROMPT, max_tokens=3)  # one prompt step, then two decode steps
        wait_for_metric(self.port, "hearth_worker_decode_calls_total",
                        lambda v: v >= steps + 3, 10)
        text = metrics(self.port)
        self.assertIsNotNone(metric_value(text, "hearth_worker_gathered_jobs_total"), text)
        # Each request above reached an engine with nothing to do, which paused for company;
        # with one slot there is nothing to gather.
        waits = metric_value(text, "hearth_worker_admission_waits_total")
        self.assertIsNotNone(waits, text)
        slots = int(self.ARGS[self.ARGS.index("--parallel") + 1]) if "--parallel" in self.ARGS else 4
        if slots > 1:
            self.assertGreaterEqual(waits, 2)
        else:
            self.assertEqual(waits, 0)
        busy = metric_value(text, "hearth_worker_busy_slots")
        self.assertIsNotNone(busy, "hearth_worker_busy_slots missing:\n" + text)
        self.assertGreaterEqual(busy, 0)


class LoadFailureTest(unittest.TestCase):
    """A model that cannot be served: /health and every route say why, and the worker stays up."""

    def check_failed_worker(self, model_path, args, expected_in_message):
        process = ManagedProcess([HEARTH_BIN, "worker", "--model", model_path, "--listen",
                                  HOST + ":0", "--threads", "1", *args], "failing worker")
        try:
            port = process.wait_for_port(30 * SCALE)
            deadline = time.monotonic() + 60 * SCALE
            while True:
                health = http_request(port, "GET", "/health", timeout=5)
                if health.status != 503 or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            self.assertEqual(health.status, 500, health)
            body = health.json()
            self.assertEqual(body["status"], "error")
            self.assertEqual(body["error"]["code"], "model_load_failed")
            self.assertIn(expected_in_message, body["error"]["message"])
            reply = post(port, "/v1/completions", {"prompt": "Hello", "max_tokens": 2})
            error = assert_error(self, reply, 500, code="model_load_failed")
            self.assertIn(expected_in_message, error["message"])
            self.assertTrue(process.alive())
            self.assertIn(expected_in_message, process.log_text())
        finally:
            stop_and_check(process)

    def test_file_that_is_not_a_gguf(self):
        with tempfile.NamedTemporaryFile(suffix=".gguf") as bogus:
            bogus.write(b"this is not a GGUF file\n" * 64)
            bogus.flush()
            self.check_failed_worker(bogus.name, (), "GGUF")

    def test_kv_cache_type_the_model_cannot_hold(self):
        self.check_failed_worker(STORIES, ("--cache-type-k", "q8_0"),
                                 "--cache-type-k q8_0 stores blocks of 32")


# ---------------------------------------------------------------------------------------------
# stories260K: a real (tiny) model; greedy output is meaningful text
# ---------------------------------------------------------------------------------------------


class StoriesWorkerTest(GenerationShapeMixin, WorkerTestCase):
    MODEL = STORIES
    ARGS = ("--parallel", "4", "--context", "4096")

    GREEDY_PROMPTS = ("Once upon a time", "The little dog", "Tom and Sue went to the park")

    def test_greedy_matches_llama_completion(self):
        for prompt in self.GREEDY_PROMPTS:
            with self.subTest(prompt=prompt):
                expected, hit_eos = llama_completion(self.MODEL, prompt, 32)
                document = self.complete(prompt, max_tokens=32)
                choice = document["choices"][0]
                self.assertEqual(choice["text"], expected)
                self.assertEqual(choice["finish_reason"], "stop" if hit_eos else "length")

    def test_completions_match_llama_server(self):
        reference = self.reference_server("-np", "1", "-c", "1024")
        for prompt in self.GREEDY_PROMPTS:
            with self.subTest(prompt=prompt):
                body = {"prompt": prompt, "max_tokens": 32, "temperature": 0}
                theirs = post(reference, "/v1/completions", body)
                self.assertEqual(theirs.status, 200, theirs)
                theirs = theirs.json()
                ours = self.complete(prompt, max_tokens=32)
                self.assertEqual(ours["choices"][0]["text"], theirs["choices"][0]["text"])
                self.assertEqual(ours["choices"][0]["finish_reason"],
                                 theirs["choices"][0]["finish_reason"])
                self.assertEqual(ours["usage"]["prompt_tokens"], theirs["usage"]["prompt_tokens"])
                self.assertEqual(ours["usage"]["completion_tokens"],
                                 theirs["usage"]["completion_tokens"])

    def test_stop_sequence(self):
        full = self.complete("Once upon a time", max_tokens=32)["choices"][0]["text"]
        self.assertIn(" was", full, "the test prompt no longer produces ' was'")
        expected = full.split(" was", 1)[0]
        document = self.complete("Once upon a time", max_tokens=32, stop=[" was"])
        choice = assert_completion(self, document, self.name, 32)
        self.assertEqual(choice["text"], expected)
        self.assertEqual(choice["finish_reason"], "stop")
        reply = self.post("/v1/completions", {
            "model": self.name, "prompt": "Once upon a time", "max_tokens": 32,
            "temperature": 0, "stop": [" was"], "stream": True})
        text, finish_reason, _ = completion_stream_text(
            self, parse_sse(self, reply, busy_comment=True), self.name, 32, False)
        self.assertEqual((text, finish_reason), (expected, "stop"))
        # Chat, with a stop string taken from the middle of the unconstrained output (so it may
        # start inside a token).
        messages = [{"role": "user", "content": "Tell me a story."}]
        content = self.chat(messages, max_tokens=48)["choices"][0]["message"]["content"]
        self.assertGreater(len(content), 20, content)
        stop = content[10:14]
        expected = content[:content.index(stop)]
        for stream in (False, True):
            with self.subTest(stream=stream):
                reply = self.post("/v1/chat/completions", {
                    "model": self.name, "messages": messages, "max_tokens": 48,
                    "temperature": 0, "stop": stop, "stream": stream})
                if stream:
                    text, finish_reason, _, _ = chat_stream_text(
                        self, parse_sse(self, reply, busy_comment=True), self.name, 48, False)
                else:
                    self.assertEqual(reply.status, 200, reply)
                    choice = reply.json()["choices"][0]
                    text, finish_reason = choice["message"]["content"], choice["finish_reason"]
                self.assertEqual((text, finish_reason), (expected, "stop"), "stop %r" % stop)

    def test_concurrent_streams_are_independent(self):
        prompts = ["Once upon a time", "The little dog", "Tom and Sue went", "One day, a bird",
                   "Lily wanted to", "The sun was", "A big red ball", "Mom said"]
        max_tokens = 24
        sequential = {}
        for prompt in prompts:
            sequential[prompt] = self.complete(prompt, max_tokens=max_tokens)["choices"][0]["text"]
        barrier = threading.Barrier(len(prompts))
        results = {}
        errors = []

        def run(prompt):
            try:
                barrier.wait(timeout=30)
                reply = post(self.port, "/v1/completions", {
                    "model": self.name, "prompt": prompt, "max_tokens": max_tokens,
                    "temperature": 0, "stream": True}, timeout=120)
                results[prompt] = reply
            except BaseException as error:  # reported below, in the main thread
                errors.append((prompt, error))

        threads = [threading.Thread(target=run, args=(prompt,)) for prompt in prompts]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=180 * SCALE)
        self.assertFalse(any(thread.is_alive() for thread in threads), "a stream hung")
        self.assertEqual(errors, [])
        for prompt in prompts:
            with self.subTest(prompt=prompt):
                payloads = parse_sse(self, results[prompt], busy_comment=True)
                text, _, _ = completion_stream_text(self, payloads, self.name, max_tokens, False)
                self.assertEqual(text, sequential[prompt])

    def test_cancellations_under_load(self):
        """Streams dropped at different points while others run: the survivors are unaffected
        and every slot comes back."""
        expected = self.complete("The little dog", max_tokens=24)["choices"][0]["text"]
        errors = []
        survivors = []

        def drop_after(frames):
            try:
                sock = open_stream(self.port, "/v1/completions", {
                    "model": self.name, "prompt": "Once upon a time, a bear", "temperature": 0,
                    "max_tokens": 100000, "ignore_eos": True, "stream": True}, frames=frames)
                sock.close()
            except BaseException as error:
                errors.append(error)

        def survive():
            try:
                document = self.complete("The little dog", max_tokens=24)
                survivors.append(document["choices"][0]["text"])
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=drop_after, args=(frames,)) for frames in (1, 3, 8)]
        threads += [threading.Thread(target=survive) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120 * SCALE)
        self.assertFalse(any(thread.is_alive() for thread in threads), "a request hung")
        self.assertEqual(errors, [])
        self.assertEqual(survivors, [expected, expected])
        wait_for_metric(self.port, "hearth_worker_busy_slots", lambda v: v == 0, 30)
        self.assertEqual(self.complete("The little dog", max_tokens=24)["choices"][0]["text"],
                         expected)

    def test_several_prompts_in_one_request(self):
        prompts = ["Once upon a time", "The little dog"]
        document = self.post_ok("/v1/completions", {
            "model": self.name, "prompt": prompts, "max_tokens": 12, "temperature": 0})
        self.assertEqual([choice["index"] for choice in document["choices"]], [0, 1])
        for index, prompt in enumerate(prompts):
            alone = self.complete(prompt, max_tokens=12)["choices"][0]["text"]
            self.assertEqual(document["choices"][index]["text"], alone)


def busy_header_ms(test, reply):
    """x-hearth-busy-ms of a whole answer, checked for its shape."""
    value = reply.headers.get("x-hearth-busy-ms")
    test.assertIsNotNone(value, "no x-hearth-busy-ms: %r" % reply.headers)
    test.assertRegex(value, r"^\d+\.\d{3}$")
    return float(value)


def timed_post(port, path, body):
    """The reply and the request's wall time in milliseconds, as the client saw it."""
    start = time.monotonic()
    reply = post(port, path, body, timeout=120)
    return reply, (time.monotonic() - start) * 1000.0, start


def busy_seconds_total(port):
    return metric_value(metrics(port), "hearth_worker_busy_seconds_total")


class BusyTimeWorkerTest(WorkerTestCase):
    """Each answer carries its share of the engine's compute time: every step's duration divided
    among the requests in it by the tokens each put in it (src/engine/engine.hpp)."""

    MODEL = STORIES
    ARGS = ("--parallel", "2", "--context", "2048")

    def test_whole_answers_and_streams_carry_their_busy_time(self):
        chat = {"model": self.name, "messages": [{"role": "user", "content": "Tell me a story."}],
                "max_tokens": 24, "temperature": 0}
        completion = {"model": self.name, "prompt": "Once upon a time", "max_tokens": 24,
                      "temperature": 0}
        for path, body in (("/v1/chat/completions", chat), ("/v1/completions", completion)):
            with self.subTest(path=path, stream=False):
                reply, wall_ms, _ = timed_post(self.port, path, body)
                self.assertEqual(reply.status, 200, reply)
                busy = busy_header_ms(self, reply)
                self.assertGreater(busy, 0)
                self.assertLessEqual(busy, wall_ms)
            with self.subTest(path=path, stream=True):
                reply, wall_ms, _ = timed_post(self.port, path, dict(body, stream=True))
                self.assertTrue(parse_sse(self, reply, busy_comment=True))
                self.assertNotIn("x-hearth-busy-ms", reply.headers)
                busy = stream_busy_ms(reply)
                self.assertGreater(busy, 0)
                self.assertLessEqual(busy, wall_ms)
        # Errors carry none: no compute was spent on them.
        reply = self.post("/v1/completions", {"model": self.name, "prompt": "x", "max_tokens": -5})
        self.assertEqual(reply.status, 400, reply)
        self.assertNotIn("x-hearth-busy-ms", reply.headers)

    def test_concurrent_requests_share_the_steps_and_the_counter_adds_them_up(self):
        body = {"model": self.name, "prompt": "Once upon a time", "max_tokens": 400,
                "temperature": 0, "ignore_eos": True}
        before = busy_seconds_total(self.port)
        self.assertIsNotNone(before, "hearth_worker_busy_seconds_total is missing")
        barrier = threading.Barrier(2)
        results = []
        errors = []

        def run(prompt):
            try:
                barrier.wait(timeout=30)
                reply, wall_ms, start = timed_post(self.port, "/v1/completions",
                                                   dict(body, prompt=prompt))
                results.append((reply, start, start + wall_ms / 1000.0))
            except BaseException as error:  # reported below, in the main thread
                errors.append(error)

        threads = [threading.Thread(target=run, args=(prompt,))
                   for prompt in ("Once upon a time", "The little dog")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120 * SCALE)
        self.assertFalse(any(thread.is_alive() for thread in threads), "a request hung")
        self.assertEqual(errors, [])
        for reply, _, _ in results:
            self.assertEqual(reply.status, 200, reply)
            self.assertEqual(reply.json()["usage"]["completion_tokens"], 400)
        busy = [busy_header_ms(self, reply) for reply, _, _ in results]
        self.assertTrue(all(value > 0 for value in busy), busy)
        # Both were in flight together on the two slots: shared steps are divided, not charged
        # twice, so together they used no more than the time from the first start to the last
        # end (each value is rounded to the microsecond: the tolerance).
        span_ms = (max(end for _, _, end in results) - min(start for _, start, _ in results)) * 1e3
        self.assertLessEqual(sum(busy), span_ms + 0.01, (busy, span_ms))
        after = busy_seconds_total(self.port)
        self.assertAlmostEqual((after - before) * 1000.0, sum(busy), delta=0.01)


SENT_COMMENT = re.compile(r"^: hearth-sent-ns (\d+)$")


def stamped_frames(test, reply):
    """A stream's frames split into (stamp, frame) for every frame that is not a sent-time
    comment, stamp being the last `: hearth-sent-ns T` before it (None when none came first);
    also the stream's body with those comments taken out."""
    test.assertEqual(reply.status, 200, reply)
    frames = reply.body.decode("utf-8")[:-2].split("\n\n")
    stamp = None
    out = []
    for frame in frames:
        match = SENT_COMMENT.match(frame)
        if match:
            stamp = int(match.group(1))
        else:
            out.append((stamp, frame))
    body = "".join(frame + "\n\n" for _, frame in out).encode("utf-8")
    return out, Reply(reply.status, reply.headers, body)


class StampedStreamWorkerTest(WorkerTestCase):
    """--stamp-stream-writes (bench/run's chunk delivery times): every write of a stream starts
    with `: hearth-sent-ns T`, T the CLOCK_MONOTONIC time it was written, and the stream is
    otherwise unchanged."""

    MODEL = STORIES
    ARGS = ("--parallel", "2", "--stamp-stream-writes")

    def check_stamped_stream(self, port, path, body, whole_text):
        before = time.monotonic_ns()
        reply = post(port, path, dict(body, stream=True), timeout=120)
        after = time.monotonic_ns()
        frames, unstamped = stamped_frames(self, reply)
        stamps = [stamp for stamp, _ in frames]
        self.assertNotIn(None, stamps, "a frame came before any sent-time comment")
        self.assertEqual(stamps, sorted(stamps), "sent times go backwards")
        self.assertTrue(before <= stamps[0] and stamps[-1] <= after, (before, stamps, after))
        # One per write: a stream of several tokens is written several times.
        self.assertGreater(len(set(stamps)), 2, stamps)
        payloads = parse_sse(self, unstamped, busy_comment=True)
        if path == "/v1/completions":
            text = "".join(choice["text"] for payload in payloads for choice in payload["choices"])
        else:
            text = "".join(choice["delta"].get("content") or "" for payload in payloads
                           for choice in payload["choices"])
        self.assertEqual(text, whole_text)

    def test_every_write_of_a_stream_carries_its_sent_time(self):
        chat = {"model": self.name, "messages": [{"role": "user", "content": "Tell me a story."}],
                "max_tokens": 16, "temperature": 0}
        completion = {"model": self.name, "prompt": "Once upon a time", "max_tokens": 16,
                      "temperature": 0}
        whole = self.post_ok("/v1/completions", completion)
        self.assertNotIn("hearth-sent-ns", json.dumps(whole))
        self.check_stamped_stream(self.port, "/v1/completions", completion,
                                  whole["choices"][0]["text"])
        whole_chat = self.post_ok("/v1/chat/completions", chat)
        self.check_stamped_stream(self.port, "/v1/chat/completions", chat,
                                  whole_chat["choices"][0]["message"]["content"])

    def test_the_environment_variable_turns_it_on(self):
        # How bench/run reaches the workers a gateway spawns: they inherit its environment.
        process, port = start_worker(self.MODEL, env={"HEARTH_STAMP_STREAM_WRITES": "1"})
        try:
            completion = {"model": self.name, "prompt": "The little dog", "max_tokens": 8,
                          "temperature": 0}
            whole = post(port, "/v1/completions", completion, timeout=120)
            self.assertEqual(whole.status, 200, whole)
            self.check_stamped_stream(port, "/v1/completions", completion,
                                      whole.json()["choices"][0]["text"])
        finally:
            stop_and_check(process)


# ---------------------------------------------------------------------------------------------
# tiny-qwen2-chat: random weights, real Qwen2.5 tokenizer and chat template (with tools)
# ---------------------------------------------------------------------------------------------

WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}


class QwenChatWorkerTest(GenerationShapeMixin, WorkerTestCase):
    MODEL = QWEN
    ARGS = ("--parallel", "1", "--context", "2048")
    MESSAGES = [{"role": "system", "content": "You are terse."},
                {"role": "user", "content": "Tell me a story about a dragon."}]

    def test_completions_match_llama_server(self):
        reference = self.reference_server("-np", "1", "-c", "2048")
        # The last two make the random model emit multi-byte characters and lone UTF-8 bytes.
        for prompt in ("Once upon a time", "def fibonacci(n):", "日本語のテキスト", "emoji 🎉"):
            with self.subTest(prompt=prompt):
                body = {"prompt": prompt, "max_tokens": 24, "temperature": 0}
                theirs = post(reference, "/v1/completions", body)
                self.assertEqual(theirs.status, 200, theirs)
                theirs = theirs.json()
                ours = self.complete(prompt, max_tokens=24)
                self.assertEqual(ours["choices"][0]["text"], theirs["choices"][0]["text"])
                self.assertEqual(ours["usage"]["prompt_tokens"], theirs["usage"]["prompt_tokens"])

    def test_chat_matches_llama_server(self):
        reference = self.reference_server("-np", "1", "-c", "2048")
        conversations = [
            self.MESSAGES,
            [{"role": "user", "content": "Hello there"},
             {"role": "assistant", "content": "Hi! How can I help?"},
             {"role": "user", "content": [{"type": "text", "text": "Say "},
                                          {"type": "text", "text": "something."}]}],
        ]
        for messages in conversations:
            with self.subTest(messages=messages):
                body = {"messages": messages, "max_tokens": 24, "temperature": 0,
                        "logprobs": True, "top_logprobs": 3}
                theirs = post(reference, "/v1/chat/completions", body)
                self.assertEqual(theirs.status, 200, theirs)
                theirs = theirs.json()
                ours = self.chat(messages, max_tokens=24, logprobs=True, top_logprobs=3)
                # Same template rendering and tokenisation...
                self.assertEqual(ours["usage"]["prompt_tokens"], theirs["usage"]["prompt_tokens"])
                # ...and the same greedy continuation.
                self.assertEqual(ours["choices"][0]["message"]["content"],
                                 theirs["choices"][0]["message"]["content"])
                self.assertEqual(ours["choices"][0]["finish_reason"],
                                 theirs["choices"][0]["finish_reason"])
                our_tokens = ours["choices"][0]["logprobs"]["content"]
                their_tokens = theirs["choices"][0]["logprobs"]["content"]
                self.assertEqual([t["token"] for t in our_tokens],
                                 [t["token"] for t in their_tokens])
                for ours_at, theirs_at in zip(our_tokens[:4], their_tokens[:4]):
                    self.assertAlmostEqual(ours_at["logprob"], theirs_at["logprob"], delta=2e-3)
                    self.assertEqual([t["token"] for t in ours_at["top_logprobs"]],
                                     [t["token"] for t in theirs_at["top_logprobs"]])

    def test_tool_prompt_matches_llama_server(self):
        """The tools section of the template must render exactly as llama-server renders it,
        including a tool schema with its keys in the order the client sent them."""
        reference = self.reference_server("-np", "1", "-c", "2048")
        requests = {
            "tools declared": [{"role": "user", "content": "What is the weather in Paris?"}],
            "tool call history": [
                {"role": "user", "content": "What is the weather in Paris?"},
                {"role": "assistant", "content": None, "tool_calls": [{
                    "id": "call_1", "type": "function",
                    "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp_c\": 21}"},
            ],
        }
        for label, messages in requests.items():
            with self.subTest(label):
                body = {"messages": messages, "tools": [WEATHER_TOOL], "max_tokens": 1,
                        "temperature": 0}
                theirs = post(reference, "/v1/chat/completions", body)
                self.assertEqual(theirs.status, 200, theirs)
                ours = self.chat(messages, max_tokens=1, tools=[WEATHER_TOOL])
                self.assertEqual(
                    ours["usage"]["prompt_tokens"], theirs.json()["usage"]["prompt_tokens"],
                    "the prompt with tools differs from llama-server's rendering of the same "
                    "request (is the tool schema re-serialised with its keys reordered?)")

    def test_logprobs(self):
        document = self.chat(self.MESSAGES, max_tokens=6, logprobs=True, top_logprobs=3)
        choice = assert_chat_completion(self, document, self.name, 6)
        content = choice["logprobs"]["content"]
        self.assertEqual(len(content), document["usage"]["completion_tokens"])
        self.assertEqual("".join(entry["token"] for entry in content),
                         choice["message"]["content"])
        for entry in content:
            self.assertIsInstance(entry["token"], str)
            self.assertLessEqual(entry["logprob"], 0.0)
            self.assertTrue(math.isfinite(entry["logprob"]))
            self.assert_token_bytes(entry)
            top = entry["top_logprobs"]
            self.assertEqual(len(top), 3, entry)
            for alternative in top:
                self.assertLessEqual(alternative["logprob"], 0.0)
                self.assert_token_bytes(alternative)
            self.assertEqual([a["logprob"] for a in top],
                             sorted((a["logprob"] for a in top), reverse=True))
            # Greedy: the chosen token is the most likely one.
            self.assertEqual(top[0]["token"], entry["token"])
            self.assertAlmostEqual(top[0]["logprob"], entry["logprob"], places=5)
        # Without logprobs the field is null.
        plain = self.chat(self.MESSAGES, max_tokens=2)
        self.assertIsNone(plain["choices"][0].get("logprobs"))

    def assert_token_bytes(self, entry):
        """`bytes` is the token's raw UTF-8; `token` is its text, with U+FFFD for bytes that
        are not valid UTF-8 on their own (a piece of a multi-byte character)."""
        raw = bytes(entry["bytes"])
        self.assertTrue(raw, entry)
        try:
            self.assertEqual(raw.decode("utf-8"), entry["token"])
        except UnicodeDecodeError:
            self.assertIn("\ufffd", entry["token"], entry)

    def test_multibyte_stream_matches_non_stream(self):
        for prompt in ("日本語のテキスト", "emoji 🎉", "Привет мир"):
            with self.subTest(prompt=prompt):
                plain = self.complete(prompt, max_tokens=12, logprobs=1)
                text = plain["choices"][0]["text"]
                self.assertTrue(any(ord(c) > 127 for c in text), "no multi-byte output: %r"
                                % text)
                for entry in plain["choices"][0]["logprobs"]["content"]:
                    self.assert_token_bytes(entry)
                reply = self.post("/v1/completions", {
                    "model": self.name, "prompt": prompt, "max_tokens": 12, "temperature": 0,
                    "stream": True})
                streamed, _, _ = completion_stream_text(
                    self, parse_sse(self, reply, busy_comment=True), self.name, 12, False)
                self.assertEqual(streamed, text)

    def test_response_format_json_schema(self):
        schema = {"type": "object", "properties": {"name": {"type": "string"}},
                  "required": ["name"]}
        document = self.chat([{"role": "user", "content": "Give me a name as JSON."}],
                             max_tokens=96, response_format={
                                 "type": "json_schema",
                                 "json_schema": {"name": "person", "schema": schema}})
        choice = assert_chat_completion(self, document, self.name, 96)
        content = choice["message"]["content"]
        self.assertTrue(content.lstrip().startswith("{"), content)
        if choice["finish_reason"] == "length":
            return  # random weights may ramble inside a string; the prefix is all we can check
        parsed = json.loads(content)
        self.assertIsInstance(parsed, dict)
        self.assertIsInstance(parsed.get("name"), str, parsed)

    def test_response_format_keeps_property_order(self):
        """json_schema properties are generated in the order the schema declares them (as
        llama-server and OpenAI do): "zeta" must come before "alpha"."""
        schema = {"type": "object",
                  "properties": {"zeta": {"type": "string"}, "alpha": {"type": "string"}},
                  "required": ["zeta", "alpha"]}
        document = self.chat([{"role": "user", "content": "Fill in the form."}], max_tokens=40,
                             response_format={"type": "json_schema",
                                              "json_schema": {"name": "form", "schema": schema}})
        content = document["choices"][0]["message"]["content"]
        first_key = re.match(r'\s*\{\s*"(\w+)"', content)
        self.assertIsNotNone(first_key, "output does not open a JSON object: %r" % content)
        self.assertEqual(first_key.group(1), "zeta",
                         "the schema's property order was not kept: %r" % content[:120])

    def test_tool_choice_required(self):
        max_tokens = 48 if SANITIZED else 96
        body_extra = {"tools": [WEATHER_TOOL], "tool_choice": "required"}
        document = self.chat([{"role": "user", "content": "What is the weather in Paris?"}],
                             max_tokens=max_tokens, **body_extra)
        choice = assert_chat_completion(self, document, self.name, max_tokens)
        message = choice["message"]
        if choice["finish_reason"] == "length":
            # llama.cpp's grammar for "required" lets free text (here: endless newlines from the
            # random weights) precede the <tool_call>, so a random model may never reach it; the
            # same happens in llama-server. What must hold: no half-parsed call is reported.
            self.assertEqual(document["usage"]["completion_tokens"], max_tokens)
            self.assertFalse(message.get("tool_calls"),
                             "stopped on length (no complete tool call within %d tokens) but "
                             "reported tool_calls %r" % (max_tokens, message.get("tool_calls")))
            return
        self.assertEqual(choice["finish_reason"], "tool_calls", choice)
        calls = message["tool_calls"]
        self.assertGreaterEqual(len(calls), 1, message)
        for call in calls:
            self.assertEqual(call["type"], "function")
            self.assertTrue(call["id"])
            self.assertEqual(call["function"]["name"], "get_weather")
            self.assertIsInstance(json.loads(call["function"]["arguments"]), dict)

    def test_tool_request_validation(self):
        messages = [{"role": "user", "content": "hi"}]
        cases = [
            ({"tools": [WEATHER_TOOL], "tool_choice": "sometimes"}, "tool_choice"),
            ({"tool_choice": "required"}, "tool_choice"),
            ({"tools": [WEATHER_TOOL], "tool_choice": {"type": "function",
                                                       "function": {"name": "nope"}}},
             "tool_choice.function.name"),
            ({"tools": [WEATHER_TOOL, WEATHER_TOOL]}, "tools[1].function.name"),
            ({"tools": [{"type": "function", "function": {"name": "bad name!"}}]},
             "tools[0].function.name"),
            ({"tools": "get_weather"}, "tools"),
        ]
        for extra, param in cases:
            with self.subTest(extra=extra):
                body = {"model": self.name, "messages": messages, "max_tokens": 2}
                body.update(extra)
                assert_error(self, self.post("/v1/chat/completions", body), 400, param=param)
        self.assert_still_serves()

    def test_prefix_cache(self):
        messages = [{"role": "system", "content": "You are a helpful assistant. " * 8},
                    {"role": "user", "content": "Name three colours."}]
        first = self.chat(messages, max_tokens=8)
        second = self.chat(messages, max_tokens=8)
        details = second["usage"].get("prompt_tokens_details") or {}
        cached = details.get("cached_tokens")
        self.assertIsInstance(cached, int, second["usage"])
        self.assertGreater(cached, 0, "the repeated prompt was not served from the cache")
        self.assertLessEqual(cached, second["usage"]["prompt_tokens"])
        self.assertEqual(first["usage"]["prompt_tokens"], second["usage"]["prompt_tokens"])
        # Reusing the cache must not change the output.
        self.assertEqual(first["choices"][0]["message"]["content"],
                         second["choices"][0]["message"]["content"])

    def test_embeddings_rejected_on_chat_model(self):
        reply = self.post("/v1/embeddings", {"model": self.name, "input": "hello"})
        assert_error(self, reply, 400)
        reply = self.post("/v1/rerank", {"model": self.name, "query": "q", "documents": ["d"]})
        assert_error(self, reply, 400)
        self.assert_still_serves()


# ---------------------------------------------------------------------------------------------
# Embeddings and rerank
# ---------------------------------------------------------------------------------------------


def reference_embeddings(texts):
    separator = "<#hearth-sep#>"
    argv = [LLAMA_EMBEDDING, "-m", BERT_EMBED, "-p", separator.join(texts),
            "--embd-separator", separator, "--pooling", "mean", "--embd-normalize", "2",
            "--embd-output-format", "json", "--no-warmup", "-t", "1", "-c", "512"]
    # As with llama-completion, the output may be lost at exit on a busy machine: retry.
    for _ in range(5):
        result = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError("llama-embedding failed (%d): %s" % (
                result.returncode, result.stderr.decode("utf-8", "replace")[-2000:]))
        text = result.stdout.decode("utf-8", "replace")
        try:
            document = json.loads(text[text.index("{"):])
            break
        except ValueError:
            continue
    else:
        raise RuntimeError("llama-embedding printed no complete JSON; stdout %r, stderr %r"
                           % (text[-500:], result.stderr.decode("utf-8", "replace")[-1500:]))
    return [item["embedding"] for item in sorted(document["data"], key=lambda d: d["index"])]


def as_float32(value):
    return struct.unpack("<f", struct.pack("<f", value))[0]


class EmbeddingWorkerTest(WorkerTestCase):
    MODEL = BERT_EMBED
    TEXTS = ["hello world", "The quick brown fox jumps over the lazy dog.",
             "Ünïcödé text, with punctuation ✓"]

    def embed(self, payload):
        body = {"model": self.name}
        body.update(payload)
        return self.post_ok("/v1/embeddings", body)

    def assert_embedding_list(self, document, count):
        self.assertEqual(document["object"], "list")
        self.assertEqual(document["model"], self.name)
        self.assertEqual([item["index"] for item in document["data"]], list(range(count)))
        for item in document["data"]:
            self.assertEqual(item["object"], "embedding")
        usage = document["usage"]
        self.assertGreater(usage["prompt_tokens"], 0)
        self.assertEqual(usage["total_tokens"], usage["prompt_tokens"])

    def test_matches_llama_embedding(self):
        expected = reference_embeddings(self.TEXTS)
        self.assertEqual(len(expected), len(self.TEXTS))
        document = self.embed({"input": self.TEXTS})
        self.assert_embedding_list(document, len(self.TEXTS))
        for index, (item, reference) in enumerate(zip(document["data"], expected)):
            with self.subTest(text=self.TEXTS[index]):
                vector = item["embedding"]
                self.assertEqual(len(vector), len(reference))
                worst = max(abs(a - b) for a, b in zip(vector, reference))
                self.assertLessEqual(worst, 1e-4, "largest component difference %g" % worst)
                norm = math.sqrt(sum(x * x for x in vector))
                self.assertAlmostEqual(norm, 1.0, places=4)
        single = self.embed({"input": self.TEXTS[1]})
        self.assert_embedding_list(single, 1)
        worst = max(abs(a - b) for a, b in zip(single["data"][0]["embedding"], expected[1]))
        self.assertLessEqual(worst, 1e-4)

    def test_base64_matches_float(self):
        floats = self.embed({"input": self.TEXTS, "encoding_format": "float"})
        encoded = self.embed({"input": self.TEXTS, "encoding_format": "base64"})
        self.assert_embedding_list(encoded, len(self.TEXTS))
        for as_floats, as_base64 in zip(floats["data"], encoded["data"]):
            self.assertIsInstance(as_base64["embedding"], str)
            raw = base64.b64decode(as_base64["embedding"], validate=True)
            self.assertEqual(len(raw) % 4, 0)
            decoded = list(struct.unpack("<%df" % (len(raw) // 4), raw))
            self.assertEqual(decoded, [as_float32(x) for x in as_floats["embedding"]])

    def test_dimensions(self):
        width = len(self.embed({"input": "hello"})["data"][0]["embedding"])
        same = self.embed({"input": "hello", "dimensions": width})
        self.assertEqual(len(same["data"][0]["embedding"]), width)
        reply = self.post("/v1/embeddings", {"model": self.name, "input": "hello",
                                             "dimensions": width // 2})
        assert_error(self, reply, 400, param="dimensions")
        reply = self.post("/v1/embeddings", {"model": self.name, "input": "hello",
                                             "dimensions": 0})
        assert_error(self, reply, 400, param="dimensions")

    def test_bad_inputs(self):
        cases = [
            ({"input": ""}, "input"),
            ({"input": []}, "input"),
            ({"input": [99999999]}, "input"),
            ({"input": [["a"]]}, None),
            ({"input": {"text": "a"}}, "input"),
            ({"input": "a", "encoding_format": "binary"}, "encoding_format"),
            ({}, "input"),
        ]
        for payload, param in cases:
            with self.subTest(payload=payload):
                body = {"model": self.name}
                body.update(payload)
                error = assert_error(self, self.post("/v1/embeddings", body), 400)
                if param is not None:
                    self.assertEqual(error["param"], param, error)
        self.assertEqual(len(self.embed({"input": "still here"})["data"]), 1)

    def assert_still_serves(self):
        self.embed({"input": "hello"})

    def test_the_answer_carries_its_busy_time(self):
        reply, wall_ms, _ = timed_post(self.port, "/v1/embeddings",
                                       {"model": self.name, "input": self.TEXTS})
        self.assertEqual(reply.status, 200, reply)
        busy = busy_header_ms(self, reply)
        self.assertGreater(busy, 0)
        self.assertLessEqual(busy, wall_ms)


class RerankWorkerTest(WorkerTestCase):
    MODEL = BERT_RERANK
    QUERY = "What is a panda?"
    DOCUMENTS = ["hi", "The giant panda is a bear species endemic to China.",
                 "Paris is the capital of France."]

    def test_matches_llama_server(self):
        reference = self.reference_server("--reranking")
        theirs = post(reference, "/v1/rerank", {"query": self.QUERY, "documents": self.DOCUMENTS})
        self.assertEqual(theirs.status, 200, theirs)
        expected = {item["index"]: item["relevance_score"] for item in theirs.json()["results"]}
        self.assertEqual(sorted(expected), [0, 1, 2])
        ours = self.post_ok("/v1/rerank", {"model": self.name, "query": self.QUERY,
                                           "documents": self.DOCUMENTS})
        scores = {item["index"]: item["relevance_score"] for item in ours["results"]}
        self.assertEqual(sorted(scores), [0, 1, 2])
        for index in range(3):
            self.assertAlmostEqual(scores[index], expected[index], delta=1e-4)

    def test_the_answer_carries_its_busy_time(self):
        reply, wall_ms, _ = timed_post(self.port, "/v1/rerank", {
            "model": self.name, "query": self.QUERY, "documents": self.DOCUMENTS})
        self.assertEqual(reply.status, 200, reply)
        busy = busy_header_ms(self, reply)
        self.assertGreater(busy, 0)
        self.assertLessEqual(busy, wall_ms)

    def test_sorted_top_n_with_documents(self):
        full = self.post_ok("/v1/rerank", {"model": self.name, "query": self.QUERY,
                                           "documents": self.DOCUMENTS})
        self.assertEqual(full["model"], self.name)
        self.assertGreater(full["usage"]["prompt_tokens"], 0)
        all_scores = [item["relevance_score"] for item in full["results"]]
        self.assertEqual(all_scores, sorted(all_scores, reverse=True))
        document = self.post_ok("/v1/rerank", {"model": self.name, "query": self.QUERY,
                                               "documents": self.DOCUMENTS, "top_n": 2})
        results = document["results"]
        self.assertEqual(len(results), 2, document)
        self.assertEqual(results, full["results"][:2])
        scores = [item["relevance_score"] for item in results]
        self.assertEqual(scores, sorted(scores, reverse=True))
        for item in results:
            self.assertIn(item["index"], range(len(self.DOCUMENTS)))
            self.assertTrue(math.isfinite(item["relevance_score"]))
            returned = item["document"]
            text = returned["text"] if isinstance(returned, dict) else returned
            self.assertEqual(text, self.DOCUMENTS[item["index"]])
        # The best two of all three, in order.
        best = sorted(range(3), key=lambda i: -[r["relevance_score"] for r in full["results"]
                                                 if r["index"] == i][0])[:2]
        self.assertEqual([item["index"] for item in results], best)

    def test_bad_inputs(self):
        cases = [
            ({"query": "q", "documents": []}, "documents"),
            ({"query": "", "documents": ["d"]}, "query"),
            ({"documents": ["d"]}, "query"),
            ({"query": "q", "documents": [1]}, "documents[0]"),
            ({"query": "q", "documents": ["d"], "top_n": 0}, "top_n"),
        ]
        for payload, param in cases:
            with self.subTest(payload=payload):
                body = {"model": self.name}
                body.update(payload)
                assert_error(self, self.post("/v1/rerank", body), 400, param=param)
        reply = self.post("/v1/embeddings", {"model": self.name, "input": "hello"})
        assert_error(self, reply, 400)
        self.post_ok("/v1/rerank", {"model": self.name, "query": "q", "documents": ["d"]})


# ---------------------------------------------------------------------------------------------
# One slot: disconnects and the queue
# ---------------------------------------------------------------------------------------------


class SingleSlotWorkerTest(WorkerTestCase):
    MODEL = STORIES
    # A large context, so that an endless generation holds the slot for a long time.
    ARGS = ("--parallel", "1", "--queue", "1", "--context", "32768")

    ENDLESS = {"prompt": "Once upon a time", "max_tokens": 100000, "ignore_eos": True,
               "temperature": 0, "stream": True}

    def endless(self):
        body = dict(self.ENDLESS)
        body["model"] = self.name
        return body

    def wait_idle(self):
        wait_for_metric(self.port, "hearth_worker_busy_slots", lambda v: v == 0, 20)
        wait_for_metric(self.port, "hearth_worker_queue_depth", lambda v: v == 0, 20)

    def assert_prompt_service(self, budget):
        started = time.monotonic()
        document = self.complete("The little dog", max_tokens=8)
        elapsed = time.monotonic() - started
        assert_completion(self, document, self.name, 8)
        self.assertLess(elapsed, budget * SCALE,
                        "a new request took %.1fs: the slot was not freed" % elapsed)

    def test_disconnect_frees_the_slot(self):
        before = metrics(self.port)
        disconnects = metric_value(before, "hearth_worker_client_disconnects_total") or 0
        cancelled = metric_value(before, "hearth_worker_jobs_cancelled_total") or 0
        sock = open_stream(self.port, "/v1/completions", self.endless(), frames=2)
        sock.close()
        self.assert_prompt_service(10)
        deadline = time.monotonic() + 10 * SCALE
        while True:
            text = metrics(self.port)
            now_disconnects = metric_value(text, "hearth_worker_client_disconnects_total") or 0
            now_cancelled = metric_value(text, "hearth_worker_jobs_cancelled_total") or 0
            if now_disconnects > disconnects or now_cancelled > cancelled:
                break
            self.assertLess(time.monotonic(), deadline,
                            "no disconnect or cancellation counted:\n" + text)
            time.sleep(0.05)
        self.wait_idle()

    def test_disconnect_of_non_streaming_request(self):
        body = self.endless()
        body["stream"] = False
        sock = socket.create_connection((HOST, self.port), timeout=10 * SCALE)
        try:
            sock.sendall(raw_post("/v1/completions", body))
            wait_for_metric(self.port, "hearth_worker_busy_slots", lambda v: v == 1, 20)
        finally:
            sock.close()
        self.assert_prompt_service(10)
        self.wait_idle()

    def test_queue_full(self):
        rejections = metric_value(metrics(self.port), "hearth_worker_queue_full_rejections_total")
        holder = open_stream(self.port, "/v1/completions", self.endless(), frames=1)
        waiter = None
        try:
            waiter = socket.create_connection((HOST, self.port), timeout=10 * SCALE)
            waiter.sendall(raw_post("/v1/completions", self.endless()))
            wait_for_metric(self.port, "hearth_worker_queue_depth", lambda v: v >= 1, 20)
            for path, body in (
                    ("/v1/completions", {"model": self.name, "prompt": "Hi", "max_tokens": 2}),
                    ("/v1/chat/completions", {"model": self.name, "max_tokens": 2, "messages": [
                        {"role": "user", "content": "Hi"}]})):
                with self.subTest(path=path):
                    reply = self.post(path, body)
                    error = assert_error(self, reply, 503)
                    self.assertEqual(error["type"], "server_error", error)
                    self.assertIn("retry-after", reply.headers, reply.headers)
                    self.assertGreaterEqual(int(reply.headers["retry-after"]), 0)
            # Cheap endpoints still answer while the engine is saturated.
            self.assertEqual(http_request(self.port, "GET", "/health").status, 200)
            now = metric_value(metrics(self.port), "hearth_worker_queue_full_rejections_total")
            if rejections is not None and now is not None:
                self.assertGreaterEqual(now, rejections + 2)
        finally:
            holder.close()
            if waiter is not None:
                waiter.close()
        # Both the running and the queued request are gone: the worker must be free again.
        self.wait_idle()
        self.assert_prompt_service(10)


# ---------------------------------------------------------------------------------------------
# Bad input: every answer is an OpenAI error, and the worker keeps serving
# ---------------------------------------------------------------------------------------------


class BadInputTest(WorkerTestCase):
    MODEL = STORIES
    MAX_BODY = 65536
    ARGS = ("--parallel", "1", "--context", "256", "--max-body-bytes", str(MAX_BODY),
            "--alias", "storyteller")

    MESSAGES = [{"role": "user", "content": "Hi"}]

    def chat_body(self, **extra):
        body = {"model": self.name, "messages": self.MESSAGES, "max_tokens": 4}
        body.update(extra)
        return body

    def check(self, path, body, status, code=MISSING, param=MISSING):
        reply = self.post(path, body)
        error = assert_error(self, reply, status, code=code, param=param)
        self.assert_still_serves()
        return error

    def test_malformed_json(self):
        for body in (b'{"messages": [', b"{bad json}", b"", b'{"a":1}{"b":2}', b"nul"):
            with self.subTest(body=body):
                self.check("/v1/chat/completions", body, 400, code="invalid_json")

    def test_body_not_an_object(self):
        for value in ([1, 2], "text", 42, True, None):
            with self.subTest(value=value):
                body = json.dumps(value).encode("utf-8")  # valid JSON, but not an object
                self.check("/v1/chat/completions", body, 400, code="invalid_type")
                self.check("/v1/completions", body, 400, code="invalid_type")

    def test_wrong_types(self):
        cases = [
            ({"messages": "hi"}, "messages"),
            ({"temperature": "hot"}, "temperature"),
            ({"max_tokens": "many"}, "max_tokens"),
            ({"stream": "yes"}, "stream"),
            ({"stop": 5}, "stop"),
            ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
            ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role"),
            ({"messages": ["hi"]}, "messages[0]"),
            ({"temperature": 5}, "temperature"),
            ({"max_tokens": 0}, "max_tokens"),
            ({"max_tokens": -1}, "max_tokens"),
            ({"top_p": 1.5}, "top_p"),
            ({"logit_bias": {"abc": 1}}, "logit_bias.abc"),
            ({"stream_options": {"include_usage": True}}, "stream_options"),
            ({"response_format": {"type": "yaml"}}, "response_format.type"),
        ]
        for extra, param in cases:
            with self.subTest(extra=extra):
                self.check("/v1/chat/completions", self.chat_body(**extra), 400, param=param)

    def test_missing_and_empty_messages(self):
        body = {"model": self.name, "max_tokens": 4}
        self.check("/v1/chat/completions", body, 400, code="missing_required_parameter",
                   param="messages")
        self.check("/v1/chat/completions", self.chat_body(messages=[]), 400, param="messages")
        self.check("/v1/completions", {"model": self.name}, 400, param="prompt")
        self.check("/v1/completions", {"model": self.name, "prompt": []}, 400, param="prompt")

    def test_unknown_model(self):
        # OpenAI answers an unknown model with 404 model_not_found; so does the worker.
        error = self.check("/v1/chat/completions", self.chat_body(model="no-such-model"), 404,
                           code="model_not_found", param="model")
        self.assertIn("no-such-model", error["message"])
        self.check("/v1/completions", {"model": "no-such-model", "prompt": "hi"}, 404,
                   code="model_not_found", param="model")

    def test_n_greater_than_one(self):
        self.check("/v1/chat/completions", self.chat_body(n=2), 400, param="n")
        self.check("/v1/completions", {"model": self.name, "prompt": "hi", "n": 2}, 400,
                   param="n")

    def test_prompt_longer_than_context(self):
        long_text = "hello " * 600
        self.check("/v1/completions", {"model": self.name, "prompt": long_text, "max_tokens": 4},
                   400, code="context_length_exceeded")
        self.check("/v1/chat/completions",
                   self.chat_body(messages=[{"role": "user", "content": long_text}]), 400,
                   code="context_length_exceeded")
        body = {"model": self.name, "prompt": long_text, "max_tokens": 4, "stream": True}
        self.check("/v1/completions", body, 400, code="context_length_exceeded")

    def test_generation_stops_at_the_context(self):
        document = self.complete("Once upon a time", max_tokens=100000, ignore_eos=True)
        choice = document["choices"][0]
        self.assertEqual(choice["finish_reason"], "length")
        self.assertLessEqual(document["usage"]["total_tokens"], 256)
        self.assertGreater(document["usage"]["completion_tokens"], 100)

    def test_body_too_large(self):
        body = {"model": self.name, "prompt": "a" * (self.MAX_BODY + 1000), "max_tokens": 2}
        data = raw_post("/v1/completions", body, "Connection: close\r\n")
        answer = raw_exchange(self.port, data)
        head, _, payload = answer.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 413"), answer[:300])
        error = json.loads(payload.decode("utf-8"))["error"]
        self.assertEqual(set(error), {"message", "type", "param", "code"})
        # Also through an ordinary client that sends the whole body.
        try:
            reply = self.post("/v1/completions", body)
            assert_error(self, reply, 413)
        except (ConnectionResetError, BrokenPipeError):
            pass  # the server may close before the client has finished sending
        self.assert_still_serves()

    def test_invalid_utf8(self):
        for raw in (b'{"prompt": "caf\xe9", "max_tokens": 2}',
                    b'{"prompt": "\xff\xfe", "max_tokens": 2}',
                    b'{"prompt": "\xed\xa0\x80", "max_tokens": 2}',
                    b'{"prompt": "\xc0\xaf", "max_tokens": 2}'):
            with self.subTest(raw=raw):
                self.check("/v1/completions", raw, 400, code="invalid_utf8")
        self.check("/v1/completions", b'{"prompt": "\\ud800", "max_tokens": 2}', 400)

    def test_unknown_path(self):
        for path in ("/v1/nope", "/v2/chat/completions", "/", "/v1/chat/completions/extra"):
            with self.subTest(path=path):
                reply = http_request(self.port, "GET", path)
                assert_error(self, reply, 404)
                reply = http_request(self.port, "POST", path, {"x": 1})
                assert_error(self, reply, 404)
        self.assert_still_serves()

    def test_wrong_method(self):
        for method, path in (("GET", "/v1/chat/completions"), ("DELETE", "/v1/completions"),
                             ("PUT", "/v1/embeddings"), ("POST", "/health"),
                             ("POST", "/v1/models"), ("POST", "/metrics")):
            with self.subTest(method=method, path=path):
                reply = http_request(self.port, method, path, {} if method != "GET" else None)
                assert_error(self, reply, 405)
        self.assert_still_serves()

    def test_garbage_request_line(self):
        for garbage in (b"GARBAGE \x00\xff nonsense\r\n\r\n",
                        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)),
                        b"GET /health HTTP/9.9\r\n\r\n",
                        b"POST /v1/completions HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
                        b"POST /v1/completions HTTP/1.1\r\nContent-Length: 99999999999999999999"
                        b"\r\n\r\n",
                        b"POST /v1/completions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                        b"zz\r\n",
                        b"\r\n" * 50):
            with self.subTest(garbage=garbage[:40]):
                answer = raw_exchange(self.port, garbage, timeout=15)
                if answer:  # closing the connection without an answer is acceptable too
                    self.assertRegex(answer.split(b"\r\n", 1)[0],
                                     rb"^HTTP/1\.[01] (400|413|431|505) ")
                self.assertEqual(http_request(self.port, "GET", "/health").status, 200)
        self.assert_still_serves()

    def test_top_logprobs_without_logprobs(self):
        self.check("/v1/chat/completions", self.chat_body(top_logprobs=3), 400,
                   param="top_logprobs")
        self.check("/v1/chat/completions", self.chat_body(logprobs=True, top_logprobs=99), 400,
                   param="top_logprobs")

    def test_out_of_range_tokens_and_limits(self):
        cases = [
            ("/v1/completions", {"prompt": [99999999], "max_tokens": 2}, "prompt"),
            ("/v1/completions", {"prompt": [-1], "max_tokens": 2}, "prompt[0]"),
            ("/v1/completions", {"prompt": "hi", "logit_bias": {"99999999": 5}}, "logit_bias"),
            ("/v1/completions", {"prompt": "hi", "stop": [""]}, "stop[0]"),
            ("/v1/completions", {"prompt": "hi", "stop": ["x"] * 50}, "stop"),
            ("/v1/completions", {"prompt": "hi", "max_tokens": 2 ** 70}, "max_tokens"),
            ("/v1/completions", {"prompt": "hi", "suffix": "tail"}, "suffix"),
            ("/v1/chat/completions", {"messages": [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "http://127.0.0.1/x.png"}}]}]},
             "messages[0].content[0].type"),
            ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}],
                                      "response_format": {"type": "json_schema", "json_schema": {
                                          "name": "x", "schema": {"$ref": "#/nowhere"}}}},
             None),
        ]
        for path, payload, param in cases:
            with self.subTest(path=path, payload=str(payload)[:80]):
                body = {"model": self.name}
                body.update(payload)
                error = self.check(path, body, 400)
                if param is not None:
                    self.assertEqual(error["param"], param, error)

    def test_deeply_nested_json(self):
        depth = 30000  # the whole body stays under --max-body-bytes
        body = b'{"prompt": "hi", "x": ' + b"[" * depth + b"]" * depth + b"}"
        self.check("/v1/completions", body, 400, code="invalid_json")
        body = b'{"prompt": "hi", "x": ' + b'{"a":' * 10000 + b"1" + b"}" * 10000 + b"}"
        self.check("/v1/completions", body, 400, code="invalid_json")

    def test_pipelined_requests_on_one_connection(self):
        one = raw_post("/v1/completions", {"model": self.name, "prompt": "Hi", "max_tokens": 2})
        bad = raw_post("/v1/completions", b"{oops")
        last = raw_post("/v1/completions", {"model": self.name, "prompt": "Hi", "max_tokens": 2},
                        "Connection: close\r\n")
        answer = raw_exchange(self.port, one + bad + last)
        statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", answer)
        self.assertEqual(statuses, [b"200", b"400", b"200"], answer[:1000])

    def test_alias(self):
        document = self.post_ok("/v1/completions", {"model": "storyteller", "prompt": "Hi",
                                                    "max_tokens": 2})
        self.assertEqual(len(document["choices"]), 1)

    def test_unknown_paths_do_not_create_metric_series(self):
        """Request paths are client input: each unknown one must not become a new labelled
        series in /metrics (unbounded cardinality grows memory and the scrape forever)."""
        paths = ["/scan-%d-%s" % (i, "x" * 40) for i in range(20)]
        for path in paths:
            assert_error(self, http_request(self.port, "GET", path), 404)
        text = metrics(self.port)
        leaked = [path for path in paths if path in text]
        self.assertEqual(leaked, [], "unknown request paths appear as metric labels")

    def test_prefix_cache_single_slot(self):
        messages = [{"role": "user", "content": "Tell me about a cat and a dog."}]
        first = self.chat(messages, max_tokens=8)
        second = self.chat(messages, max_tokens=8)
        cached = (second["usage"].get("prompt_tokens_details") or {}).get("cached_tokens")
        self.assertIsInstance(cached, int, second["usage"])
        self.assertGreater(cached, 0)
        self.assertEqual(first["choices"][0]["message"]["content"],
                         second["choices"][0]["message"]["content"])


if __name__ == "__main__":
    unittest.main()
