#!/usr/bin/env python3
"""Integration tests for placement (issue 4): policy rules, target chains, fallback, retries,
circuit breakers, escalation, the Anthropic translation, TLS to providers, provider keys and
offline start. A real `hearth serve` with a real `hearth worker` on stories260K, in front of fake
cloud providers (tests/support/fake_cloud.py: real HTTP(S) servers on loopback).

Environment (set by ctest): HEARTH_BIN, HEARTH_STORIES_MODEL, HEARTH_SANITIZED. By hand:
  HEARTH_BIN=build/bin/hearth HEARTH_SANITIZED=0 \
  HEARTH_STORIES_MODEL=../shared/models/stories260K.gguf python3 -u tests/gateway/test_placement.py -v
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from harness import (SCALE, assert_error, children_of, free_port, http_request,  # noqa: E402
                     metric_value, metrics, parse_sse, start_gateway, stop_and_check, wait_until)
from fake_cloud import FakeCloud  # noqa: E402

HEARTH_BIN = os.environ.get("HEARTH_BIN", "")
STORIES = os.path.abspath(os.environ.get("HEARTH_STORIES_MODEL", "")) if os.environ.get("HEARTH_STORIES_MODEL") else ""

OPENAI_KEY = "sk-test-openai-5f2a9c"  # what the fake OpenAI-shaped provider expects
ANTHROPIC_KEY = "sk-ant-test-77d1e0"
OTHER_KEY = "sk-test-other-0b3e11"


def setUpModule():
    if not HEARTH_BIN or not STORIES:
        raise RuntimeError("test_placement.py needs HEARTH_BIN and HEARTH_STORIES_MODEL")
    for path in (HEARTH_BIN, STORIES):
        if not os.path.isfile(path):
            raise RuntimeError("missing file (build `test-deps` first): %s" % path)


def clock(minute):
    minute %= 1440
    return "%02d:%02d" % (minute // 60, minute % 60)


def now_minute():
    now = time.localtime()
    return now.tm_hour * 60 + now.tm_min


def chat(text="Once upon a time", **extra):
    body = {"model": "stories", "messages": [{"role": "user", "content": text}],
            "max_tokens": 8, "temperature": 0}
    body.update(extra)
    return body


def post(port, body, headers=None, path="/v1/chat/completions"):
    return http_request(port, "POST", path, body, headers=headers)


def sse_payloads(reply):
    """The JSON payloads of an SSE body and whether it ended with [DONE]."""
    text = reply.body.decode("utf-8")
    payloads, done = [], False
    for frame in text.split("\n\n"):
        if not frame.startswith("data: "):
            continue
        data = frame[len("data: "):]
        if data == "[DONE]":
            done = True
        else:
            payloads.append(json.loads(data))
    return payloads, done


class PlacementTestCase(unittest.TestCase):
    """Starts fake providers, writes CONFIG (str.format with {stories}, {openai_url}, {other_url},
    {other_root} (other_url without /v1, for a remote backend), {anthropic_url}, {ca},
    {dead_url}, {dir}) and starts one gateway for the class."""

    CONFIG = ""
    TLS = False
    LATER = 300  # minutes from now to the start of {later_window}
    ENV = {"OPENAI_KEY": OPENAI_KEY, "ANTHROPIC_KEY": ANTHROPIC_KEY, "OTHER_KEY": OTHER_KEY}

    @classmethod
    def setUpClass(cls):
        cls.directory = tempfile.TemporaryDirectory(prefix="hearth-placement-test-")
        cls.openai = FakeCloud(api_key=OPENAI_KEY, tls=cls.TLS).start()
        cls.other = FakeCloud(api_key=OTHER_KEY).start()
        cls.anthropic = FakeCloud(api_key=ANTHROPIC_KEY).start()
        cls.fakes = [cls.openai, cls.other, cls.anthropic]
        cls.gateway = None
        try:
            cls.prepare(cls.directory.name)
            text = textwrap.dedent(cls.CONFIG).format(
                stories=STORIES, openai_url=cls.openai.url, other_url=cls.other.url,
                anthropic_url=cls.anthropic.url, ca=getattr(cls.openai, "ca_cert", "") or "",
                other_root=cls.other.url[:-len("/v1")],
                dead_url="http://127.0.0.1:%d/v1" % free_port(), dir=cls.directory.name,
                now_window=clock(now_minute() - 120) + "-" + clock(now_minute() + 120),
                later_window=clock(now_minute() + cls.LATER) + "-" +
                clock(now_minute() + cls.LATER + 120))
            cls.config_path = os.path.join(cls.directory.name, "hearth.yaml")
            with open(cls.config_path, "w") as config:
                config.write(text)
            cls.gateway, cls.port = start_gateway(HEARTH_BIN, cls.config_path, env=cls.ENV)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def prepare(cls, directory):
        """Writes files the configuration needs before it is checked."""

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.gateway is not None:
                stop_and_check(cls.gateway)
        finally:
            for fake in cls.fakes:
                fake.stop()
            cls.directory.cleanup()

    def setUp(self):
        if not self.gateway.alive():
            self.fail("the gateway died earlier; log:\n%s" % self.gateway.log_tail())
        for fake in self.fakes:
            fake.reset()

    def assert_placed(self, reply, rule, target, placement, status=200):
        self.assertEqual(reply.status, status, reply)
        self.assertEqual(reply.headers.get("x-hearth-rule"), rule, reply.headers)
        self.assertEqual(reply.headers.get("x-hearth-target"), target, reply.headers)
        self.assertEqual(reply.headers.get("x-hearth-placement"), placement, reply.headers)

    def access_log_lines(self):
        lines = []
        for line in self.gateway.log_text().splitlines():
            if line.startswith("{") and '"method"' in line:
                lines.append(json.loads(line))
        return lines


# ---------------------------------------------------------------------------------------------
# Rules: every attribute, chains, the placement header, keys
# ---------------------------------------------------------------------------------------------


class RuleTest(PlacementTestCase):
    CONFIG = """
        default_model: stories
        providers:
          - name: openai-fake
            base_url: {openai_url}
            api_key_env: OPENAI_KEY
          - name: anthropic-fake
            api: anthropic
            base_url: {anthropic_url}
            api_key_env: ANTHROPIC_KEY
          - name: other-fake
            base_url: {other_url}
            api_key_env: OTHER_KEY
        models:
          - name: stories
            path: {stories}
            context: 1024
            parallel: 2
            threads: 1
          - name: cloud-gpt
            provider: openai-fake
            upstream_model: gpt-fake-mini
            price: {{input: 1.0, output: 2.0}}
          - name: cloud-claude
            provider: anthropic-fake
            upstream_model: claude-fake
          - name: cloud-other
            provider: other-fake
        policy:
          rules:
            - name: sensitive
              match: {{sensitivity: [pii, secret]}}
              targets: [stories]
              never_cloud: true
            - name: triage
              match: {{workload: triage}}
              targets: [cloud-gpt, stories]
            - name: acme
              match: {{tenant: acme}}
              targets: [cloud-claude]
            - name: completions
              match: {{task: completion}}
              targets: [stories]
            - name: named-model
              match: {{model: [gpt-4o]}}
              targets: [cloud-other]
            - name: big-prompt
              match: {{prompt_tokens: {{min: 500}}}}
              targets: [cloud-gpt]
            - name: long-answer
              match: {{max_tokens: {{min: 1000}}}}
              targets: [cloud-other]
            - name: with-tools
              match: {{tools: true}}
              targets: [cloud-claude]
            - name: with-images
              match: {{images: true}}
              targets: [cloud-gpt]
            - name: toggle
              match: {{workload: toggle}}
              targets: [cloud-gpt, stories]
              allow_placement: true
            - name: never-cloud-toggle
              match: {{workload: secret-toggle}}
              targets: [stories]
              never_cloud: true
              allow_placement: true
            - name: local-mode
              match: {{placement: [local]}}
              targets: [stories]
            - name: cheap
              match: {{workload: cheap}}
              targets: [cloud-gpt, stories]
              max_cost_per_request: 0.0001
            - name: business-hours
              match: {{workload: batch, time_of_day: ["{now_window}"]}}
              targets: [stories]
            - name: off-hours
              match: {{workload: offhours, time_of_day: ["{later_window}"]}}
              targets: [cloud-gpt]
        """

    def test_no_rule_sends_to_the_requested_model(self):
        reply = post(self.port, chat())
        self.assert_placed(reply, "default", "stories", "local")
        self.assertEqual(self.openai.request_count, 0)

    def test_sensitivity_label_keeps_the_request_local(self):
        reply = post(self.port, chat(model="cloud-gpt"), {"x-hearth-sensitivity": "PII"})
        self.assert_placed(reply, "sensitive", "stories", "local")
        for fake in self.fakes:
            self.assertEqual(fake.request_count, 0)

    def test_workload_header_and_metadata_select_the_rule(self):
        reply = post(self.port, chat(), {"x-hearth-workload": "triage"})
        self.assert_placed(reply, "triage", "cloud-gpt", "cloud")
        reply = post(self.port, chat(metadata={"workload": "triage"}))
        self.assert_placed(reply, "triage", "cloud-gpt", "cloud")
        self.assertEqual(self.openai.request_count, 2)
        recorded = self.openai.requests[0]
        self.assertEqual(recorded["json"]["model"], "gpt-fake-mini")  # upstream name
        self.assertEqual(recorded["headers"]["authorization"], "Bearer " + OPENAI_KEY)
        self.assertEqual(recorded["path"], "/v1/chat/completions")
        self.assertEqual(reply.json()["choices"][0]["message"]["content"],
                         "Hello from the fake cloud")

    def test_tenant_selects_the_anthropic_provider(self):
        reply = post(self.port, chat(max_tokens=50), {"x-hearth-tenant": "acme"})
        self.assert_placed(reply, "acme", "cloud-claude", "cloud")
        recorded = self.anthropic.requests[0]
        self.assertEqual(recorded["path"], "/v1/messages")
        self.assertEqual(recorded["headers"]["x-api-key"], ANTHROPIC_KEY)
        self.assertNotIn("authorization", recorded["headers"])

    def test_task_selects_the_rule(self):
        reply = post(self.port, {"model": "cloud-gpt", "prompt": "Once", "max_tokens": 4},
                     path="/v1/completions")
        self.assert_placed(reply, "completions", "stories", "local")

    def test_requested_model_selects_the_rule(self):
        reply = post(self.port, chat(model="gpt-4o"))
        self.assert_placed(reply, "named-model", "cloud-other", "cloud")
        self.assertEqual(self.other.requests[0]["json"]["model"], "cloud-other")

    def test_prompt_size_selects_the_rule(self):
        reply = post(self.port, chat(text="word " * 600))  # ~750 estimated tokens
        self.assert_placed(reply, "big-prompt", "cloud-gpt", "cloud")

    def test_max_tokens_selects_the_rule(self):
        reply = post(self.port, chat(max_tokens=2000))
        self.assert_placed(reply, "long-answer", "cloud-other", "cloud")

    def test_tools_select_the_rule(self):
        tools = [{"type": "function", "function": {"name": "lookup", "parameters": {
            "type": "object", "properties": {"q": {"type": "string"}}}}}]
        reply = post(self.port, chat(tools=tools, max_tokens=50))
        self.assert_placed(reply, "with-tools", "cloud-claude", "cloud")
        self.assertEqual(self.anthropic.requests[0]["json"]["tools"][0]["name"], "lookup")

    def test_images_select_the_rule(self):
        content = [{"type": "text", "text": "What is this?"},
                   {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]
        reply = post(self.port, {"model": "stories", "max_tokens": 8,
                                 "messages": [{"role": "user", "content": content}]})
        self.assert_placed(reply, "with-images", "cloud-gpt", "cloud")

    def test_time_of_day_selects_the_rule(self):
        reply = post(self.port, chat(), {"x-hearth-workload": "batch"})
        self.assert_placed(reply, "business-hours", "stories", "local")
        reply = post(self.port, chat(), {"x-hearth-workload": "offhours"})
        self.assert_placed(reply, "default", "stories", "local")
        self.assertEqual(self.openai.request_count, 0)

    def test_placement_header_refused_without_permission(self):
        reply = post(self.port, chat(), {"x-hearth-workload": "triage",
                                         "x-hearth-placement": "local"})
        assert_error(self, reply, 403, "placement_not_allowed", "x-hearth-placement")
        self.assertEqual(self.openai.request_count, 0)

    def test_placement_header_matched_by_a_rule(self):
        reply = post(self.port, chat(model="cloud-gpt"), {"x-hearth-placement": "local"})
        self.assert_placed(reply, "local-mode", "stories", "local")
        self.assertEqual(self.openai.request_count, 0)

    def test_placement_header_honoured_where_allowed(self):
        reply = post(self.port, chat(), {"x-hearth-workload": "toggle"})
        self.assert_placed(reply, "toggle", "cloud-gpt", "cloud")
        reply = post(self.port, chat(), {"x-hearth-workload": "toggle",
                                         "x-hearth-placement": "local"})
        self.assert_placed(reply, "toggle", "stories", "local")
        self.assertEqual(self.openai.request_count, 1)
        reply = post(self.port, chat(), {"x-hearth-workload": "toggle",
                                         "x-hearth-placement": "auto"})
        self.assert_placed(reply, "toggle", "cloud-gpt", "cloud")

    def test_placement_cloud_refused_by_never_cloud(self):
        reply = post(self.port, chat(), {"x-hearth-workload": "secret-toggle",
                                         "x-hearth-placement": "cloud"})
        assert_error(self, reply, 403, "placement_not_allowed", "x-hearth-placement")
        self.assertIn("never_cloud", reply.json()["error"]["message"])

    def test_invalid_placement_header(self):
        reply = post(self.port, chat(), {"x-hearth-placement": "moon"})
        assert_error(self, reply, 400, "invalid_placement", "x-hearth-placement")

    def test_cost_cap_skips_the_cloud_target(self):
        reply = post(self.port, chat(max_tokens=100), {"x-hearth-workload": "cheap"})
        self.assert_placed(reply, "cheap", "stories", "local")
        self.assertIn("cloud-gpt: estimated cost", reply.headers.get("x-hearth-fallback", ""))
        self.assertEqual(self.openai.request_count, 0)

    def test_cloud_cost_is_counted_from_usage(self):
        before = metric_value(metrics(self.port), "hearth_gateway_cloud_cost_usd_total") or 0
        reply = post(self.port, chat(text="one two three four"), {"x-hearth-workload": "triage"})
        self.assertEqual(reply.status, 200, reply)
        usage = reply.json()["usage"]
        expected = (usage["prompt_tokens"] * 1.0 + usage["completion_tokens"] * 2.0) / 1e6
        after = metric_value(metrics(self.port), "hearth_gateway_cloud_cost_usd_total")
        self.assertAlmostEqual(after - before, expected, places=12)

    def test_cloud_cost_is_counted_from_a_streamed_usage_chunk(self):
        before = metric_value(metrics(self.port), "hearth_gateway_cloud_cost_usd_total") or 0
        reply = post(self.port, chat(text="one two three", stream=True,
                                     stream_options={"include_usage": True}),
                     {"x-hearth-workload": "triage"})
        payloads = parse_sse(self, reply)
        usage = payloads[-1]["usage"]
        expected = (usage["prompt_tokens"] * 1.0 + usage["completion_tokens"] * 2.0) / 1e6
        after = metric_value(metrics(self.port), "hearth_gateway_cloud_cost_usd_total")
        self.assertAlmostEqual(after - before, expected, places=12)

    def test_access_log_has_the_placement(self):
        post(self.port, chat(), {"x-hearth-workload": "triage"})
        line = wait_until(lambda: [l for l in self.access_log_lines() if l.get("rule") == "triage"],
                          10, "no access log line for the triage rule")[-1]
        self.assertEqual(line["placement"], "cloud")
        self.assertEqual(line["model"], "cloud-gpt")

    def test_provider_keys_stay_with_their_provider_and_out_of_logs(self):
        post(self.port, chat(), {"x-hearth-workload": "triage"})
        post(self.port, chat(model="gpt-4o"))
        post(self.port, chat(max_tokens=50), {"x-hearth-tenant": "acme"})
        for fake, own in ((self.openai, OPENAI_KEY), (self.other, OTHER_KEY),
                          (self.anthropic, ANTHROPIC_KEY)):
            raw = b"".join(request["raw"] for request in fake.requests)
            self.assertIn(own.encode(), raw)
            for key in {OPENAI_KEY, OTHER_KEY, ANTHROPIC_KEY} - {own}:
                self.assertNotIn(key.encode(), raw)
        log = self.gateway.log_text()
        for key in (OPENAI_KEY, OTHER_KEY, ANTHROPIC_KEY):
            self.assertNotIn(key, log)
        config_dump = subprocess.run([HEARTH_BIN, "config", "explain", self.config_path],
                                     capture_output=True, text=True, timeout=30 * SCALE,
                                     env=dict(os.environ, **self.ENV))
        self.assertEqual(config_dump.returncode, 0, config_dump.stderr)
        for key in (OPENAI_KEY, OTHER_KEY, ANTHROPIC_KEY):
            self.assertNotIn(key, config_dump.stdout + config_dump.stderr)

    def test_route_explain_endpoint_and_command(self):
        described = {"workload": "cheap", "max_tokens": 100, "task": "chat"}
        reply = http_request(self.port, "POST", "/admin/route/explain", described)
        self.assertEqual(reply.status, 200, reply)
        answer = reply.json()
        self.assertEqual(answer["rule"], "cheap")
        self.assertEqual([t["model"] for t in answer["targets"]], ["stories"])
        self.assertEqual(answer["excluded"][0]["model"], "cloud-gpt")
        self.assertIn("estimated cost", answer["excluded"][0]["reason"])
        self.assertTrue(any(line.startswith("rule 'sensitive'") for line in answer["not_matched"]))
        self.assertIn(answer["targets"][0]["circuit"], ("closed", "half_open", "open"))
        for fake in self.fakes:
            self.assertEqual(fake.request_count, 0)  # explained, not sent

        command = subprocess.run(
            [HEARTH_BIN, "route", "explain", "--config", self.config_path, "--workload",
             "triage", "--task", "chat"], capture_output=True, text=True, timeout=30 * SCALE)
        self.assertEqual(command.returncode, 0, command.stderr)
        answer = json.loads(command.stdout)
        self.assertEqual(answer["rule"], "triage")
        self.assertEqual([t["model"] for t in answer["targets"]], ["cloud-gpt", "stories"])
        self.assertEqual(answer["targets"][0]["placement"], "cloud")

        bad = http_request(self.port, "POST", "/admin/route/explain", {"task": "dance"})
        assert_error(self, bad, 400, "invalid_value", "task")

    def test_route_explain_time_of_day(self):
        inside = clock(now_minute() + self.LATER + 30)
        reply = http_request(self.port, "POST", "/admin/route/explain",
                             {"workload": "offhours", "time": inside})
        self.assertEqual(reply.status, 200, reply)
        self.assertEqual(reply.json()["rule"], "off-hours")
        outside = clock(now_minute() + self.LATER - 30)
        reply = http_request(self.port, "POST", "/admin/route/explain",
                             {"workload": "offhours", "time": outside})
        self.assertEqual(reply.json()["rule"], "default")
        self.assertTrue(any("outside" in line for line in reply.json()["not_matched"]))


# ---------------------------------------------------------------------------------------------
# Fallback: each cause, retries with backoff, the circuit breaker, never_cloud
# ---------------------------------------------------------------------------------------------


# Each test drives its own cloud target ("p-NAME", on the OpenAI-shaped fake) so that one test's
# failures never leave another test's circuit breaker half-way to open.
FALLBACK_CASES = ["429", "5xx", "closed", "slo", "cut-before", "cut-after", "breaker", "metrics"]


class FallbackTest(PlacementTestCase):
    CONFIG = """
        default_model: stories
        workers:
          restart_backoff_initial: 5s
        providers:
          - name: openai-fake
            base_url: {openai_url}
            api_key_env: OPENAI_KEY
          - name: other-fake
            base_url: {other_url}
            api_key_env: OTHER_KEY
          - name: dead
            base_url: {dead_url}
            api_key_env: OTHER_KEY
            connect_timeout: 2s
          - name: keyless
            base_url: {other_url}
            api_key_env: HEARTH_TEST_UNSET_KEY
          - name: wrong-key
            base_url: {other_url}
            api_key_env: OPENAI_KEY
        models:
          - name: stories
            path: {stories}
            context: 1024
            parallel: 2
            threads: 1
          - name: tiny-context
            path: {stories}
            context: 64
            parallel: 1
            threads: 1
          - name: broken-local
            path: {dir}/broken.gguf
          - name: restarting-local
            path: {stories}
            threads: 1
          - name: secondary
            provider: other-fake
          - name: dead-cloud
            provider: dead
          - name: keyless-cloud
            provider: keyless
          - name: wrong-key-cloud
            provider: wrong-key
