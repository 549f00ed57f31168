#!/usr/bin/env python3
"""Integration tests for the privacy guard (issue 5): every request is scanned before placement;
redact-and-restore for cloud targets (streamed and not, OpenAI and Anthropic shapes, tool calls,
embeddings), local_only, block, allow/audit_only overrides per rule, custom entities, secrets in
cloud answers, invalid UTF-8, scanning switched off, and a configuration the scanner refuses.
A real `hearth serve` and `hearth worker` on stories260K in front of fake cloud providers
(tests/support/fake_cloud.py) that record every byte they receive.

Environment (set by ctest): HEARTH_BIN, HEARTH_STORIES_MODEL, HEARTH_SANITIZED. By hand:
  HEARTH_BIN=build/bin/hearth HEARTH_SANITIZED=0 \
  HEARTH_STORIES_MODEL=../shared/models/stories260K.gguf python3 -u tests/gateway/test_privacy.py -v
"""

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from harness import (SCALE, assert_error, metric_value, metrics,  # noqa: E402
                     wait_until)
from test_placement import (HEARTH_BIN, PlacementTestCase, post, setUpModule,  # noqa: E402,F401
                            sse_payloads)

EMAIL = "jane.doe@example.com"
OTHER_EMAIL = "raj.patel@example.org"
CARD = "4111 1111 1111 1111"
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
NHS = "943 476 5919"
IBAN = "DE89 3704 0044 0532 0130 00"

PROVIDERS = """
        providers:
          - name: openai-fake
            base_url: {openai_url}
            api_key_env: OPENAI_KEY
          - name: anthropic-fake
            api: anthropic
            base_url: {anthropic_url}
            api_key_env: ANTHROPIC_KEY
        models:
          - name: stories
            path: {stories}
            context: 1024
            parallel: 2
            threads: 1
          - name: cloud-gpt
            provider: openai-fake
          - name: cloud-claude
            provider: anthropic-fake
          - name: cloud-embed
            task: embedding
            provider: openai-fake
"""


def chat_to(model, text, **extra):
    body = {"model": model, "messages": [{"role": "user", "content": text}], "max_tokens": 200}
    body.update(extra)
    return body


def received(fake):
    """Everything a fake provider received, as one text (raw request bytes, decoded)."""
    return "\n".join(record["raw"].decode("utf-8", "replace") for record in fake.requests)


class PrivacyTestCase(PlacementTestCase):
    def assert_never_received(self, fake, *values):
        everything = received(fake)
        for value in values:
            self.assertNotIn(value, everything)
            self.assertNotIn(json.dumps(value)[1:-1], everything)

    def content(self, reply):
        self.assertEqual(reply.status, 200, reply)
        return reply.json()["choices"][0]["message"]["content"]

    def streamed_content(self, reply):
        self.assertEqual(reply.status, 200, reply)
        payloads, done = sse_payloads(reply)
        self.assertTrue(done, reply)
        return "".join((p["choices"][0]["delta"].get("content") or "") for p in payloads
                       if p.get("choices"))

    def privacy_log_line(self, count_before, action):
        """The access-log entry, after the first `count_before` lines, of a chat request with the
        privacy action `action` (each line is written just after its answer)."""
        def found():
            return [line for line in self.access_log_lines()[count_before:]
                    if line["path"] == "/v1/chat/completions"
                    and line.get("privacy", {}).get("action") == action]
        return wait_until(found, 10, "no access log line with privacy action " + action)[-1]

    def metric(self, name, **labels):
        return metric_value(metrics(self.port), name, labels) or 0.0


# ---------------------------------------------------------------------------------------------
# redact: placeholders to the cloud, values back to the client
# ---------------------------------------------------------------------------------------------


