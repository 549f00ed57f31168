#!/usr/bin/env python3
"""Tests of tests/support/fake_cloud.py, the fake OpenAI/Anthropic provider the placement
integration tests talk to. Standard library only (plus the `openssl` tool for certificates).
Run from the repository root:
  python3 -m unittest tests/support/test_fake_cloud.py -v
"""

import base64
import http.client
import json
import os
import queue
import re
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fake_cloud  # noqa: E402
from fake_cloud import FakeCloud  # noqa: E402

KEY = fake_cloud.DEFAULT_API_KEY
TIMEOUT = 10
CERTS = None  # a TemporaryDirectory holding one test CA and one untrusted certificate
CA = None
UNTRUSTED = None


def setUpModule():
    global CERTS, CA, UNTRUSTED
    CERTS = tempfile.TemporaryDirectory(prefix="hearth-fake-cloud-test-")
    CA = fake_cloud.make_test_ca(os.path.join(CERTS.name, "ca"))
    UNTRUSTED = fake_cloud.make_untrusted_cert(os.path.join(CERTS.name, "untrusted"))


def tearDownModule():
    CERTS.cleanup()


# ---------------------------------------------------------------------------------------------
# Client helpers
# ---------------------------------------------------------------------------------------------


def connect(cloud, context=None, host=fake_cloud.HOST):
    if cloud.tls:
        return http.client.HTTPSConnection(host, cloud.port, timeout=TIMEOUT, context=context)
    return http.client.HTTPConnection(host, cloud.port, timeout=TIMEOUT)


def openai_headers(key=KEY):
    return {"Authorization": "Bearer " + key, "Content-Type": "application/json"}


def anthropic_headers(key=KEY, version="2023-06-01"):
    headers = {"x-api-key": key, "Content-Type": "application/json"}
    if version is not None:
        headers["anthropic-version"] = version
    return headers


class Answer:
    def __init__(self, response, body):
        self.status = response.status
        self.headers = {name.lower(): value for name, value in response.getheaders()}
        self.body = body

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "Answer(%d, %r)" % (self.status, self.body[:400])


def exchange(connection, path, body, headers, method="POST"):
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    connection.request(method, path, body=data, headers=headers)
    response = connection.getresponse()
    return Answer(response, response.read())


def call(cloud, path, body, headers=None, context=None):
    connection = connect(cloud, context)
    try:
        return exchange(connection, path, body,
                        openai_headers() if headers is None else headers)
    finally:
        connection.close()


def chat_body(stream=False, **extra):
    body = {"model": "gpt-fake", "messages": [{"role": "system", "content": "Be brief."},
                                              {"role": "user", "content": "Say hello to me"}],
            "stream": stream}
    body.update(extra)
    return body


def messages_body(stream=False, **extra):
    body = {"model": "claude-fake", "max_tokens": 64, "system": "Be brief.",
            "messages": [{"role": "user", "content": [{"type": "text",
                                                       "text": "Say hello to me"}]}],
            "stream": stream}
    body.update(extra)
    return body


def parse_openai_sse(test, answer):
    """Strict `data: {json}\\n\\n` framing ending with `data: [DONE]`; returns the payloads."""
    test.assertEqual(answer.status, 200, answer)
    test.assertTrue(answer.headers["content-type"].startswith("text/event-stream"), answer.headers)
    test.assertEqual(answer.headers.get("transfer-encoding"), "chunked", answer.headers)
    text = answer.body.decode("utf-8")
    test.assertTrue(text.endswith("\n\n"), text[-100:])
    frames = text[:-2].split("\n\n")
    test.assertEqual(frames[-1], "data: [DONE]")
    payloads = []
    for frame in frames[:-1]:
        test.assertTrue(frame.startswith("data: "), frame)
        test.assertNotIn("\n", frame)
        payloads.append(json.loads(frame[len("data: "):]))
    return payloads


def parse_anthropic_sse(test, answer):
    """Strict `event: NAME\\ndata: {json}\\n\\n` framing, data.type == NAME; returns the pairs."""
    test.assertEqual(answer.status, 200, answer)
    test.assertTrue(answer.headers["content-type"].startswith("text/event-stream"), answer.headers)
    test.assertEqual(answer.headers.get("transfer-encoding"), "chunked", answer.headers)
    text = answer.body.decode("utf-8")
    test.assertTrue(text.endswith("\n\n"), text[-100:])
    events = []
    for frame in text[:-2].split("\n\n"):
        match = re.fullmatch(r"event: (\w+)\ndata: (.*)", frame)
        test.assertIsNotNone(match, "bad frame %r" % frame)
        data = json.loads(match.group(2))
        test.assertEqual(data["type"], match.group(1), frame)
        events.append((match.group(1), data))
    return events