""" + "".join("""
          - name: p-%s
            provider: openai-fake
            upstream_model: primary""" % case for case in FALLBACK_CASES) + """
        policy:
          attempts_per_target: 2
          retry_backoff_initial: 20ms
          retry_backoff_max: 50ms
          breaker_failures: 3
          breaker_open: 1500ms
          rules:
            - name: slo
              match: {{workload: slo}}
              targets: [p-slo, secondary]
              latency_slo: 300ms
            - name: context
              match: {{workload: context}}
              targets: [tiny-context, secondary]
            - name: worker-down
              match: {{workload: worker-down}}
              targets: [broken-local, stories]
            - name: restart
              match: {{workload: restart}}
              targets: [restarting-local, secondary]
            - name: sensitive
              match: {{workload: sensitive}}
              targets: [broken-local]
              never_cloud: true
            - name: offline
              match: {{workload: offline}}
              targets: [dead-cloud, stories]
            - name: keyless
              match: {{workload: keyless}}
              targets: [keyless-cloud, secondary]
            - name: wrong-key
              match: {{workload: wrong-key}}
              targets: [wrong-key-cloud, stories]
            - name: wrong-key-only
              match: {{workload: wrong-key-only}}
              targets: [wrong-key-cloud]
""" + "".join("""
            - name: chain-%s
              match: {{workload: %s}}
              targets: [p-%s, secondary]""" % (case, case, case) for case in FALLBACK_CASES) + "\n"

    @classmethod
    def prepare(cls, directory):
        # Not a GGUF: its worker fails to load.
        with open(os.path.join(directory, "broken.gguf"), "wb") as broken:
            broken.write(b"this is not a gguf file" * 10)

    def chain(self, case, **extra):
        return post(self.port, chat(**extra), {"x-hearth-workload": case})

    def test_429_is_retried_then_falls_back(self):
        self.openai.script({"status": 429}, {"status": 429})
        reply = self.chain("429")
        self.assert_placed(reply, "chain-429", "secondary", "cloud")
        self.assertEqual(self.openai.request_count, 2)  # one retry with backoff
        self.assertEqual(self.other.request_count, 1)
        self.assertEqual(reply.headers["x-hearth-fallback"], "p-429: http_429")
        gap = self.openai.requests[1]["monotonic"] - self.openai.requests[0]["monotonic"]
        self.assertGreaterEqual(gap, 0.009)  # backoff, jittered within [10, 20] ms

    def test_5xx_then_success_on_retry(self):
        self.openai.script({"status": 503})
        reply = self.chain("5xx")
        self.assert_placed(reply, "chain-5xx", "p-5xx", "cloud")
        self.assertEqual(self.openai.request_count, 2)
        self.assertNotIn("x-hearth-fallback", reply.headers)
        self.assertEqual(self.other.request_count, 0)

    def test_connection_closed_before_answer_falls_back(self):
        # Every try: a pooled connection closed early is also retried inside the HTTP client.
        self.openai.set_default({"close_without_response": True})
        try:
            reply = self.chain("closed")
        finally:
            self.openai.set_default({})
        self.assert_placed(reply, "chain-closed", "secondary", "cloud")
        self.assertIn("p-closed: closed_early", reply.headers["x-hearth-fallback"])

    def test_timeout_to_first_token_falls_back(self):
        self.openai.script({"delay_first_token_ms": 2000})
        started = time.monotonic()
        reply = self.chain("slo", stream=True)
        self.assert_placed(reply, "slo", "secondary", "cloud")
        self.assertLess(time.monotonic() - started, 1.9 * SCALE)
        self.assertIn("p-slo: first_byte_timeout", reply.headers["x-hearth-fallback"])
        payloads, done = sse_payloads(reply)
        self.assertTrue(done)
        self.assertEqual(self.other.request_count, 1)

    def test_stream_cut_before_first_byte_falls_back(self):
        self.openai.script({"cut_after_chunks": 0}, {"cut_after_chunks": 0})
        reply = self.chain("cut-before", stream=True)
        self.assert_placed(reply, "chain-cut-before", "secondary", "cloud")
        self.assertIn("p-cut-before: stream_broken_before_first_byte",
                      reply.headers["x-hearth-fallback"])
        self.assertTrue(sse_payloads(reply)[1])

    def test_stream_cut_after_first_byte_ends_with_an_error_event(self):
        self.openai.script({"cut_after_chunks": 2})
        reply = self.chain("cut-after", stream=True)
        self.assertEqual(reply.status, 200, reply)
        self.assertEqual(reply.headers["x-hearth-target"], "p-cut-after")
        payloads, done = sse_payloads(reply)
        self.assertFalse(done)
        self.assertEqual(payloads[-1]["error"]["code"], "backend_stream_broken")
        self.assertEqual(self.other.request_count, 0)  # no silent switch

    def test_context_too_long_for_the_local_model_falls_back(self):
        reply = post(self.port, chat(text="once upon a time " * 200, max_tokens=4),
                     {"x-hearth-workload": "context"})
        self.assert_placed(reply, "context", "secondary", "cloud")
        self.assertEqual(reply.headers["x-hearth-fallback"], "tiny-context: context_too_long")

    def test_worker_that_cannot_load_falls_back(self):
        reply = post(self.port, chat(), {"x-hearth-workload": "worker-down"})
        self.assert_placed(reply, "worker-down", "stories", "local")
        self.assertIn("broken-local: model_load_failed", reply.headers["x-hearth-fallback"])

    def test_worker_restarting_falls_back_without_waiting(self):
        reply = post(self.port, chat(), {"x-hearth-workload": "restart"})
        self.assert_placed(reply, "restart", "restarting-local", "local")
        workers = [pid for pid, argv in children_of(self.gateway.proc.pid).items()
                   if b"restarting-local" in argv]
        self.assertEqual(len(workers), 1, workers)
        os.kill(workers[0], signal.SIGKILL)
        started = time.monotonic()
        reply = post(self.port, chat(), {"x-hearth-workload": "restart"})
        self.assert_placed(reply, "restart", "secondary", "cloud")
        self.assertTrue(reply.headers["x-hearth-fallback"].startswith("restarting-local: "),
                        reply.headers)
        self.assertLess(time.monotonic() - started, 4)  # not held for the 5 s restart backoff
        # Again while it restarts: the manager knows, so no connection is even tried.
        reply = post(self.port, chat(), {"x-hearth-workload": "restart"})
        self.assertEqual(reply.headers["x-hearth-fallback"],
                         "restarting-local: worker_restarting")

    def test_never_cloud_request_whose_local_targets_fail_gets_503(self):
        reply = post(self.port, chat(), {"x-hearth-workload": "sensitive"})
        assert_error(self, reply, 503, "all_targets_failed")
        message = reply.json()["error"]["message"]
        self.assertIn("policy rule 'sensitive'", message)
        self.assertIn("never_cloud", message)
        for fake in self.fakes:
            self.assertEqual(fake.request_count, 0)
        explain = http_request(self.port, "POST", "/admin/route/explain",
                               {"workload": "sensitive"}).json()
        self.assertTrue(explain["never_cloud"])

    def test_missing_provider_key_falls_back(self):
        reply = post(self.port, chat(), {"x-hearth-workload": "keyless"})
        self.assert_placed(reply, "keyless", "secondary", "cloud")
        self.assertIn("keyless-cloud: backend_unavailable", reply.headers["x-hearth-fallback"])
        # The gateway's log reaches the file through a pipe: wait for the line, do not race it.
        wait_until(lambda: "HEARTH_TEST_UNSET_KEY" in self.gateway.log_text(), 10,
                   "a log line naming the unset variable HEARTH_TEST_UNSET_KEY")

    def test_provider_refusing_the_gateway_key_falls_back(self):
        reply = post(self.port, chat(), {"x-hearth-workload": "wrong-key"})
        self.assert_placed(reply, "wrong-key", "stories", "local")
        self.assertEqual(reply.headers["x-hearth-fallback"], "wrong-key-cloud: provider_auth_failed")
        self.assertEqual(self.other.requests[0]["status"], 401)
        alone = post(self.port, chat(), {"x-hearth-workload": "wrong-key-only"})
        assert_error(self, alone, 502, "provider_auth_failed")

    def test_circuit_breaker_opens_half_opens_and_closes(self):
        # Fresh target for this test: "secondary" as primary of the chain is not possible, so
        # drive "primary" to open its circuit with 3 consecutive failures (2 requests x up to 2
        # attempts; the third failure opens it).
        self.openai.set_default({"status": 500})
        try:
            first = self.chain("breaker")
            self.assert_placed(first, "chain-breaker", "secondary", "cloud")
            second = self.chain("breaker")
            self.assert_placed(second, "chain-breaker", "secondary", "cloud")
            self.assertEqual(self.openai.request_count, 3)  # the third failure opened it
            text = metrics(self.port)
            self.assertIn('hearth_gateway_circuit_state{target="p-breaker"} 1', text)
            # Open: the dead backend costs nothing.
            third = self.chain("breaker")
            self.assertEqual(third.headers["x-hearth-fallback"], "p-breaker: circuit_open")
            self.assertEqual(self.openai.request_count, 3)
            # Half-open after breaker_open: one probe; it fails, so the circuit opens again.
            time.sleep(1.6)
            fourth = self.chain("breaker")
            self.assertEqual(self.openai.request_count, 4)
            self.assertIn("p-breaker: http_500", fourth.headers["x-hearth-fallback"])
            self.assertEqual(self.chain("breaker").headers["x-hearth-fallback"],
                             "p-breaker: circuit_open")
        finally:
            self.openai.set_default({})
        # The backend recovers; the next probe closes the circuit.
        time.sleep(1.6)
        fifth = self.chain("breaker")
        self.assert_placed(fifth, "chain-breaker", "p-breaker", "cloud")
        self.assertIn('hearth_gateway_circuit_state{target="p-breaker"} 0', metrics(self.port))
        sixth = self.chain("breaker")
        self.assert_placed(sixth, "chain-breaker", "p-breaker", "cloud")
        opened = metric_value(metrics(self.port), "hearth_gateway_circuit_opened_total")
        self.assertGreaterEqual(opened, 2)

    def test_dead_provider_falls_back_then_is_skipped(self):
        for _ in range(2):
            reply = post(self.port, chat(), {"x-hearth-workload": "offline"})
            self.assert_placed(reply, "offline", "stories", "local")
        reply = post(self.port, chat(), {"x-hearth-workload": "offline"})
        self.assert_placed(reply, "offline", "stories", "local")
        self.assertEqual(reply.headers["x-hearth-fallback"], "dead-cloud: circuit_open")

    def test_fallback_metrics(self):
        self.openai.script({"status": 429}, {"status": 429})
        self.chain("metrics")
        text = metrics(self.port)
        self.assertIn('hearth_gateway_fallbacks_total{rule="chain-metrics",target="p-metrics",'
                      'reason="http_429"}', text)
        self.assertGreaterEqual(metric_value(text, "hearth_gateway_retries_total"), 1)


# ---------------------------------------------------------------------------------------------
# Quality escalation
# ---------------------------------------------------------------------------------------------


SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}


class EscalationTest(PlacementTestCase):
    CONFIG = """
        default_model: stories
        providers:
          - name: openai-fake
            base_url: {openai_url}
            api_key_env: OPENAI_KEY
        models:
          - name: stories
            path: {stories}
            context: 1024
            parallel: 2
            threads: 1
          - name: cloud-gpt
            provider: openai-fake
            price: {{input: 3.0, output: 6.0}}
        policy:
          rules:
            - name: json
              match: {{workload: json}}
              targets: [stories, cloud-gpt]
              escalate: {{json_schema: true, on_truncated: false}}
            - name: confident
              match: {{workload: confident}}
              targets: [stories, cloud-gpt]
              escalate: {{min_mean_logprob: -0.0001, on_truncated: false}}
            - name: lenient
              match: {{workload: lenient}}
              targets: [stories, cloud-gpt]
              escalate: {{min_mean_logprob: -1000, on_truncated: false}}
            - name: truncated
              match: {{workload: truncated}}
              targets: [stories, cloud-gpt]
              escalate: {{}}
        """

    def test_schema_failure_escalates_to_the_next_target(self):
        self.openai.script({"reply": '{"name": "Lily"}'})
        body = chat(max_tokens=3, response_format={"type": "json_schema", "json_schema": {
            "name": "person", "schema": SCHEMA}})
        reply = post(self.port, body, {"x-hearth-workload": "json"})
        self.assert_placed(reply, "json", "cloud-gpt", "cloud")
        self.assertIn("schema_violation", reply.headers["x-hearth-escalation"])
        self.assertIn("stories: escalated: schema_violation", reply.headers["x-hearth-fallback"])
        self.assertEqual(json.loads(reply.json()["choices"][0]["message"]["content"]),
                         {"name": "Lily"})
        text = metrics(self.port)
        self.assertGreaterEqual(metric_value(text, "hearth_gateway_escalations_total"), 1)
        self.assertGreater(metric_value(text, "hearth_gateway_escalation_seconds_total"), 0)
        self.assertGreater(metric_value(text, "hearth_gateway_escalation_cost_usd_total"), 0)

    def test_low_logprob_escalates(self):
        reply = post(self.port, chat(temperature=1.0, seed=7), {"x-hearth-workload": "confident"})
        self.assert_placed(reply, "confident", "cloud-gpt", "cloud")
        self.assertIn("low_logprob", reply.headers["x-hearth-escalation"])
        # The gateway asked the worker for log-probabilities itself.
        self.assertEqual(self.openai.request_count, 1)

    def test_good_enough_answer_stays_local_without_added_logprobs(self):
        reply = post(self.port, chat(temperature=1.0, seed=7), {"x-hearth-workload": "lenient"})
        self.assert_placed(reply, "lenient", "stories", "local")
        self.assertNotIn("x-hearth-escalation", reply.headers)
        self.assertIsNone(reply.json()["choices"][0].get("logprobs"))
        self.assertEqual(self.openai.request_count, 0)

    def test_truncated_answer_escalates(self):
        reply = post(self.port, chat(max_tokens=2), {"x-hearth-workload": "truncated"})
        self.assert_placed(reply, "truncated", "cloud-gpt", "cloud")
        self.assertIn("truncated_answer", reply.headers["x-hearth-escalation"])

    def test_streamed_requests_are_not_escalated(self):
        reply = post(self.port, chat(max_tokens=2, stream=True),
                     {"x-hearth-workload": "truncated"})
        self.assert_placed(reply, "truncated", "stories", "local")
        self.assertEqual(self.openai.request_count, 0)


# ---------------------------------------------------------------------------------------------
# Anthropic translation through the gateway, TLS, offline start
# ---------------------------------------------------------------------------------------------


class AnthropicTest(PlacementTestCase):
    CONFIG = """
        default_model: claude
        providers:
          - name: anthropic-fake
            api: anthropic
            base_url: {anthropic_url}
            api_key_env: ANTHROPIC_KEY
        models:
          - name: claude
            provider: anthropic-fake
            upstream_model: claude-fake-1
            price: {{input: 3.0, cached_input: 0.3, output: 15.0}}
        """

    def test_chat_round_trip(self):
        body = {"model": "claude", "max_tokens": 50, "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hello there"}]}
        reply = post(self.port, body)
        self.assert_placed(reply, "default", "claude", "cloud")
        sent = self.anthropic.requests[0]["json"]
        self.assertEqual(sent["model"], "claude-fake-1")
        self.assertEqual(sent["system"], "Be brief.")
        self.assertEqual(sent["max_tokens"], 50)
        answer = reply.json()
        self.assertEqual(answer["object"], "chat.completion")
        self.assertEqual(answer["choices"][0]["message"]["content"], "Hello from the fake cloud")
        self.assertEqual(answer["choices"][0]["finish_reason"], "stop")
        self.assertGreater(answer["usage"]["prompt_tokens"], 0)

    def test_streamed_tool_call_round_trip(self):
        self.anthropic.script({"tool_call": {"name": "get_weather",
                                             "arguments": {"city": "Paris", "days": 3}}})
        tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
            "type": "object", "properties": {"city": {"type": "string"}}}}}]
        body = {"model": "claude", "stream": True, "max_tokens": 100, "tools": tools,
                "messages": [{"role": "user", "content": "Weather in Paris?"}]}
        reply = post(self.port, body)
        payloads = parse_sse(self, reply)
        arguments, name, finish = "", None, None
        for payload in payloads:
            for choice in payload["choices"]:
                for call in choice["delta"].get("tool_calls", []):
                    name = call.get("function", {}).get("name") or name
                    arguments += call.get("function", {}).get("arguments", "")
                finish = choice.get("finish_reason") or finish
        self.assertEqual(name, "get_weather")
        self.assertEqual(json.loads(arguments), {"city": "Paris", "days": 3})
        self.assertEqual(finish, "tool_calls")
        self.assertEqual(self.anthropic.requests[0]["json"]["tools"][0]["input_schema"]["type"],
                         "object")

    def test_streamed_usage_is_translated_and_costed(self):
        before = metric_value(metrics(self.port), "hearth_gateway_cloud_cost_usd_total") or 0
        self.anthropic.script({"usage": {"cache_read_input_tokens": 4}})
        reply = post(self.port, {"model": "claude", "stream": True, "max_tokens": 50,
                                 "stream_options": {"include_usage": True},
                                 "messages": [{"role": "user", "content": "Hi there you"}]})
        payloads = parse_sse(self, reply)
        usage = payloads[-1]["usage"]
        cached = usage["prompt_tokens_details"]["cached_tokens"]
        self.assertEqual(cached, 4)
        expected = ((usage["prompt_tokens"] - cached) * 3.0 + cached * 0.3 +
                    usage["completion_tokens"] * 15.0) / 1e6
        after = metric_value(metrics(self.port), "hearth_gateway_cloud_cost_usd_total")
        self.assertAlmostEqual(after - before, expected, places=12)

    def test_provider_error_in_openai_shape(self):
        self.anthropic.script({"status": 400})
        reply = post(self.port, {"model": "claude", "max_tokens": 5,
                                 "messages": [{"role": "user", "content": "Hi"}]})
        self.assertEqual(reply.status, 400, reply)
        self.assertEqual(set(reply.json()["error"]), {"message", "type", "param", "code"})

    def test_anthropic_stream_cut_mid_way_ends_with_error_event(self):
        self.anthropic.script({"cut_after_chunks": 3})
        reply = post(self.port, {"model": "claude", "stream": True, "max_tokens": 50,
                                 "messages": [{"role": "user", "content": "Hi"}]})
        payloads, done = sse_payloads(reply)
        self.assertFalse(done)
        self.assertIn("error", payloads[-1])


class TlsTest(PlacementTestCase):
    TLS = True
    CONFIG = """
        default_model: trusted
        providers:
          - name: trusting
            base_url: {openai_url}
            api_key_env: OPENAI_KEY
            ca_file: {ca}
          - name: system-store
            base_url: {openai_url}
            api_key_env: OPENAI_KEY
        models:
          - name: trusted
            provider: trusting
          - name: untrusted
            provider: system-store
        """

    def test_verified_tls_to_the_provider(self):
        self.assertTrue(self.openai.url.startswith("https://"))
        reply = post(self.port, chat(model="trusted"))
        self.assert_placed(reply, "default", "trusted", "cloud")
        self.assertTrue(self.openai.requests[0]["tls"])
        post(self.port, chat(model="trusted"))
        self.assertEqual(self.openai.connections_accepted, 1)  # kept alive and reused

    def test_unknown_certificate_authority_is_refused(self):
        reply = post(self.port, chat(model="untrusted"))
        assert_error(self, reply, 503, "backend_unavailable")
        self.assertIn("certificate", reply.json()["error"]["message"])
        self.assertEqual(self.openai.request_count, 0)


class OfflineTest(unittest.TestCase):
    """No network at all (a fresh network namespace with loopback only, down): the gateway
    starts and serves local work; cloud targets are marked down by the breaker."""

    def test_offline_start_serves_local_work(self):
        probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True)
        if probe.returncode != 0:
            self.fail("unshare -rn is not available here: %s" % probe.stderr.decode())
        directory = tempfile.mkdtemp(prefix="hearth-offline-")
        try:
            config_path = os.path.join(directory, "hearth.yaml")
            port = free_port()
            with open(config_path, "w") as config:
                config.write(textwrap.dedent("""
                    server: {{listen: "127.0.0.1:{port}"}}
                    providers:
                      - name: far-away
                        base_url: https://provider.invalid/v1
                        api_key_env: OPENAI_KEY
                        connect_timeout: 2s
                    models:
                      - name: stories
                        path: {stories}
                        threads: 1
                      - name: cloud
                        provider: far-away
                    policy:
                      breaker_failures: 2
                      attempts_per_target: 1
                      rules:
                        - name: chain
                          targets: [cloud, stories]
                    """).format(port=port, stories=STORIES))
            # Inside the namespace: bring loopback up, start the gateway, run requests with a
            # small Python client, print the outcome as JSON.
            script = textwrap.dedent("""
                import json, subprocess, sys, time, urllib.request
                subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
                gateway = subprocess.Popen([sys.argv[1], "serve", "--config", sys.argv[2]],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                url = "http://127.0.0.1:%s" % sys.argv[3]
                results = []
                try:
                    for _ in range(300):
                        try:
                            urllib.request.urlopen(url + "/healthz", timeout=1)
                            break
                        except Exception:
                            time.sleep(0.1)
                    body = json.dumps({"messages": [{"role": "user", "content": "Hi"}],
                                       "max_tokens": 4}).encode()
                    for _ in range(4):
                        request = urllib.request.Request(url + "/v1/chat/completions", body,
                                                         {"content-type": "application/json"})
                        with urllib.request.urlopen(request, timeout=120) as reply:
                            results.append({"status": reply.status,
                                            "target": reply.headers["x-hearth-target"],
                                            "fallback": reply.headers["x-hearth-fallback"]})
                finally:
                    gateway.terminate()
                    gateway.wait(30)
                print(json.dumps(results))
                """)
            run = subprocess.run(["unshare", "-rn", sys.executable, "-c", script, HEARTH_BIN,
                                  config_path, str(port)], capture_output=True, text=True,
                                 timeout=300 * SCALE, env=dict(os.environ, OPENAI_KEY=OPENAI_KEY))
            self.assertEqual(run.returncode, 0, run.stderr[-3000:])
            results = json.loads(run.stdout.strip().splitlines()[-1])
            self.assertEqual([r["status"] for r in results], [200] * 4)
            self.assertEqual({r["target"] for r in results}, {"stories"})
            self.assertTrue(results[0]["fallback"].startswith("cloud: connect_failed"))
            self.assertEqual(results[-1]["fallback"], "cloud: circuit_open")
        finally:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