class RedactTest(PrivacyTestCase):
    CONFIG = PROVIDERS + """
        privacy:
          actions: {{default: redact}}
        policy:
          rules:
            - name: local-first
              match: {{workload: local-first}}
              targets: [stories, cloud-gpt]
    """

    def test_values_never_reach_the_cloud_and_come_back_restored(self):
        self.openai.set_default({"echo": True})
        text = "Mail %s or %s, card %s, and %s again." % (EMAIL, OTHER_EMAIL, CARD, EMAIL)
        before = self.metric("hearth_gateway_privacy_findings_total", type="email",
                             source="request")
        logged = len(self.access_log_lines())
        reply = post(self.port, chat_to("cloud-gpt", text))
        self.assertEqual(self.content(reply), text)
        self.assertEqual(reply.headers.get("x-hearth-privacy"), "redact; card=1, email=3")
        self.assert_never_received(self.openai, EMAIL, OTHER_EMAIL, CARD)
        sent = self.openai.requests[0]["json"]["messages"][0]["content"]
        self.assertEqual(sent, "Mail [EMAIL_1] or [EMAIL_2], card [CARD_1], and [EMAIL_1] again.")
        self.assertEqual(self.metric("hearth_gateway_privacy_findings_total", type="email",
                                     source="request") - before, 3)
        self.assertGreaterEqual(self.metric("hearth_gateway_privacy_redactions_total", type="card"),
                                1)
        # The access log has the types and counts, never the values.
        line = self.privacy_log_line(logged, "redact")
        self.assertEqual(line["privacy"]["findings"], {"card": 1, "email": 3})
        self.assertEqual(line["privacy"]["redacted"], {"card": 1, "email": 3})
        log = self.gateway.log_text()
        for value in (EMAIL, OTHER_EMAIL, CARD):
            self.assertNotIn(value, log)

    def test_a_placeholder_split_across_stream_events_is_restored(self):
        self.openai.set_default({"echo": True, "stream_chunk_chars": 3})
        text = "Write to %s about card %s." % (EMAIL, CARD)
        reply = post(self.port, chat_to("cloud-gpt", text, stream=True))
        self.assertEqual(self.streamed_content(reply), text)
        self.assert_never_received(self.openai, EMAIL, CARD)
        # The provider really did split the placeholders.
        self.assertIn("[EMAIL_1]", received(self.openai))

    def test_a_stream_cut_off_still_flushes_what_was_held_back(self):
        self.openai.set_default({"echo": True, "stream_chunk_chars": 4, "cut_after_chunks": 6})
        reply = post(self.port, chat_to("cloud-gpt", "Contact %s now please" % EMAIL, stream=True))
        self.assertEqual(reply.status, 200, reply)
        payloads, done = sse_payloads(reply)
        self.assertFalse(done)
        self.assertEqual(payloads[-1]["error"]["code"], "backend_stream_broken")
        text = "".join((p["choices"][0]["delta"].get("content") or "") for p in payloads
                       if p.get("choices"))
        self.assertNotIn("[EMAIL", text)
        self.assertTrue(("Contact %s" % EMAIL).startswith(text) or text.startswith("Contact"),
                        text)

    def test_anthropic_provider_gets_placeholders_too(self):
        self.anthropic.set_default({"echo": True})
        text = "Patient email %s, IBAN %s." % (EMAIL, IBAN)
        self.assertEqual(self.content(post(self.port, chat_to("cloud-claude", text))), text)
        self.anthropic.set_default({"echo": True, "stream_chunk_chars": 2})
        reply = post(self.port, chat_to("cloud-claude", text, stream=True))
        self.assertEqual(self.streamed_content(reply), text)
        self.assert_never_received(self.anthropic, EMAIL, IBAN)

    def test_tool_call_arguments_are_redacted_and_restored(self):
        # Numbering follows the document: the earlier tool call's address is [EMAIL_1].
        self.openai.set_default({"tool_call": {"name": "send_mail",
                                               "arguments": {"to": "[EMAIL_2]", "n": 1}}})
        body = chat_to("cloud-gpt", "Mail %s the report" % EMAIL, tools=[{
            "type": "function", "function": {
                "name": "send_mail", "description": "Sends mail, e.g. to %s" % OTHER_EMAIL,
                "parameters": {"type": "object", "properties": {"to": {"type": "string"}}}}}])
        body["messages"].insert(0, {"role": "assistant", "content": None, "tool_calls": [{
            "id": "call_1", "type": "function",
            "function": {"name": "send_mail", "arguments": json.dumps({"to": OTHER_EMAIL})}}]})
        body["messages"].insert(1, {"role": "tool", "tool_call_id": "call_1", "content": "sent"})
        reply = post(self.port, body)
        self.assertEqual(reply.status, 200, reply)
        call = reply.json()["choices"][0]["message"]["tool_calls"][0]
        self.assertEqual(json.loads(call["function"]["arguments"]), {"to": EMAIL, "n": 1})
        self.assert_never_received(self.openai, EMAIL, OTHER_EMAIL)
        sent = self.openai.requests[0]["json"]["messages"]
        self.assertEqual(json.loads(sent[0]["tool_calls"][0]["function"]["arguments"]),
                         {"to": "[EMAIL_1]"})
        self.assertEqual(sent[2]["content"], "Mail [EMAIL_2] the report")
        self.openai.set_default({"tool_call": {"name": "send_mail",
                                               "arguments": {"to": "[EMAIL_2]"}}})
        reply = post(self.port, dict(body, stream=True))
        payloads, done = sse_payloads(reply)
        self.assertTrue(done)
        arguments = "".join(
            call["function"].get("arguments", "") for p in payloads if p.get("choices")
            for call in p["choices"][0]["delta"].get("tool_calls") or [])
        self.assertEqual(json.loads(arguments), {"to": EMAIL})

    def test_embedding_inputs_are_redacted(self):
        reply = post(self.port, {"model": "cloud-embed", "input": ["card %s" % CARD, "plain"]},
                     path="/v1/embeddings")
        self.assertEqual(reply.status, 200, reply)
        self.assertEqual(len(reply.json()["data"]), 2)
        self.assertEqual(self.openai.requests[0]["json"]["input"], ["card [CARD_1]", "plain"])

    def test_a_local_target_gets_the_request_unchanged(self):
        logged = len(self.access_log_lines())
        reply = post(self.port, chat_to("stories", "Once upon a time %s" % EMAIL, max_tokens=4),
                     headers={"x-hearth-workload": "local-first"})
        self.assert_placed(reply, "local-first", "stories", "local")
        self.assertEqual(reply.headers.get("x-hearth-privacy"), "redact; email=1")
        self.assertEqual(self.openai.request_count, 0)
        line = self.privacy_log_line(logged, "redact")
        self.assertNotIn("redacted", line["privacy"])

    def test_text_without_findings_is_forwarded_byte_for_byte(self):
        raw = b'{"model": "cloud-gpt", "messages": [{"role": "user", "content": "Hi there"}]}'
        reply = post(self.port, raw)
        self.assertEqual(reply.status, 200, reply)
        self.assertEqual(self.openai.requests[0]["body"], raw)
        self.assertIsNone(reply.headers.get("x-hearth-privacy"))

    def test_invalid_utf8_is_a_clear_400_and_the_gateway_keeps_serving(self):
        raw = b'{"model": "cloud-gpt", "messages": [{"role": "user", "content": "a\xff\xfe b"}]}'
        reply = post(self.port, raw)
        assert_error(self, reply, 400)
        self.assertIn("UTF-8", reply.json()["error"]["message"])
        self.assertEqual(self.openai.request_count, 0)
        self.assertEqual(self.content(post(self.port, chat_to("cloud-gpt", "fine"))),
                         "Hello from the fake cloud")