def read_raw(sock):
    """Everything the peer sends until it closes."""
    received = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return received
        received += chunk


def raw_request(cloud, path, body, headers=None):
    data = json.dumps(body).encode()
    head = "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n" % (path, len(data))
    for name, value in (headers or openai_headers()).items():
        head += "%s: %s\r\n" % (name, value)
    return head.encode() + b"\r\n" + data


def dechunk(body):
    """Splits a chunked body into its chunks; returns (chunks, terminated)."""
    chunks = []
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return chunks, rest == b"\r\n"
        chunks.append(rest[:size])
        assert rest[size:size + 2] == b"\r\n", rest[:size + 2]
        body = rest[size + 2:]
    return chunks, False


class CloudTest(unittest.TestCase):
    TLS = False

    def setUp(self):
        self.cloud = FakeCloud(tls_dir=os.path.dirname(CA.ca_cert) if self.TLS else None)
        self.cloud.start()
        self.addCleanup(self.cloud.stop)

    def check_connection_reuse(self, context=None):
        """Four requests of both shapes, streamed or not, failed or not, on one connection."""
        connection = connect(self.cloud, context)
        self.addCleanup(connection.close)
        answers = [exchange(connection, "/v1/chat/completions", chat_body(stream=True),
                            openai_headers()),
                   exchange(connection, "/v1/chat/completions", chat_body(), openai_headers()),
                   exchange(connection, "/v1/messages", messages_body(stream=True),
                            anthropic_headers()),
                   exchange(connection, "/v1/chat/completions", chat_body(),
                            openai_headers("wrong"))]
        self.assertEqual([a.status for a in answers], [200, 200, 200, 401])
        self.assertEqual(self.cloud.connections_accepted, 1)
        self.assertEqual({r["connection"] for r in self.cloud.requests}, {1})
        other = connect(self.cloud, context)
        self.addCleanup(other.close)
        self.assertEqual(exchange(other, "/v1/embeddings", {"model": "e", "input": "x"},
                                  openai_headers()).status, 200)
        self.assertEqual(self.cloud.connections_accepted, 2)


# ---------------------------------------------------------------------------------------------
# OpenAI shape
# ---------------------------------------------------------------------------------------------


class OpenAIShapeTest(CloudTest):
    def test_chat_answers_the_default_text_echoing_the_model_with_word_count_usage(self):
        answer = call(self.cloud, "/v1/chat/completions", chat_body())
        self.assertEqual(answer.status, 200, answer)
        self.assertTrue(answer.headers["content-type"].startswith("application/json"))
        document = answer.json()
        self.assertEqual(document["object"], "chat.completion")
        self.assertEqual(document["model"], "gpt-fake")
        choice = document["choices"][0]
        self.assertEqual(choice["message"], {"role": "assistant",
                                             "content": "Hello from the fake cloud"})
        self.assertEqual(choice["finish_reason"], "stop")
        self.assertIsNone(choice["logprobs"])
        self.assertEqual(document["usage"], {"prompt_tokens": 6, "completion_tokens": 5,
                                             "total_tokens": 11})

    def test_chat_stream_is_chunked_sse_ending_with_done(self):
        payloads = parse_openai_sse(self, call(self.cloud, "/v1/chat/completions",
                                               chat_body(stream=True)))
        self.assertEqual(payloads[0]["choices"][0]["delta"], {"role": "assistant", "content": ""})
        text = "".join(p["choices"][0]["delta"].get("content") or "" for p in payloads)
        self.assertEqual(text, "Hello from the fake cloud")
        self.assertEqual(len(payloads), 1 + 5 + 1, "role chunk, one per word, finish chunk")
        self.assertEqual(payloads[-1]["choices"][0], {"index": 0, "delta": {}, "logprobs": None,
                                                      "finish_reason": "stop"})
        for payload in payloads:
            self.assertEqual(payload["object"], "chat.completion.chunk")
            self.assertEqual(payload["model"], "gpt-fake")
            self.assertNotIn("usage", payload)

        with_usage = parse_openai_sse(self, call(self.cloud, "/v1/chat/completions", chat_body(
            stream=True, stream_options={"include_usage": True}, model="other")))
        self.assertEqual(with_usage[-1]["choices"], [])
        self.assertEqual(with_usage[-1]["usage"], {"prompt_tokens": 6, "completion_tokens": 5,
                                                   "total_tokens": 11})
        self.assertTrue(all(p["usage"] is None for p in with_usage[:-1]))
        self.assertEqual(with_usage[0]["model"], "other")

    def test_completions_stream_and_not(self):
        body = {"model": "m", "prompt": "Once upon a time", "max_tokens": 3}
        document = call(self.cloud, "/v1/completions", body).json()
        self.assertEqual(document["object"], "text_completion")
        self.assertEqual(document["choices"][0]["text"], "Hello from the")
        self.assertEqual(document["choices"][0]["finish_reason"], "length")
        self.assertEqual(document["usage"], {"prompt_tokens": 4, "completion_tokens": 3,
                                             "total_tokens": 7})
        self.cloud.script({"reply": "a b"})
        payloads = parse_openai_sse(self, call(self.cloud, "/v1/completions",
                                               dict(body, stream=True, logprobs=1)))
        self.assertEqual([p["choices"][0]["text"] for p in payloads], ["a", " b", ""])
        self.assertEqual(payloads[-1]["choices"][0]["finish_reason"], "stop")
        self.assertEqual(payloads[1]["choices"][0]["logprobs"]["token_logprobs"], [-0.25])

    def test_echo_repeats_the_last_message_and_chunks_split_streams(self):
        self.cloud.script({"echo": True}, {"echo": True, "stream_chunk_chars": 3},
                          {"echo": True})
        body = chat_body(messages=[{"role": "system", "content": "be brief"},
                                   {"role": "user", "content": [
                                       {"type": "text", "text": "mail [EMAIL_1] "},
                                       {"type": "text", "text": "now"}]}])
        document = call(self.cloud, "/v1/chat/completions", body).json()
        self.assertEqual(document["choices"][0]["message"]["content"], "mail [EMAIL_1] now")
        payloads = parse_openai_sse(self, call(self.cloud, "/v1/chat/completions",
                                               dict(body, stream=True)))
        pieces = [p["choices"][0]["delta"].get("content") for p in payloads[1:-1]]
        self.assertEqual(pieces, ["mai", "l [", "EMA", "IL_", "1] ", "now"])
        completion = call(self.cloud, "/v1/completions",
                          {"model": "m", "prompt": "say [CARD_1]"}).json()
        self.assertEqual(completion["choices"][0]["text"], "say [CARD_1]")

    def test_embeddings_are_deterministic_and_sized(self):
        body = {"model": "embed", "input": ["one two", "three"], "dimensions": 4}
        first = call(self.cloud, "/v1/embeddings", body).json()
        second = call(self.cloud, "/v1/embeddings", body).json()
        self.assertEqual(first["data"], second["data"])
        self.assertEqual([item["index"] for item in first["data"]], [0, 1])
        self.assertEqual([len(item["embedding"]) for item in first["data"]], [4, 4])
        self.assertNotEqual(first["data"][0]["embedding"], first["data"][1]["embedding"])
        self.assertEqual(first["usage"], {"prompt_tokens": 3, "total_tokens": 3})
        encoded = call(self.cloud, "/v1/embeddings",
                       dict(body, encoding_format="base64")).json()
        decoded = struct.unpack("<4f", base64.b64decode(encoded["data"][0]["embedding"]))
        for got, want in zip(decoded, first["data"][0]["embedding"]):
            self.assertAlmostEqual(got, want, places=6)

    def test_logprobs_are_given_when_asked_with_scripted_values(self):
        self.cloud.script({"reply": "yes no maybe", "logprobs": [-0.5, -1.5]})
        document = call(self.cloud, "/v1/chat/completions",
                        chat_body(logprobs=True, top_logprobs=2)).json()
        content = document["choices"][0]["logprobs"]["content"]
        self.assertEqual([e["token"] for e in content], ["yes", " no", " maybe"])
        self.assertEqual([e["logprob"] for e in content], [-0.5, -1.5, -1.5])
        self.assertEqual(len(content[0]["top_logprobs"]), 2)
        self.assertEqual(content[0]["top_logprobs"][0]["token"], "yes")
        self.assertEqual(content[0]["bytes"], list(b"yes"))

        self.cloud.script({"reply": "yes no", "logprobs": -3})
        payloads = parse_openai_sse(self, call(self.cloud, "/v1/chat/completions",
                                               chat_body(stream=True, logprobs=True)))
        entries = [p["choices"][0]["logprobs"]["content"][0] for p in payloads[1:-1]]
        self.assertEqual([(e["token"], e["logprob"]) for e in entries], [("yes", -3), (" no", -3)])

    def test_finish_reason_and_max_tokens(self):
        self.cloud.script({"finish_reason": "length", "reply": "cut short"})
        document = call(self.cloud, "/v1/chat/completions", chat_body()).json()
        self.assertEqual(document["choices"][0]["finish_reason"], "length")
        self.assertEqual(document["choices"][0]["message"]["content"], "cut short")
        document = call(self.cloud, "/v1/chat/completions", chat_body(max_tokens=2)).json()
        self.assertEqual(document["choices"][0]["message"]["content"], "Hello from")
        self.assertEqual(document["choices"][0]["finish_reason"], "length")
        self.assertEqual(document["usage"]["completion_tokens"], 2)

    def test_tool_call_streams_as_argument_fragments(self):
        arguments = {"city": "Paris", "units": "celsius", "days": 3}
        self.cloud.script({"tool_call": {"name": "get_weather", "arguments": arguments}})
        payloads = parse_openai_sse(self, call(self.cloud, "/v1/chat/completions",
                                               chat_body(stream=True)))
        self.assertEqual(payloads[0]["choices"][0]["delta"], {"role": "assistant",
                                                              "content": None})
        calls = [p["choices"][0]["delta"]["tool_calls"][0] for p in payloads
                 if "tool_calls" in p["choices"][0]["delta"]]
        self.assertEqual(calls[0]["index"], 0)
        self.assertEqual(calls[0]["type"], "function")
        self.assertEqual(calls[0]["function"], {"name": "get_weather", "arguments": ""})
        self.assertTrue(calls[0]["id"].startswith("call_"), calls[0])
        fragments = [c["function"]["arguments"] for c in calls[1:]]
        self.assertGreater(len(fragments), 2, fragments)
        self.assertTrue(all("id" not in c and "name" not in c["function"] for c in calls[1:]))
        self.assertEqual(json.loads("".join(fragments)), arguments)
        self.assertEqual(payloads[-1]["choices"][0]["finish_reason"], "tool_calls")

        self.cloud.script({"tool_call": {"name": "get_weather", "arguments": arguments,
                                         "id": "call_x"}})
        message = call(self.cloud, "/v1/chat/completions",
                       chat_body()).json()["choices"][0]["message"]
        self.assertIsNone(message["content"])
        self.assertEqual(message["tool_calls"][0]["id"], "call_x")
        self.assertEqual(message["tool_calls"][0]["function"]["name"], "get_weather")
        self.assertEqual(json.loads(message["tool_calls"][0]["function"]["arguments"]), arguments)

    def test_wrong_or_missing_key_gets_401_in_the_openai_shape_and_is_recorded(self):
        for headers in (openai_headers("wrong"), {"Content-Type": "application/json"},
                        anthropic_headers()):
            answer = call(self.cloud, "/v1/chat/completions", chat_body(), headers=headers)
            self.assertEqual(answer.status, 401, answer)
            error = answer.json()["error"]
            self.assertEqual(set(error), {"message", "type", "param", "code"})
            self.assertEqual(error["code"], "invalid_api_key")
        self.assertEqual([r["status"] for r in self.cloud.requests], [401, 401, 401])
        self.assertEqual(self.cloud.requests[0]["headers"]["authorization"], "Bearer wrong")

    def test_bad_requests_get_400_and_unknown_paths_404(self):
        answer = call(self.cloud, "/v1/chat/completions", b"{not json")
        self.assertEqual(answer.status, 400, answer)
        self.assertEqual(answer.json()["error"]["type"], "invalid_request_error")
        answer = call(self.cloud, "/v1/chat/completions", {"messages": []})
        self.assertEqual(answer.json()["error"]["param"], "model")
        answer = call(self.cloud, "/v1/chat/completions", {"model": "m"})
        self.assertEqual(answer.json()["error"]["param"], "messages")
        self.assertEqual(call(self.cloud, "/v1/nothing", {}).status, 404)
        records = self.cloud.requests
        self.assertEqual([r["status"] for r in records], [400, 400, 400, 404])
        self.assertIsNone(records[0]["json"])
        self.assertEqual(records[0]["body"], b"{not json")