# ---------------------------------------------------------------------------------------------
# local_only, block, allow and audit_only; rule overrides; custom entities
# ---------------------------------------------------------------------------------------------


class ActionsTest(PrivacyTestCase):
    CONFIG = PROVIDERS + """
        privacy:
          actions:
            health: local_only
            secret: block
            custom:codename: local_only
            pii: audit_only
            default: redact
          entities:
            - name: codename
              terms: [Project Falcon, Nightjar]
            - name: matter
              pattern: 'MAT-[0-9]{{6}}'
              labels: [legal]
        policy:
          rules:
            - name: research
              match: {{workload: research}}
              targets: [cloud-gpt, stories]
              privacy: {{health: redact, secret: allow}}
            - name: cloud-only
              match: {{workload: cloud-only}}
              targets: [cloud-gpt]
            - name: cloud-first
              targets: [cloud-gpt, stories]
    """

    def test_local_only_sends_the_request_to_a_local_target(self):
        before = self.metric("hearth_gateway_privacy_actions_total", action="local_only")
        reply = post(self.port, chat_to("stories", "Patient NHS number %s feels better" % NHS,
                                        max_tokens=4))
        self.assert_placed(reply, "cloud-first", "stories", "local")
        self.assertEqual(self.openai.request_count, 0)
        self.assertIn("cloud-gpt: privacy policy: local_only for [health]",
                      reply.headers.get("x-hearth-fallback", ""))
        self.assertEqual(self.metric("hearth_gateway_privacy_actions_total", action="local_only")
                         - before, 1)

    def test_local_only_without_a_local_target_is_a_503_naming_the_policy(self):
        reply = post(self.port, chat_to("cloud-gpt", "NHS %s" % NHS),
                     headers={"x-hearth-workload": "cloud-only"})
        assert_error(self, reply, 503, code="no_allowed_target")
        self.assertIn("privacy policy: local_only for [health]", reply.json()["error"]["message"])
        self.assertEqual(self.openai.request_count, 0)

    def test_custom_terms_are_whole_words_case_insensitive(self):
        reply = post(self.port, chat_to("stories", "status of project falcon?", max_tokens=4))
        self.assert_placed(reply, "cloud-first", "stories", "local")
        self.assertEqual(reply.headers.get("x-hearth-privacy"), "local_only; custom:codename=1")
        self.openai.set_default({"echo": True})
        # Not a whole word: no finding, the cloud answers.
        reply = post(self.port, chat_to("cloud-gpt", "Nightjars sing at dusk"))
        self.assertEqual(self.content(reply), "Nightjars sing at dusk")

    def test_custom_pattern_label_redacts_by_default(self):
        self.openai.set_default({"echo": True})
        text = "Matter MAT-123456 is closed"
        reply = post(self.port, chat_to("cloud-gpt", text))
        self.assertEqual(self.content(reply), text)
        self.assertEqual(reply.headers.get("x-hearth-privacy"), "redact; custom:matter=1")
        self.assertIn("Matter [MATTER_1] is closed",
                      self.openai.requests[0]["json"]["messages"][0]["content"])

    def test_block_names_the_types_never_the_values(self):
        before = self.metric("hearth_gateway_privacy_actions_total", action="block")
        reply = post(self.port, chat_to("cloud-gpt", "my key is %s and mail %s" % (AWS_KEY, EMAIL)))
        assert_error(self, reply, 400, code="sensitive_data_blocked")
        message = reply.json()["error"]["message"]
        self.assertIn("aws_access_key (1 found)", message)
        self.assertNotIn(AWS_KEY, message)
        self.assertNotIn(AWS_KEY, self.gateway.log_text())
        self.assertEqual(self.openai.request_count, 0)
        self.assertEqual(self.metric("hearth_gateway_privacy_actions_total", action="block")
                         - before, 1)
        # A declared label blocks too.
        reply = post(self.port, chat_to("cloud-gpt", "nothing here"),
                     headers={"x-hearth-sensitivity": "secret"})
        assert_error(self, reply, 400, code="sensitive_data_blocked")

    def test_audit_only_forwards_unchanged_and_records_the_types(self):
        self.openai.set_default({"echo": True})
        text = "Reply to %s please" % EMAIL
        logged = len(self.access_log_lines())
        reply = post(self.port, chat_to("cloud-gpt", text))
        self.assertEqual(self.content(reply), text)
        self.assertEqual(reply.headers.get("x-hearth-privacy"), "audit_only; email=1")
        self.assertEqual(self.openai.requests[0]["json"]["messages"][0]["content"], text)
        line = self.privacy_log_line(logged, "audit_only")
        self.assertEqual(line["privacy"], {"action": "audit_only", "findings": {"email": 1}})

    def test_a_rule_overrides_the_actions(self):
        self.openai.set_default({"echo": True})
        text = "NHS %s, key %s" % (NHS, AWS_KEY)
        reply = post(self.port, chat_to("cloud-gpt", text),
                     headers={"x-hearth-workload": "research"})
        self.assert_placed(reply, "research", "cloud-gpt", "cloud")
        self.assertEqual(self.content(reply), text)
        sent = self.openai.requests[0]["json"]["messages"][0]["content"]
        self.assertIn("[NHS_1]", sent)
        self.assertIn(AWS_KEY, sent)  # secret: allow under this rule

    def test_route_explain_shows_the_privacy_verdict(self):
        reply = post(self.port, {"model": "cloud-gpt", "sensitivity": ["health"]},
                     path="/admin/route/explain")
        self.assertEqual(reply.status, 200, reply)
        self.assertEqual(reply.json()["privacy"], {"action": "local_only", "labels": ["health"]})