# ---------------------------------------------------------------------------------------------
# Anthropic shape
# ---------------------------------------------------------------------------------------------


class AnthropicShapeTest(CloudTest):
    def test_message_answer_has_the_messages_shape_and_usage(self):
        self.cloud.script({"usage": {"cache_read_input_tokens": 7}})
        answer = call(self.cloud, "/v1/messages", messages_body(), headers=anthropic_headers())
        self.assertEqual(answer.status, 200, answer)
        document = answer.json()
        self.assertEqual(set(document), {"id", "type", "role", "content", "model", "stop_reason",
                                         "stop_sequence", "usage"})
        self.assertEqual(document["type"], "message")
        self.assertEqual(document["role"], "assistant")
        self.assertEqual(document["model"], "claude-fake")
        self.assertEqual(document["content"], [{"type": "text",
                                                "text": "Hello from the fake cloud"}])
        self.assertEqual(document["stop_reason"], "end_turn")
        self.assertEqual(document["usage"], {"input_tokens": 6, "output_tokens": 5,
                                             "cache_creation_input_tokens": 0,
                                             "cache_read_input_tokens": 7})
        document = call(self.cloud, "/v1/messages", messages_body(max_tokens=1),
                        headers=anthropic_headers()).json()
        self.assertEqual(document["content"][0]["text"], "Hello")
        self.assertEqual(document["stop_reason"], "max_tokens")

    def test_stream_is_real_anthropic_sse(self):
        events = parse_anthropic_sse(self, call(self.cloud, "/v1/messages",
                                                messages_body(stream=True),
                                                headers=anthropic_headers()))
        self.assertEqual([name for name, _ in events],
                         ["message_start", "content_block_start", "ping"]
                         + ["content_block_delta"] * 5
                         + ["content_block_stop", "message_delta", "message_stop"])
        start = events[0][1]["message"]
        self.assertEqual(start["content"], [])
        self.assertIsNone(start["stop_reason"])
        self.assertEqual(start["usage"]["input_tokens"], 6)
        self.assertEqual(events[1][1]["content_block"], {"type": "text", "text": ""})
        deltas = [data["delta"] for name, data in events if name == "content_block_delta"]
        self.assertTrue(all(d["type"] == "text_delta" for d in deltas))
        self.assertEqual("".join(d["text"] for d in deltas), "Hello from the fake cloud")
        self.assertEqual(events[-2][1]["delta"], {"stop_reason": "end_turn",
                                                  "stop_sequence": None})
        self.assertEqual(events[-2][1]["usage"], {"output_tokens": 5})

    def test_tool_use_streams_as_input_json_deltas(self):
        arguments = {"query": "fake clouds", "limit": 10}
        self.cloud.script({"reply": "Let me look.",
                           "tool_call": {"name": "search", "arguments": arguments}})
        events = parse_anthropic_sse(self, call(self.cloud, "/v1/messages",
                                                messages_body(stream=True),
                                                headers=anthropic_headers()))
        starts = [data for name, data in events if name == "content_block_start"]
        self.assertEqual([s["index"] for s in starts], [0, 1])
        self.assertEqual(starts[1]["content_block"]["type"], "tool_use")
        self.assertEqual(starts[1]["content_block"]["name"], "search")
        self.assertEqual(starts[1]["content_block"]["input"], {})
        self.assertTrue(starts[1]["content_block"]["id"].startswith("toolu_"))
        json_deltas = [data["delta"] for name, data in events
                       if name == "content_block_delta" and data["index"] == 1]
        self.assertTrue(all(d["type"] == "input_json_delta" for d in json_deltas))
        self.assertGreater(len(json_deltas), 2)
        self.assertEqual(json.loads("".join(d["partial_json"] for d in json_deltas)), arguments)
        text = "".join(data["delta"]["text"] for name, data in events
                       if name == "content_block_delta" and data["index"] == 0)
        self.assertEqual(text, "Let me look.")
        self.assertEqual(events[-2][1]["delta"]["stop_reason"], "tool_use")

        self.cloud.script({"tool_call": {"name": "search", "arguments": arguments}})
        document = call(self.cloud, "/v1/messages", messages_body(),
                        headers=anthropic_headers()).json()
        self.assertEqual(document["stop_reason"], "tool_use")
        self.assertEqual(len(document["content"]), 1)
        self.assertEqual(document["content"][0]["type"], "tool_use")
        self.assertEqual(document["content"][0]["input"], arguments)

    def test_key_version_and_max_tokens_are_required(self):
        def error_of(body, headers):
            answer = call(self.cloud, "/v1/messages", body, headers=headers)
            document = answer.json()
            self.assertEqual(document["type"], "error", document)
            return answer.status, document["error"]["type"]

        self.assertEqual(error_of(messages_body(), anthropic_headers("wrong")),
                         (401, "authentication_error"))
        self.assertEqual(error_of(messages_body(), openai_headers()),
                         (401, "authentication_error"))
        self.assertEqual(error_of(messages_body(), anthropic_headers(version=None)),
                         (400, "invalid_request_error"))
        no_limit = messages_body()
        del no_limit["max_tokens"]
        self.assertEqual(error_of(no_limit, anthropic_headers()), (400, "invalid_request_error"))
        self.cloud.script({"status": 529})
        self.assertEqual(error_of(messages_body(), anthropic_headers()),
                         (529, "overloaded_error"))
        self.assertEqual(self.cloud.request_count, 5)


# ---------------------------------------------------------------------------------------------
# Scripted behaviour
# ---------------------------------------------------------------------------------------------


class ScriptTest(CloudTest):
    def test_statuses_are_consumed_in_order_then_the_default(self):
        self.cloud.script({"status": 429, "headers": {"Retry-After": "2"}}, {"status": 500},
                          {"status": 200, "body": "not json"}, {"reply": "scripted"})
        answers = [call(self.cloud, "/v1/chat/completions", chat_body()) for _ in range(5)]
        self.assertEqual([a.status for a in answers], [429, 500, 200, 200, 200])
        self.assertEqual(answers[0].headers["retry-after"], "2")
        self.assertEqual(answers[0].json()["error"]["code"], "rate_limit_exceeded")
        self.assertEqual(answers[1].json()["error"]["type"], "server_error")
        self.assertEqual(answers[2].body, b"not json")
        contents = [a.json()["choices"][0]["message"]["content"] for a in answers[3:]]
        self.assertEqual(contents, ["scripted", "Hello from the fake cloud"])
        self.assertEqual(self.cloud.requests[0]["behaviour"]["status"], 429)

        self.cloud.set_default({"status": 503})
        self.assertEqual(call(self.cloud, "/v1/embeddings", {}).status, 503)
        self.assertEqual(call(self.cloud, "/v1/embeddings", {}).status, 503)
        with self.assertRaises(ValueError):
            self.cloud.script({"stauts": 500})

    def test_delay_holds_the_response_header(self):
        self.cloud.script({"delay_ms": 300})
        started = time.monotonic()
        answer = call(self.cloud, "/v1/chat/completions", chat_body())
        self.assertEqual(answer.status, 200)
        self.assertGreaterEqual(time.monotonic() - started, 0.3)

    def test_delay_first_token_sends_the_header_first(self):
        self.cloud.script({"delay_first_token_ms": 500})
        connection = connect(self.cloud)
        self.addCleanup(connection.close)
        connection.request("POST", "/v1/chat/completions", json.dumps(chat_body(stream=True)),
                           openai_headers())
        response = connection.getresponse()
        header_at = time.monotonic()
        self.assertEqual(response.status, 200)
        first = response.read1(65536)
        first_byte_at = time.monotonic()
        self.assertTrue(first.startswith(b"data: "), first)
        self.assertGreaterEqual(first_byte_at - header_at, 0.25)
        response.read()

    def test_cut_after_chunks_drops_the_connection_mid_stream(self):
        self.cloud.script({"cut_after_chunks": 2})
        with self.assertRaises(http.client.IncompleteRead):
            call(self.cloud, "/v1/chat/completions", chat_body(stream=True))

        self.cloud.script({"cut_after_chunks": 3})
        with socket.create_connection((fake_cloud.HOST, self.cloud.port), TIMEOUT) as sock:
            sock.sendall(raw_request(self.cloud, "/v1/messages", messages_body(stream=True),
                                     anthropic_headers()))
            received = read_raw(sock)
        head, _, body = received.partition(b"\r\n\r\n")
        self.assertIn(b"transfer-encoding: chunked", head.lower())
        chunks, terminated = dechunk(body)
        self.assertFalse(terminated)
        self.assertEqual(len(chunks), 3)
        self.assertTrue(chunks[2].startswith(b"event: ping\n"), chunks)
        self.assertEqual([r["outcome"] for r in self.cloud.requests], ["cut", "cut"])

    def test_close_without_response_and_the_next_request_is_normal(self):
        self.cloud.script({"close_without_response": True})
        with self.assertRaises(http.client.RemoteDisconnected):
            call(self.cloud, "/v1/chat/completions", chat_body())
        self.assertEqual(call(self.cloud, "/v1/chat/completions", chat_body()).status, 200)
        records = self.cloud.requests
        self.assertEqual([(r["status"], r["outcome"]) for r in records],
                         [(None, "closed"), (200, "complete")])

    def test_error_event_and_raw_events(self):
        self.cloud.script({"error_after_chunks": 2},
                          {"raw_events": ["data: {\"partial\": \n\n", "data: [DONE]\n\n"]})
        text = call(self.cloud, "/v1/chat/completions", chat_body(stream=True)).body.decode()
        frames = text.strip().split("\n\n")
        self.assertEqual(len(frames), 3)
        self.assertIn("error", json.loads(frames[2][len("data: "):]))
        raw = call(self.cloud, "/v1/chat/completions", chat_body(stream=True))
        self.assertEqual(raw.body, b"data: {\"partial\": \n\ndata: [DONE]\n\n")

        self.cloud.script({"error_after_chunks": 1})
        events = parse_anthropic_sse(self, call(self.cloud, "/v1/messages",
                                                messages_body(stream=True),
                                                headers=anthropic_headers()))
        self.assertEqual([name for name, _ in events], ["message_start", "error"])
        self.assertEqual(events[1][1]["error"]["type"], "overloaded_error")