# ---------------------------------------------------------------------------------------------
# Secrets in cloud answers
# ---------------------------------------------------------------------------------------------


class AnswerSecretsTest(PrivacyTestCase):
    CONFIG = PROVIDERS + """
        privacy:
          answers: redact
          actions: {{default: allow}}
        policy:
          rules:
            - name: audited
              match: {{workload: audited}}
              targets: [cloud-claude]
    """

    def test_secrets_in_a_cloud_answer_are_replaced(self):
        self.openai.set_default({"reply": "Use key %s for that" % AWS_KEY})
        reply = post(self.port, chat_to("cloud-gpt", "how do I log in?"))
        self.assertEqual(self.content(reply), "Use key [REDACTED_AWS_KEY] for that")
        self.assertGreaterEqual(self.metric("hearth_gateway_privacy_findings_total",
                                            type="aws_access_key", source="answer"), 1)
        # The log line is read from the gateway's output by another thread: wait for it.
        wait_until(lambda: "the cloud answer carried secrets (aws_access_key=1)"
                   in self.gateway.log_text(), 10 * SCALE,
                   "no log line about the secrets in the cloud answer")

    def test_streamed_answers_are_audited(self):
        self.openai.set_default({"reply": "Use key %s for that" % AWS_KEY, "stream_chunk_chars": 5})
        before = self.metric("hearth_gateway_privacy_findings_total", type="aws_access_key",
                             source="answer")
        logged = len(self.access_log_lines())
        reply = post(self.port, chat_to("cloud-gpt", "how?", stream=True))
        self.assertEqual(self.streamed_content(reply), "Use key %s for that" % AWS_KEY)
        self.assertEqual(self.metric("hearth_gateway_privacy_findings_total",
                                     type="aws_access_key", source="answer") - before, 1)
        line = self.privacy_log_line(logged, "allow")
        self.assertEqual(line["privacy"]["answer_secrets"], {"aws_access_key": 1})