# ---------------------------------------------------------------------------------------------
# The record, connections, lifetime
# ---------------------------------------------------------------------------------------------


class RecordTest(CloudTest):
    def test_every_received_byte_is_recorded(self):
        request = raw_request(self.cloud, "/v1/chat/completions?x=1", chat_body(),
                              {"Authorization": "Bearer " + KEY, "X-Mixed-Case": "Value"})
        with socket.create_connection((fake_cloud.HOST, self.cloud.port), TIMEOUT) as sock:
            sock.sendall(request + b"GET /v1/nowhere HTTP/1.1\r\nHost: h\r\n"
                         b"Connection: close\r\n\r\n")
            received = read_raw(sock)
        self.assertEqual(received.count(b"HTTP/1.1 "), 2, received)
        first, second = self.cloud.requests
        self.assertEqual(first["raw"], request)
        self.assertEqual(first["method"], "POST")
        self.assertEqual(first["path"], "/v1/chat/completions?x=1")
        self.assertEqual(first["headers"]["x-mixed-case"], "Value")
        self.assertTrue(all(name == name.lower() for name in first["headers"]))
        self.assertEqual(first["json"], chat_body())
        self.assertEqual(first["body"], json.dumps(chat_body()).encode())
        self.assertEqual((first["status"], first["outcome"]), (200, "complete"))
        self.assertEqual(second["method"], "GET")
        self.assertEqual(second["status"], 404)
        self.assertIsNone(second["json"])
        self.assertEqual(first["connection"], second["connection"])
        self.assertLessEqual(first["monotonic"], second["monotonic"])
        self.assertLess(abs(first["time"] - time.time()), 60)
        self.assertEqual(self.cloud.request_count, 2)

    def test_chunked_request_bodies_and_parse_failures_are_recorded(self):
        data = json.dumps(chat_body()).encode()
        body = b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (10, data[:10], len(data) - 10, data[10:])
        request = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked"
                   b"\r\nAuthorization: Bearer " + KEY.encode() + b"\r\n\r\n" + body)
        with socket.create_connection((fake_cloud.HOST, self.cloud.port), TIMEOUT) as sock:
            sock.sendall(request + b"NONSENSE\r\n\r\n")
            read_raw(sock)
        first, second = self.cloud.requests
        self.assertEqual(first["status"], 200)
        self.assertEqual(first["json"], chat_body())
        self.assertEqual(first["raw"], request)
        self.assertEqual(second["status"], 400)
        self.assertEqual(second["raw"], b"NONSENSE\r\n")

    def test_wait_for_requests_is_bounded(self):
        worker = threading.Thread(target=call, args=(self.cloud, "/v1/chat/completions",
                                                     chat_body()))
        worker.start()
        records = self.cloud.wait_for(lambda rs: rs and rs[0]["outcome"] == "complete")
        worker.join(TIMEOUT)
        self.assertEqual(records[0]["status"], 200)
        started = time.monotonic()
        with self.assertRaises(AssertionError):
            self.cloud.wait_for_requests(2, timeout=0.2)
        self.assertLess(time.monotonic() - started, 2)

    def test_reset_empties_the_record_script_and_counters(self):
        self.cloud.script({"status": 500}, {"status": 500})
        call(self.cloud, "/v1/chat/completions", chat_body())
        self.cloud.reset()
        self.assertEqual(self.cloud.state(), {"request_count": 0, "connections_accepted": 0,
                                              "tls_handshake_failures": 0, "pending_script": 0})
        self.assertEqual(call(self.cloud, "/v1/chat/completions", chat_body()).status, 200)


class KeepAliveTest(CloudTest):
    def test_one_connection_serves_several_requests(self):
        self.check_connection_reuse()

    def test_stop_drops_idle_keep_alive_connections_promptly(self):
        connection = connect(self.cloud)
        self.addCleanup(connection.close)
        self.assertEqual(exchange(connection, "/v1/chat/completions", chat_body(),
                                  openai_headers()).status, 200)
        self.cloud.script({"delay_ms": 30000})
        slow = threading.Thread(target=lambda: self.assertRaises(
            (http.client.HTTPException, OSError), call, self.cloud, "/v1/chat/completions",
            chat_body()))
        slow.start()
        self.cloud.wait_for_requests(2)
        started = time.monotonic()
        self.cloud.stop()
        self.assertLess(time.monotonic() - started, 2)
        slow.join(TIMEOUT)
        self.assertFalse(slow.is_alive())
        with self.assertRaises((http.client.HTTPException, OSError)):
            exchange(connection, "/v1/chat/completions", chat_body(), openai_headers())


# ---------------------------------------------------------------------------------------------
# TLS
# ---------------------------------------------------------------------------------------------


class TlsTest(CloudTest):
    TLS = True

    def test_the_test_ca_verifies_for_the_ip_and_localhost_with_keep_alive(self):
        self.assertTrue(self.cloud.url.startswith("https://127.0.0.1:"), self.cloud.url)
        self.assertEqual(self.cloud.ca_cert, CA.ca_cert)
        context = ssl.create_default_context(cafile=CA.ca_cert)
        self.check_connection_reuse(context)
        localhost = connect(self.cloud, context, host="localhost")
        self.addCleanup(localhost.close)
        self.assertEqual(exchange(localhost, "/v1/chat/completions", chat_body(),
                                  openai_headers()).status, 200)
        self.assertTrue(all(r["tls"] for r in self.cloud.requests))
        self.assertEqual(self.cloud.tls_handshake_failures, 0)

    def test_without_the_ca_verification_fails(self):
        with self.assertRaises(ssl.SSLCertVerificationError):
            call(self.cloud, "/v1/chat/completions", chat_body(),
                 context=ssl.create_default_context())
        self.cloud.wait_until(lambda: self.cloud.tls_handshake_failures == 1)
        self.assertEqual(self.cloud.request_count, 0)

    def test_an_untrusted_certificate_fails_even_with_the_ca(self):
        with FakeCloud(tls_cert=UNTRUSTED.cert, tls_key=UNTRUSTED.key) as untrusted:
            with self.assertRaises(ssl.SSLCertVerificationError):
                call(untrusted, "/v1/chat/completions", chat_body(),
                     context=ssl.create_default_context(cafile=CA.ca_cert))
            # The certificate itself is sound: pinning it works.
            pinned = ssl.create_default_context(cafile=UNTRUSTED.cert)
            self.assertEqual(call(untrusted, "/v1/chat/completions", chat_body(),
                                  context=pinned).status, 200)

    def test_tls_true_makes_a_private_ca(self):
        with FakeCloud(tls=True) as private:
            directory = os.path.dirname(private.ca_cert)
            context = ssl.create_default_context(cafile=private.ca_cert)
            self.assertEqual(call(private, "/v1/chat/completions", chat_body(),
                                  context=context).status, 200)
            with self.assertRaises(ssl.SSLCertVerificationError):
                call(private, "/v1/chat/completions", chat_body(),
                     context=ssl.create_default_context(cafile=CA.ca_cert))
        self.assertFalse(os.path.exists(directory))