# ---------------------------------------------------------------------------------------------
# Degraded and refused configurations
# ---------------------------------------------------------------------------------------------


class ScanOffTest(PrivacyTestCase):
    CONFIG = PROVIDERS + """
        privacy:
          scan: false
    """

    def test_without_scanning_values_go_through_and_it_is_visible(self):
        self.openai.set_default({"echo": True})
        text = "card %s" % CARD
        reply = post(self.port, chat_to("cloud-gpt", text))
        self.assertEqual(self.content(reply), text)
        self.assertEqual(self.openai.requests[0]["json"]["messages"][0]["content"], text)
        self.assertEqual(metric_value(metrics(self.port), "hearth_gateway_privacy_scan_enabled"),
                         0)
        self.assertIn("privacy.scan is false", self.gateway.log_text())
        # Declared labels still count.
        reply = post(self.port, chat_to("cloud-gpt", "x"), headers={"x-hearth-sensitivity": "pii"})
        self.assertEqual(reply.headers.get("x-hearth-privacy"), "redact")


class RefusedConfigTest(unittest.TestCase):
    def test_an_invalid_custom_pattern_stops_the_start_with_a_clear_error(self):
        with tempfile.TemporaryDirectory(prefix="hearth-privacy-config-") as directory:
            path = os.path.join(directory, "hearth.yaml")
            with open(path, "w") as config:
                config.write(textwrap.dedent("""
                    privacy:
                      entities:
                        - name: broken
                          pattern: 'MAT-[0-9'
                """))
            result = subprocess.run([HEARTH_BIN, "serve", "--config", path, "--listen",
                                     "127.0.0.1:0"], capture_output=True, text=True,
                                    timeout=30 * SCALE)
            self.assertEqual(result.returncode, 2, result)
            self.assertIn("broken", result.stderr + result.stdout)
            # `config check` compiles the patterns too.
            result = subprocess.run([HEARTH_BIN, "config", "check", path], capture_output=True,
                                    text=True, timeout=30 * SCALE)
            self.assertEqual(result.returncode, 1, result)
            self.assertIn("broken", result.stderr)


if __name__ == "__main__":
    unittest.main()