# ---------------------------------------------------------------------------------------------
# Subprocess mode
# ---------------------------------------------------------------------------------------------


class SubprocessTest(unittest.TestCase):
    def test_command_line_with_tls_and_control_endpoints(self):
        directory = tempfile.TemporaryDirectory(prefix="hearth-fake-cloud-cli-")
        self.addCleanup(directory.cleanup)
        tls_dir = os.path.join(directory.name, "tls")
        process = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "fake_cloud.py"), "--port", "0",
             "--tls-dir", tls_dir], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT)

        def finish():
            if process.poll() is None:
                process.kill()
                process.wait(TIMEOUT)
            process.stdout.close()
        self.addCleanup(finish)
        lines = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in process.stdout],
                         daemon=True).start()
        line = lines.get(timeout=TIMEOUT).decode()
        match = re.fullmatch(r"fake cloud listening on (https://127\.0\.0\.1:(\d+)/v1)\n", line)
        self.assertIsNotNone(match, line)
        port = int(match.group(2))
        context = ssl.create_default_context(cafile=os.path.join(tls_dir, "ca.pem"))

        def request(method, path, body=None, headers=None):
            connection = http.client.HTTPSConnection(fake_cloud.HOST, port, timeout=TIMEOUT,
                                                     context=context)
            try:
                return exchange(connection, path, body, headers or {}, method=method)
            finally:
                connection.close()

        scripted = request("POST", "/_control/script", [{"status": 503}, {"reply": "second"}])
        self.assertEqual(scripted.json(), {"pending": 2})
        self.assertEqual(request("POST", "/_control/script", {"bogus": 1}).status, 400)
        self.assertEqual(request("POST", "/v1/chat/completions", chat_body(),
                                 openai_headers()).status, 503)
        answer = request("POST", "/v1/chat/completions", chat_body(), openai_headers())
        self.assertEqual(answer.json()["choices"][0]["message"]["content"], "second")
        records = request("GET", "/_control/requests").json()
        self.assertEqual([r["status"] for r in records], [503, 200])
        self.assertEqual(records[0]["json"], chat_body())
        self.assertEqual(base64.b64decode(records[0]["body_base64"]),
                         json.dumps(chat_body()).encode())
        self.assertTrue(base64.b64decode(records[0]["raw_base64"]).startswith(
            b"POST /v1/chat/completions HTTP/1.1\r\n"))
        state = request("GET", "/_control/state").json()
        self.assertEqual(state["request_count"], 2)
        self.assertEqual(request("POST", "/_control/reset").status, 200)
        self.assertEqual(request("GET", "/_control/requests").json(), [])

        process.send_signal(signal.SIGTERM)
        self.assertEqual(process.wait(TIMEOUT), 0)


if __name__ == "__main__":
    unittest.main()
