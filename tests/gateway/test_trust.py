#!/usr/bin/env python3
"""Integration tests for trust (issue 6): API keys (authentication, every refusal, scopes, the
tenant a key carries, refusal time independent of how much of a key matched), the admin API,
rate limits and monthly cloud budgets (exact under concurrency, budgets surviving a restart), the
usage ledger's contents and the audit log's hash chain, and their metrics. A real `hearth serve`
(SQLite ledger in a temporary directory) with a real `hearth worker` on stories260K, in front of
fake cloud providers (tests/support/fake_cloud.py) that count what reaches them.

Environment (set by ctest): HEARTH_BIN, HEARTH_STORIES_MODEL, HEARTH_SANITIZED. By hand:
  HEARTH_BIN=build/bin/hearth HEARTH_SANITIZED=0 \
  HEARTH_STORIES_MODEL=../shared/models/stories260K.gguf python3 -u tests/gateway/test_trust.py -v
"""

import hashlib
import http.client
import json
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from harness import (HOST, SCALE, http_request, metric_value, metrics,  # noqa: E402
                     start_gateway, stop_and_check, wait_until)
from test_placement import (HEARTH_BIN, PlacementTestCase, setUpModule,  # noqa: E402,F401
                            sse_payloads)

KEY_RE = re.compile(r"^(hk_[0-9a-f]{16})_[0-9A-Za-z]{43}$")
EMAIL = "jane.doe@example.com"
GENESIS_HASH = "0" * 64

# A prompt of 8 characters: 2 estimated tokens ((characters + 3) / 4).
SHORT_PROMPT = "abcdefgh"
SHORT_PROMPT_TOKENS = 2

PROVIDERS = """
        providers:
          - name: openai-fake
            base_url: {openai_url}
            api_key_env: OPENAI_KEY
          - name: dead-fake
            base_url: {dead_url}
            api_key_env: OTHER_KEY
"""

STORIES_MODEL = """
          - name: stories
            path: {stories}
            context: 1024
            parallel: 2
            threads: 1
"""


def chat_body(model, text, max_tokens=8, **extra):
    body = {"model": model, "messages": [{"role": "user", "content": text}],
            "max_tokens": max_tokens, "temperature": 0}
    body.update(extra)
    return body


def bearer(key):
    return {"Authorization": "Bearer " + key}


def other_char(char):
    """A base62 character other than `char`."""
    return "B" if char == "A" else "A"


def concurrently(count, send):
    """Runs send(index) on `count` threads released together; returns the results in order."""
    barrier = threading.Barrier(count)
    results = [None] * count
    errors = []

    def run(index):
        try:
            barrier.wait(timeout=30 * SCALE)
            results[index] = send(index)
        except BaseException as error:  # re-raised in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(index,), name="burst-%d" % index)
               for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120 * SCALE)
    if any(thread.is_alive() for thread in threads):
        raise AssertionError("a concurrent request never finished")
    if errors:
        raise errors[0]
    return results


def assert_trust_error(test, reply, status, error_type, code):
    """The OpenAI error shape {"error": {"message", "type", "param", "code"}} with a trust error
    type (harness.assert_error wants invalid_request_error for every status below 500)."""
    test.assertEqual(reply.status, status, reply)
    test.assertTrue(reply.headers.get("content-type", "").startswith("application/json"),
                    reply.headers)
    document = reply.json()
    test.assertEqual(list(document), ["error"], document)
    error = document["error"]
    test.assertEqual(set(error), {"message", "type", "param", "code"}, error)
    test.assertIsInstance(error["message"], str)
    test.assertTrue(error["message"], error)
    test.assertEqual(error["type"], error_type, error)
    test.assertEqual(error["code"], code, error)
    return error


def record_hash(record):
    """audit::record_hash (src/audit/chain.cpp): SHA-256 over length-prefixed fields."""
    encoded = b"hearth-audit-v1\n"
    for field in (record["previous_hash"], str(record["sequence"]), str(record["time_us"]),
                  record["kind"], record["actor"], record["detail"]):
        data = field.encode("utf-8")
        encoded += str(len(data)).encode("ascii") + b":" + data
    return hashlib.sha256(encoded).hexdigest()


class TrustTestCase(PlacementTestCase):
    """A gateway with its ledger at {dir}/ledger.db; with BOOTSTRAP_ADMIN the first key (scope
    admin) is made through the admin API while loopback is still trusted, so every request of the
    tests needs a key."""

    BOOTSTRAP_ADMIN = True
    admin_key = None
    admin_id = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            cls.ledger_path = os.path.join(cls.directory.name, "ledger.db")
            if cls.BOOTSTRAP_ADMIN:
                reply = http_request(cls.port, "POST", "/admin/keys",
                                     {"tenant": "ops", "name": "bootstrap admin",
                                      "scopes": ["admin"]})
                if reply.status != 201:
                    raise AssertionError("bootstrap admin key: %r" % reply)
                cls.admin_key = reply.json()["key"]
                cls.admin_id = reply.json()["id"]
        except BaseException:
            cls.tearDownClass()
            raise

    # -- keys ----------------------------------------------------------------------------------

    def create_key(self, tenant="acme", name="test key", **fields):
        """Makes a key through the admin API; returns (key, id)."""
        body = {"tenant": tenant, "name": name}
        body.update(fields)
        reply = http_request(self.port, "POST", "/admin/keys", body, bearer(self.admin_key))
        self.assertEqual(reply.status, 201, reply)
        document = reply.json()
        match = KEY_RE.match(document["key"])
        self.assertTrue(match, document["key"])
        self.assertEqual(match.group(1), document["id"])
        return document["key"], document["id"]

    def revoke_key(self, key_id):
        reply = http_request(self.port, "DELETE", "/admin/keys/" + key_id, None,
                             bearer(self.admin_key))
        self.assertEqual(reply.status, 200, reply)
        self.assertEqual(reply.json(), {"id": key_id, "object": "api_key", "revoked": True})

    def listed_key(self, key_id):
        reply = http_request(self.port, "GET", "/admin/keys", None, bearer(self.admin_key))
        self.assertEqual(reply.status, 200, reply)
        found = [item for item in reply.json()["data"] if item["id"] == key_id]
        self.assertEqual(len(found), 1, reply.json())
        return found[0]

    def chat(self, key, body, headers=None):
        all_headers = bearer(key) if key else {}
        all_headers.update(headers or {})
        return http_request(self.port, "POST", "/v1/chat/completions", body, all_headers)

    # -- ledger --------------------------------------------------------------------------------

    def query(self, sql, parameters=()):
        connection = sqlite3.connect("file:%s?mode=ro" % self.ledger_path, uri=True,
                                     timeout=10 * SCALE)
        try:
            connection.row_factory = sqlite3.Row
            return [dict(row) for row in connection.execute(sql, parameters)]
        finally:
            connection.close()

    def usage_row(self, request_id):
        """The usage record of one request, once the writer has committed it (bounded poll)."""
        rows = wait_until(lambda: self.query("SELECT * FROM usage WHERE request_id = ?",
                                             (request_id,)),
                          10, "no usage record for request %s" % request_id)
        self.assertEqual(len(rows), 1, rows)
        return rows[0]

    def key_rows(self, key_id, count):
        """The usage records of a key, once there are `count` of them (bounded poll)."""
        found = []

        def check():
            found[:] = self.query("SELECT * FROM usage WHERE key_id = ?", (key_id,))
            return len(found) == count

        wait_until(check, 10, "key %s: not %d usage records" % (key_id, count))
        return found

    def audit_events(self):
        return self.query("SELECT * FROM audit_log ORDER BY sequence")

    def wait_for_audit(self, predicate, message):
        """The audit events (all kinds) once predicate(events) holds."""
        found = []

        def check():
            events = self.audit_events()
            if predicate(events):
                found.append(events)
                return True
            return False

        wait_until(check, 10, message)
        return found[0]

    def metric(self, name, **labels):
        return metric_value(metrics(self.port), name, labels) or 0.0


# ---------------------------------------------------------------------------------------------
# Before the first key: loopback is trusted; the first key turns authentication on at once
# ---------------------------------------------------------------------------------------------


class FirstKeyTest(TrustTestCase):
    BOOTSTRAP_ADMIN = False
    CONFIG = PROVIDERS + """
        models:
          - name: cloud-gpt
            provider: openai-fake
          - name: cloud-acme
            provider: openai-fake
        ledger:
          path: {dir}/ledger.db
        policy:
          rules:
            - name: acme
              match: {{tenant: acme}}
              targets: [cloud-acme]
    """

    def test_loopback_is_trusted_until_the_first_key_exists(self):
        # No key: the caller names its tenant itself.
        reply = self.chat(None, chat_body("cloud-gpt", "hi"), {"x-hearth-tenant": "acme"})
        self.assert_placed(reply, "acme", "cloud-acme", "cloud")
        reply = self.chat(None, chat_body("cloud-gpt", "hi"), {"x-hearth-tenant": "other"})
        self.assert_placed(reply, "default", "cloud-gpt", "cloud")
        listing = http_request(self.port, "GET", "/admin/keys")
        self.assertEqual(listing.status, 200, listing)
        self.assertEqual(listing.json(), {"object": "list", "data": []})

        expires_at = int(time.time()) + 3600
        reply = http_request(self.port, "POST", "/admin/keys", {
            "tenant": "acme", "name": "first", "scopes": ["admin", "workload:support*"],
            "requests_per_minute": 600, "tokens_per_minute": 100000, "monthly_budget_usd": 12.5,
            "expires_at": expires_at})
        self.assertEqual(reply.status, 201, reply)
        created = reply.json()
        match = KEY_RE.match(created["key"])
        self.assertTrue(match, created)
        self.assertEqual(created["id"], match.group(1))
        self.assertEqual(created["object"], "api_key")
        self.assertEqual((created["tenant"], created["name"], created["scopes"]),
                         ("acme", "first", ["admin", "workload:support*"]))
        self.assertEqual((created["requests_per_minute"], created["tokens_per_minute"],
                          created["monthly_budget_usd"], created["expires_us"],
                          created["revoked_us"]),
                         (600, 100000, 12.5, expires_at * 1000000, None))
        key, key_id = created["key"], created["id"]

        # The key applies at once: nothing is served without one any more.
        assert_trust_error(self, self.chat(None, chat_body("cloud-gpt", "hi")), 401,
                           "authentication_error", "missing_api_key")
        for method, path in (("GET", "/admin/keys"), ("POST", "/admin/reload"),
                             ("GET", "/v1/models")):
            assert_trust_error(self, http_request(self.port, method, path), 401,
                               "authentication_error", "missing_api_key")
        # Health and metrics stay open for probes and scrapers.
        self.assertEqual(http_request(self.port, "GET", "/healthz").status, 200)
        self.assertEqual(http_request(self.port, "GET", "/metrics").status, 200)

        reply = self.chat(key, chat_body("cloud-gpt", "hi", metadata={"workload": "support-eu"}))
        self.assert_placed(reply, "acme", "cloud-acme", "cloud")
        listing = http_request(self.port, "GET", "/admin/keys", None, bearer(key))
        self.assertEqual(listing.status, 200, listing)
        items = listing.json()["data"]
        self.assertEqual([item["id"] for item in items], [key_id])
        self.assertNotIn("key", items[0])
        self.assertNotIn("secret_hash", items[0])
        self.assertNotIn(key[len(key_id) + 1:], listing.body.decode("utf-8"))
        # The store keeps a hash, never the key.
        stored = self.query("SELECT * FROM api_keys")
        self.assertEqual(len(stored), 1)
        self.assertEqual(stored[0]["secret_hash"], hashlib.sha256(key.encode()).hexdigest())
        self.assertNotIn(key[len(key_id) + 1:], json.dumps(stored))

        events = self.wait_for_audit(lambda events: any(e["kind"] == "key.created"
                                                        for e in events),
                                     "no key.created audit event")
        created_events = [e for e in events if e["kind"] == "key.created"]
        self.assertEqual(len(created_events), 1, events)
        self.assertEqual(created_events[0]["actor"], "loopback")
        self.assertEqual(json.loads(created_events[0]["detail"]),
                         {"id": key_id, "tenant": "acme", "name": "first",
                          "scopes": ["admin", "workload:support*"]})


# ---------------------------------------------------------------------------------------------
# Authentication and scopes
# ---------------------------------------------------------------------------------------------


class AuthTest(TrustTestCase):
    CONFIG = PROVIDERS + """
        models:
          - name: cloud-gpt
            provider: openai-fake
          - name: cloud-acme
            provider: openai-fake
        auth:
          key_refresh: 200ms
        ledger:
          path: {dir}/ledger.db
        policy:
          rules:
            - name: acme
              match: {{tenant: acme}}
              targets: [cloud-acme]
    """

    def assert_refused(self, reply, status, error_type, code):
        assert_trust_error(self, reply, status, error_type, code)
        self.assertEqual(self.openai.request_count, 0, "a refused request reached the provider")

    def test_every_authentication_failure_is_a_401_in_the_openai_shape(self):
        key, key_id = self.create_key(tenant="beta")
        secret = key[len(key_id) + 1:]
        body = chat_body("cloud-gpt", "hi")
        reasons = ("missing", "malformed", "invalid_api_key", "revoked_api_key",
                   "expired_api_key")
        before = {reason: self.metric("hearth_gateway_auth_failures_total", reason=reason)
                  for reason in reasons}

        self.assert_refused(self.chat(None, body), 401, "authentication_error", "missing_api_key")
        for headers in ({"Authorization": "Bearer"}, {"Authorization": "Basic x"},
                        {"Authorization": "Bearer " + key, "x-api-key": self.admin_key},
                        {"Authorization": "Bearer %s extra" % key}):
            self.assert_refused(self.chat(None, body, headers), 401, "authentication_error",
                                "invalid_api_key")
        # Right id, wrong secret; an id that does not exist; not a key at all.
        wrong_secret = "%s_%s%s" % (key_id, secret[:-1], other_char(secret[-1]))
        unknown_id = "hk_%016x_%s" % (int(key_id[3:], 16) ^ 1, secret)
        for candidate in (wrong_secret, unknown_id, "sk-not-a-hearth-key"):
            self.assert_refused(self.chat(candidate, body), 401, "authentication_error",
                                "invalid_api_key")
        self.assert_refused(self.chat(None, body, {"x-api-key": wrong_secret}), 401,
                            "authentication_error", "invalid_api_key")

        # Either header works, and both together when they agree.
        for headers in (bearer(key), {"x-api-key": key},
                        {"Authorization": "bearer " + key, "x-api-key": key}):
            self.assertEqual(self.chat(None, body, headers).status, 200)
        self.assertEqual(self.openai.request_count, 3)
        self.openai.reset()

        self.revoke_key(key_id)
        self.assert_refused(self.chat(key, body), 401, "authentication_error", "revoked_api_key")
        # Revoking twice: the key is no longer active.
        reply = http_request(self.port, "DELETE", "/admin/keys/" + key_id, None,
                             bearer(self.admin_key))
        self.assertEqual(reply.status, 404, reply)
        self.assertEqual(reply.json()["error"]["code"], "key_not_found")
        self.assertIsNotNone(self.listed_key(key_id)["revoked_us"])

        expires_at = int(time.time()) + (4 if SCALE > 1 else 2)
        expiring, _ = self.create_key(tenant="beta", expires_at=expires_at)
        self.assertEqual(http_request(self.port, "GET", "/v1/models", None,
                                      bearer(expiring)).status, 200)
        while time.time() < expires_at + 0.05:
            time.sleep(0.05)
        self.assert_refused(self.chat(expiring, body), 401, "authentication_error",
                            "expired_api_key")
        # A key that would expire in the past is not made.
        reply = http_request(self.port, "POST", "/admin/keys",
                             {"tenant": "beta", "name": "late", "expires_at": 1000},
                             bearer(self.admin_key))
        self.assertEqual(reply.status, 400, reply)

        after = {reason: self.metric("hearth_gateway_auth_failures_total", reason=reason)
                 for reason in reasons}
        self.assertEqual({reason: after[reason] - before[reason] for reason in reasons},
                         {"missing": 1, "malformed": 4, "invalid_api_key": 4,
                          "revoked_api_key": 1, "expired_api_key": 1})

    def test_scopes_limit_workload_model_placement_and_admin(self):
        body = chat_body("cloud-gpt", "hi")
        before_scope = self.metric("hearth_gateway_auth_failures_total",
                                   reason="insufficient_scope")
        before_admin = self.metric("hearth_gateway_auth_failures_total", reason="admin_required")

        support, _ = self.create_key(tenant="beta", scopes=["workload:support"])
        self.assertEqual(self.chat(support, body, {"x-hearth-workload": "support"}).status, 200)
        self.assertEqual(self.chat(support, dict(body, metadata={"workload": "support"})).status,
                         200)
        self.openai.reset()
        self.assert_refused(self.chat(support, body, {"x-hearth-workload": "other"}), 403,
                            "permission_error", "insufficient_scope")
        self.assert_refused(self.chat(support, body), 403, "permission_error",
                            "insufficient_scope")
        self.assert_refused(self.chat(support, body, {"x-hearth-workload": "support-eu"}), 403,
                            "permission_error", "insufficient_scope")

        prefixed, _ = self.create_key(tenant="beta", scopes=["workload:support*"])
        self.assertEqual(self.chat(prefixed, body, {"x-hearth-workload": "support-eu"}).status,
                         200)
        self.openai.reset()
        self.assert_refused(self.chat(prefixed, body, {"x-hearth-workload": "sales"}), 403,
                            "permission_error", "insufficient_scope")

        model_key, _ = self.create_key(tenant="beta", scopes=["model:cloud-gpt"])
        self.assertEqual(self.chat(model_key, body).status, 200)
        self.openai.reset()
        self.assert_refused(self.chat(model_key, chat_body("cloud-acme", "hi")), 403,
                            "permission_error", "insufficient_scope")

        local_key, _ = self.create_key(tenant="beta", scopes=["placement:local"])
        self.assertEqual(self.chat(local_key, body, {"x-hearth-placement": "auto"}).status, 200)
        self.assertEqual(self.chat(local_key, body).status, 200)
        self.openai.reset()
        self.assert_refused(self.chat(local_key, body, {"x-hearth-placement": "cloud"}), 403,
                            "permission_error", "insufficient_scope")

        # Admin endpoints need the admin scope, whatever else a key may do.
        for method, path, payload in (
                ("GET", "/admin/keys", None),
                ("POST", "/admin/keys", {"tenant": "beta", "name": "sneaky"}),
                ("DELETE", "/admin/keys/" + self.admin_id, None),
                ("POST", "/admin/reload", b""),
                ("POST", "/admin/route/explain", {"model": "cloud-gpt"})):
            reply = http_request(self.port, method, path, payload, bearer(model_key))
            assert_trust_error(self, reply, 403, "permission_error", "admin_required")
        self.assertIsNone(self.listed_key(self.admin_id)["revoked_us"])

        self.assertEqual(self.metric("hearth_gateway_auth_failures_total",
                                     reason="insufficient_scope") - before_scope, 6)
        self.assertEqual(self.metric("hearth_gateway_auth_failures_total",
                                     reason="admin_required") - before_admin, 5)

    def test_keys_made_and_revoked_by_another_process_apply_within_key_refresh(self):
        def cli(*args):
            result = subprocess.run([HEARTH_BIN, "keys", *args, "--config", self.config_path,
                                     "--json"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, timeout=60 * SCALE)
            self.assertEqual(result.returncode, 0, result.stderr.decode("utf-8", "replace"))
            return result.stdout.decode("utf-8")

        probe = subprocess.run([HEARTH_BIN, "keys", "create", "--help"],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, timeout=30 * SCALE)
        if probe.returncode != 0:
            self.skipTest("this hearth has no `keys create`")
        made = json.loads(cli("create", "--tenant", "acme", "--name", "from the cli"))
        key, key_id = made["key"], made["id"]
        body = chat_body("cloud-gpt", "hi")
        # The gateway learns of the key from the store within key_refresh (200ms).
        wait_until(lambda: self.chat(key, body).status == 200, 5,
                   "a key made by the CLI was never accepted")
        cli("revoke", key_id)
        wait_until(lambda: self.chat(key, body).status == 401, 5,
                   "a key revoked by the CLI was still accepted")
        assert_trust_error(self, self.chat(key, body), 401, "authentication_error",
                           "revoked_api_key")

    def test_the_tenant_comes_from_the_key_not_the_header(self):
        acme, acme_id = self.create_key(tenant="acme")
        other, _ = self.create_key(tenant="other")
        reply = self.chat(acme, chat_body("cloud-gpt", "hi"), {"x-hearth-tenant": "other",
                                                                "x-request-id": "tenant-acme-1"})
        self.assert_placed(reply, "acme", "cloud-acme", "cloud")
        reply = self.chat(other, chat_body("cloud-gpt", "hi"), {"x-hearth-tenant": "acme",
                                                                 "x-request-id": "tenant-other-1"})
        self.assert_placed(reply, "default", "cloud-gpt", "cloud")
        row = self.usage_row("tenant-acme-1")
        self.assertEqual((row["tenant"], row["key_id"], row["rule"]), ("acme", acme_id, "acme"))
        self.assertEqual(self.usage_row("tenant-other-1")["tenant"], "other")

    def test_a_wrong_key_is_refused_in_the_same_time_however_much_of_it_matches(self):
        key, key_id = self.create_key(tenant="beta")
        secret = key[len(key_id) + 1:]
        candidates = {
            "last character wrong": "%s_%s%s" % (key_id, secret[:-1], other_char(secret[-1])),
            "first character wrong": "%s_%s%s" % (key_id, other_char(secret[0]), secret[1:]),
        }
        connection = http.client.HTTPConnection(HOST, self.port, timeout=30 * SCALE)

        def refusal_seconds(candidate):
            started = time.perf_counter()
            connection.request("GET", "/v1/models", headers=bearer(candidate))
            response = connection.getresponse()
            payload = response.read()
            elapsed = time.perf_counter() - started
            self.assertEqual(response.status, 401, payload)
            self.assertEqual(json.loads(payload)["error"]["code"], "invalid_api_key")
            return elapsed

        try:
            for _ in range(30):  # warm-up: connection, allocator, caches
                for candidate in candidates.values():
                    refusal_seconds(candidate)
            samples = {name: [] for name in candidates}
            for round_index in range(150):
                names = list(candidates)
                if round_index % 2:
                    names.reverse()
                for name in names:
                    samples[name].append(refusal_seconds(candidates[name]))
        finally:
            connection.close()
        medians = {name: statistics.median(values) for name, values in samples.items()}
        difference = abs(medians["last character wrong"] - medians["first character wrong"])
        allowed = max(0.0002, 0.2 * min(medians.values()))
        self.assertLess(difference, allowed,
                        "median refusal times differ: %s" % {name: "%.3f ms" % (value * 1000)
                                                             for name, value in medians.items()})


# ---------------------------------------------------------------------------------------------
# Rate limits
# ---------------------------------------------------------------------------------------------


class RateLimitTest(TrustTestCase):
    CONFIG = PROVIDERS + """
        models:
          - name: cloud-gpt
            provider: openai-fake
        ledger:
          path: {dir}/ledger.db
    """

    def burst(self, key, count, body):
        return concurrently(count, lambda index: self.chat(key, body))

    def test_requests_per_minute_admit_exactly_the_limit_under_concurrency(self):
        key, key_id = self.create_key(tenant="beta", requests_per_minute=10)
        self.openai.set_default({"delay_ms": 100})
        before = self.metric("hearth_gateway_rate_limited_total", key=key_id)
        replies = self.burst(key, 30, chat_body("cloud-gpt", "hi"))
        admitted = [reply for reply in replies if reply.status == 200]
        limited = [reply for reply in replies if reply.status == 429]
        self.assertEqual((len(admitted), len(limited)), (10, 20), [r.status for r in replies])
        for reply in limited:
            error = assert_trust_error(self, reply, 429, "rate_limit_error", "rate_limit_exceeded")
            self.assertIn("requests per minute (10)", error["message"])
            # One request comes back every 6 s.
            self.assertIn(int(reply.headers.get("retry-after", "0")), range(1, 7), reply.headers)
        self.assertEqual(self.openai.request_count, 10)
        self.assertEqual(self.metric("hearth_gateway_rate_limited_total", key=key_id) - before,
                         20)
        # Another key has its own bucket.
        other, _ = self.create_key(tenant="beta", requests_per_minute=10)
        self.assertEqual(self.chat(other, chat_body("cloud-gpt", "hi")).status, 200)

    def test_tokens_per_minute_admit_no_more_than_fit_under_concurrency(self):
        # Each request is estimated at 2 prompt tokens + max_tokens 18 = 20; 100 per minute fit 5.
        # The provider reports exactly the estimate, so settling gives nothing back.
        key, key_id = self.create_key(tenant="beta", tokens_per_minute=100)
        self.openai.set_default({"delay_ms": 200, "usage": {
            "prompt_tokens": SHORT_PROMPT_TOKENS, "completion_tokens": 18,
            "total_tokens": SHORT_PROMPT_TOKENS + 18}})
        replies = self.burst(key, 15, chat_body("cloud-gpt", SHORT_PROMPT, max_tokens=18))
        admitted = [reply for reply in replies if reply.status == 200]
        self.assertEqual(len(admitted), 5, [r.status for r in replies])
        for reply in replies:
            if reply.status != 200:
                error = assert_trust_error(self, reply, 429, "rate_limit_error",
                                           "rate_limit_exceeded")
                self.assertIn("tokens per minute (100)", error["message"])
                self.assertGreaterEqual(int(reply.headers.get("retry-after", "0")), 1)
        self.assertEqual(self.openai.request_count, 5)

        # A request that could never fit says so, and when the bucket would be full.
        big, _ = self.create_key(tenant="beta", tokens_per_minute=100)
        reply = self.chat(big, chat_body("cloud-gpt", SHORT_PROMPT, max_tokens=200))
        error = assert_trust_error(self, reply, 429, "rate_limit_error", "rate_limit_exceeded")
        self.assertIn("can never fit", error["message"])
        self.assertEqual(reply.headers.get("retry-after"), "60")
        self.assertEqual(self.chat(big, chat_body("cloud-gpt", SHORT_PROMPT,
                                                  max_tokens=98)).status, 200)


# ---------------------------------------------------------------------------------------------
# Monthly cloud budgets
# ---------------------------------------------------------------------------------------------


# $1000 / $2000 per million tokens: a request of SHORT_PROMPT with max_tokens 10 is estimated
# (and, as the fake reports, billed) at (2 * 1000 + 10 * 2000) / 1e6 = $0.022.
BUDGET_CONFIG = PROVIDERS + """
        models:""" + STORIES_MODEL + """
          - name: cloud-gpt
            provider: openai-fake
            price: {{input: 1000.0, output: 2000.0}}
        auth:
          over_budget: {over_budget}
          spend_refresh: 200ms
          tenant_budgets: {{frugal: 0.044}}
        ledger:
          path: {dir}/ledger.db
        policy:
          rules:
            - name: cloud-first
              match: {{workload: budget}}
              targets: [cloud-gpt, stories]
"""
REQUEST_COST = (SHORT_PROMPT_TOKENS * 1000.0 + 10 * 2000.0) / 1e6
BILLED_USAGE = {"prompt_tokens": SHORT_PROMPT_TOKENS, "completion_tokens": 10,
                "total_tokens": SHORT_PROMPT_TOKENS + 10}


class BudgetTestCase(TrustTestCase):
    def budget_chat(self, key, **extra):
        body = chat_body("cloud-gpt", SHORT_PROMPT, max_tokens=10, **extra)
        return self.chat(key, body, {"x-hearth-workload": "budget"})

    def setUp(self):
        super().setUp()
        # Slow enough that every request of a burst is in flight (reserved) at once.
        self.openai.set_default({"delay_ms": 300, "usage": BILLED_USAGE})


class OverBudgetLocalTest(BudgetTestCase):
    CONFIG = BUDGET_CONFIG.replace("{over_budget}", "local")

    def test_over_budget_requests_skip_the_cloud_and_are_served_locally(self):
        key, key_id = self.create_key(tenant="beta", monthly_budget_usd=4 * REQUEST_COST)
        before = self.metric("hearth_gateway_budget_exceeded_total", action="local")
        replies = concurrently(12, lambda index: self.budget_chat(key))
        for reply in replies:
            self.assertEqual(reply.status, 200, reply)
        cloud = [reply for reply in replies if reply.headers.get("x-hearth-placement") == "cloud"]
        local = [reply for reply in replies if reply.headers.get("x-hearth-placement") == "local"]
        self.assertEqual((len(cloud), len(local)), (4, 8))
        self.assertEqual(self.openai.request_count, 4)
        for reply in local:
            self.assertEqual(reply.headers.get("x-hearth-target"), "stories")
            self.assertEqual(reply.headers.get("x-hearth-fallback"), "cloud-gpt: over_budget")
        for reply in cloud:
            self.assertIsNone(reply.headers.get("x-hearth-fallback"))
        self.assertEqual(self.metric("hearth_gateway_budget_exceeded_total", action="local")
                         - before, 8)
        self.assertAlmostEqual(self.listed_key(key_id)["spend_this_month_usd"], 4 * REQUEST_COST,
                               places=9)

        # A chain without a local target has nothing left to try.
        reply = self.chat(key, chat_body("cloud-gpt", SHORT_PROMPT, max_tokens=10))
        error = assert_trust_error(self, reply, 429, "insufficient_quota", "insufficient_quota")
        self.assertIn("no local target", error["message"])
        self.assertEqual(self.openai.request_count, 4)

        # Every refusal is audited and its usage record shows where it went instead.
        events = self.wait_for_audit(
            lambda events: sum(e["kind"] == "budget.exceeded" for e in events) == 9,
            "not 9 budget.exceeded audit events")
        for event in (e for e in events if e["kind"] == "budget.exceeded"):
            self.assertEqual(event["actor"], key_id)
            detail = json.loads(event["detail"])
            self.assertEqual(detail["key_id"], key_id)
            self.assertIn("key %s monthly budget" % key_id, detail["reason"])
        rows = self.key_rows(key_id, 13)
        self.assertAlmostEqual(sum(row["cloud_cost_usd"] for row in rows), 4 * REQUEST_COST,
                               places=12)
        self.assertEqual(sorted((row["placement"], row["fallbacks"]) for row in rows
                                if row["status"] == 200),
                         [("cloud", "")] * 4 + [("local", "cloud-gpt: over_budget")] * 8)


class OverBudgetRefuseTest(BudgetTestCase):
    CONFIG = BUDGET_CONFIG.replace("{over_budget}", "refuse")

    def assert_over_budget(self, reply, whose):
        error = assert_trust_error(self, reply, 429, "insufficient_quota", "insufficient_quota")
        self.assertIn(whose + " monthly budget", error["message"])

    def test_a_key_budget_refuses_the_rest_and_survives_a_restart(self):
        key, key_id = self.create_key(tenant="beta", monthly_budget_usd=4 * REQUEST_COST)
        before = self.metric("hearth_gateway_budget_exceeded_total", action="refuse")
        replies = concurrently(12, lambda index: self.budget_chat(key))
        served = [reply for reply in replies if reply.status == 200]
        self.assertEqual(len(served), 4, [r.status for r in replies])
        for reply in served:
            self.assertEqual(reply.headers.get("x-hearth-placement"), "cloud")
        for reply in replies:
            if reply.status != 200:
                self.assert_over_budget(reply, "key " + key_id)
        self.assertEqual(self.openai.request_count, 4)
        self.assertEqual(self.metric("hearth_gateway_budget_exceeded_total", action="refuse")
                         - before, 8)
        # After the spend was re-read from the ledger (spend_refresh 200ms), nothing is counted
        # twice or lost.
        rows = self.key_rows(key_id, 12)
        self.assertAlmostEqual(sum(row["cloud_cost_usd"] for row in rows), 4 * REQUEST_COST,
                               places=12)
        time.sleep(0.5)
        self.assertAlmostEqual(self.listed_key(key_id)["spend_this_month_usd"], 4 * REQUEST_COST,
                               places=9)
        self.assert_over_budget(self.budget_chat(key), "key " + key_id)

        # A new gateway on the same ledger knows the month's spend before its first request.
        cls = type(self)
        stop_and_check(cls.gateway)
        cls.gateway = None
        cls.gateway, cls.port = start_gateway(HEARTH_BIN, cls.config_path, env=cls.ENV)
        self.assert_over_budget(self.budget_chat(key), "key " + key_id)
        self.assertEqual(self.openai.request_count, 4)
        self.assertAlmostEqual(self.listed_key(key_id)["spend_this_month_usd"], 4 * REQUEST_COST,
                               places=9)
        # A key with room left still reaches the cloud.
        fresh, _ = self.create_key(tenant="beta", monthly_budget_usd=REQUEST_COST)
        self.assertEqual(self.budget_chat(fresh).headers.get("x-hearth-placement"), "cloud")

    def test_streamed_cloud_answers_spend_the_budget_too(self):
        key, key_id = self.create_key(tenant="beta", monthly_budget_usd=2 * REQUEST_COST)
        self.openai.set_default({"usage": BILLED_USAGE})
        statuses = []
        for _ in range(4):
            reply = self.budget_chat(key, stream=True)
            statuses.append(reply.status)
            if reply.status == 200:
                self.assertTrue(sse_payloads(reply)[1], reply)
            else:
                self.assert_over_budget(reply, "key " + key_id)
        self.assertEqual(statuses, [200, 200, 429, 429])
        self.assertEqual(self.openai.request_count, 2)
        self.assertAlmostEqual(self.listed_key(key_id)["spend_this_month_usd"], 2 * REQUEST_COST,
                               places=9)

    def test_a_tenant_budget_is_shared_by_the_tenants_keys(self):
        first, _ = self.create_key(tenant="frugal")
        second, _ = self.create_key(tenant="frugal")
        keys = [first, second]
        replies = concurrently(6, lambda index: self.budget_chat(keys[index % 2]))
        self.assertEqual(sum(reply.status == 200 for reply in replies), 2,
                         [r.status for r in replies])
        for reply in replies:
            if reply.status != 200:
                self.assert_over_budget(reply, "tenant frugal")
        self.assertEqual(self.openai.request_count, 2)
        # Another tenant is not affected.
        other, _ = self.create_key(tenant="lavish")
        self.assertEqual(self.budget_chat(other).status, 200)


# ---------------------------------------------------------------------------------------------
# The usage ledger and the audit log
# ---------------------------------------------------------------------------------------------


class LedgerTest(TrustTestCase):
    # $3 / $15 per million tokens.
    CONFIG = PROVIDERS + """
        models:""" + STORIES_MODEL + """
          - name: cloud-gpt
            provider: openai-fake
            price: {{input: 3.0, output: 15.0}}
          - name: cloud-dead
            provider: dead-fake
        policy:
          attempts_per_target: 1
          rules:
            - name: local-first
              match: {{workload: [local-first, keep-content]}}
              targets: [stories, cloud-gpt]
            - name: private
              match: {{workload: private}}
              targets: [cloud-gpt, stories]
              privacy: {{pii: local_only}}
            - name: redacting
              match: {{workload: redacting}}
              targets: [cloud-gpt, stories]
            - name: flaky
              match: {{workload: flaky}}
              targets: [cloud-dead, stories]
            - name: escalating
              match: {{workload: escalating}}
              targets: [stories, cloud-gpt]
              escalate: {{}}
        ledger:
          path: {dir}/ledger.db
          content_workloads: [keep-content]
    """

    PRICE_INPUT = 3.0
    PRICE_OUTPUT = 15.0

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            reply = http_request(cls.port, "POST", "/admin/keys",
                                 {"tenant": "ledger-tenant", "name": "ledger tests"},
                                 bearer(cls.admin_key))
            if reply.status != 201:
                raise AssertionError("ledger test key: %r" % reply)
            cls.key, cls.key_id = reply.json()["key"], reply.json()["id"]
        except BaseException:
            cls.tearDownClass()
            raise

    def price(self, prompt, completion):
        return (prompt * self.PRICE_INPUT + completion * self.PRICE_OUTPUT) / 1e6

    def send(self, request_id, workload, text, headers=None, **extra):
        all_headers = {"x-hearth-workload": workload}
        if request_id:
            all_headers["x-request-id"] = request_id
        all_headers.update(headers or {})
        return self.chat(self.key, chat_body(extra.pop("model", "stories"), text, **extra),
                         all_headers)

    def assert_common(self, row, request_id, workload, rule, status=200):
        self.assertEqual(row["request_id"], request_id)
        self.assertEqual(row["key_id"], self.key_id)
        self.assertEqual(row["tenant"], "ledger-tenant")
        self.assertEqual(row["workload"], workload)
        self.assertEqual(row["task"], "chat")
        self.assertEqual(row["route"], "/chat/completions")
        self.assertEqual(row["rule"], rule)
        self.assertEqual(row["status"], status)
        self.assertGreater(row["latency_ms"], 0)
        self.assertGreaterEqual(row["overhead_ms"], 0)
        self.assertLessEqual(row["overhead_ms"], row["latency_ms"])
        self.assertEqual(row["content"], "")
        self.assertLess(abs(row["time_us"] / 1e6 - time.time()), 120 * SCALE)

    def assert_answered_by(self, row, reply):
        self.assertEqual(row["placement"], reply.headers["x-hearth-placement"])
        self.assertEqual(row["backend"], reply.headers["x-hearth-backend"])
        self.assertEqual(row["model"], reply.headers["x-hearth-model"])
        self.assertEqual(row["fallbacks"], reply.headers.get("x-hearth-fallback", ""))

    def test_a_local_answer_records_its_usage_and_the_cost_it_avoided(self):
        reply = self.send("ledger-local-1", "local-first", "Once upon a time")
        self.assert_placed(reply, "local-first", "stories", "local")
        usage = reply.json()["usage"]
        row = self.usage_row("ledger-local-1")
        self.assert_common(row, "ledger-local-1", "local-first", "local-first")
        self.assert_answered_by(row, reply)
        self.assertEqual((row["prompt_tokens"], row["completion_tokens"]),
                         (usage["prompt_tokens"], usage["completion_tokens"]))
        self.assertGreater(row["completion_tokens"], 0)
        self.assertEqual(row["stream"], 0)
        self.assertIsNone(row["time_to_first_token_ms"])
        self.assertEqual(row["cloud_cost_usd"], 0)
        self.assertAlmostEqual(row["avoided_cost_usd"],
                               self.price(usage["prompt_tokens"], usage["completion_tokens"]),
                               places=12)
        self.assertGreater(row["avoided_cost_usd"], 0)
        self.assertEqual((row["privacy_action"], row["sensitivity"]), ("", ""))
        # The worker's compute time for it, read from its x-hearth-busy-ms; the gateway passes
        # the same figure on (hearth eval reads it for local energy).
        self.assertGreater(row["busy_ms"], 0)
        self.assertLessEqual(row["busy_ms"], row["latency_ms"])
        self.assertAlmostEqual(float(reply.headers["x-hearth-busy-ms"]), row["busy_ms"],
                               delta=0.001)

        # Without x-request-id the gateway names the request itself.
        self.send("", "local-first", "Once upon a time", max_tokens=2)
        rows = wait_until(lambda: self.query("SELECT * FROM usage WHERE request_id LIKE 'req_%'"),
                          10, "no record with a generated request id")
        self.assertRegex(rows[0]["request_id"], r"^req_[0-9a-f]{18}$")

    def test_streams_record_their_usage_whether_or_not_the_client_asked_for_it(self):
        reply = self.send("ledger-stream-1", "local-first", "Once upon a time", stream=True)
        payloads, done = sse_payloads(reply)
        self.assertTrue(done, reply)
        # The gateway asked the worker for usage; the client, which did not, never sees it.
        for payload in payloads:
            self.assertTrue(payload.get("choices"), payload)
            self.assertIsNone(payload.get("usage"), payload)
        row = self.usage_row("ledger-stream-1")
        self.assert_common(row, "ledger-stream-1", "local-first", "local-first")
        self.assert_answered_by(row, reply)
        self.assertEqual(row["stream"], 1)
        self.assertGreater(row["prompt_tokens"], 0)
        self.assertGreater(row["completion_tokens"], 0)
        self.assertGreater(row["time_to_first_token_ms"], 0)
        self.assertLessEqual(row["time_to_first_token_ms"], row["latency_ms"])
        self.assertGreater(row["avoided_cost_usd"], 0)
        # The worker's busy-time comment before [DONE] is read, and taken out of the stream.
        self.assertGreater(row["busy_ms"], 0)
        self.assertLessEqual(row["busy_ms"], row["latency_ms"])
        self.assertNotIn(b"hearth-busy-ms", reply.body)
        self.assertTrue(reply.body.endswith(b"}\n\ndata: [DONE]\n\n"), reply.body[-200:])

        reply = self.send("ledger-stream-2", "local-first", "Once upon a time", stream=True,
                          stream_options={"include_usage": True})
        payloads, done = sse_payloads(reply)
        self.assertTrue(done, reply)
        usage_chunks = [payload for payload in payloads if payload.get("usage")]
        self.assertEqual(len(usage_chunks), 1, payloads)
        self.assertEqual(usage_chunks[0]["choices"], [])
        usage = usage_chunks[0]["usage"]
        row = self.usage_row("ledger-stream-2")
        self.assertEqual((row["prompt_tokens"], row["completion_tokens"]),
                         (usage["prompt_tokens"], usage["completion_tokens"]))
        self.assertGreater(row["time_to_first_token_ms"], 0)
        self.assertGreater(row["busy_ms"], 0)
        self.assertNotIn(b"hearth-busy-ms", reply.body)

    def test_a_cloud_answer_records_its_cost(self):
        reply = self.send("ledger-cloud-1", "direct", "Tell me a story please", model="cloud-gpt")
        self.assert_placed(reply, "default", "cloud-gpt", "cloud")
        usage = reply.json()["usage"]
        self.assertEqual((usage["prompt_tokens"], usage["completion_tokens"]), (5, 5))
        row = self.usage_row("ledger-cloud-1")
        self.assert_common(row, "ledger-cloud-1", "direct", "default")
        self.assert_answered_by(row, reply)
        self.assertEqual((row["prompt_tokens"], row["completion_tokens"]), (5, 5))
        self.assertAlmostEqual(row["cloud_cost_usd"], self.price(5, 5), places=12)
        self.assertEqual(row["avoided_cost_usd"], 0)
        self.assertEqual(row["busy_ms"], 0)  # no local compute

        # A streamed cloud answer is priced from the usage chunk the gateway asked for, which
        # the client, who did not, never sees.
        reply = self.send("ledger-cloud-2", "direct", "Tell me a story please", model="cloud-gpt",
                          stream=True)
        payloads, done = sse_payloads(reply)
        self.assertTrue(done)
        self.assertEqual(self.openai.requests[-1]["json"]["stream_options"],
                         {"include_usage": True})
        row = self.usage_row("ledger-cloud-2")
        self.assertEqual((row["prompt_tokens"], row["completion_tokens"]), (5, 5))
        self.assertAlmostEqual(row["cloud_cost_usd"], self.price(5, 5), places=12)
        self.assertGreater(row["time_to_first_token_ms"], 0)
        self.assertEqual(row["busy_ms"], 0)
        self.assertFalse([payload for payload in payloads if payload.get("usage")], payloads)

        reply = self.send("ledger-cloud-3", "direct", "Tell me a story please", model="cloud-gpt",
                          stream=True, stream_options={"include_usage": True})
        payloads, done = sse_payloads(reply)
        self.assertTrue(done)
        self.assertEqual([payload["usage"] for payload in payloads if payload.get("usage")],
                         [{"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}])
        row = self.usage_row("ledger-cloud-3")
        self.assertAlmostEqual(row["cloud_cost_usd"], self.price(5, 5), places=12)

    def test_an_escalated_answer_counts_the_local_compute_it_rejected(self):
        reply = self.send("ledger-escalated-1", "escalating", "Once upon a time", max_tokens=2)
        self.assert_placed(reply, "escalating", "cloud-gpt", "cloud")
        self.assertIn("truncated_answer", reply.headers["x-hearth-escalation"])
        row = self.usage_row("ledger-escalated-1")
        self.assertEqual(row["placement"], "cloud")
        self.assertGreater(row["cloud_cost_usd"], 0)
        # The local answer was computed, then rejected: its busy time was spent all the same.
        self.assertGreater(row["busy_ms"], 0)
        self.assertLessEqual(row["busy_ms"], row["latency_ms"])

    def test_privacy_actions_and_fallbacks_are_recorded_as_types_and_counts(self):
        text = "Write to %s about the order" % EMAIL
        reply = self.send("ledger-private-1", "private", text)
        self.assert_placed(reply, "private", "stories", "local")
        self.assertEqual(self.openai.request_count, 0)
        row = self.usage_row("ledger-private-1")
        self.assert_common(row, "ledger-private-1", "private", "private")
        self.assert_answered_by(row, reply)
        self.assertEqual((row["privacy_action"], row["sensitivity"]), ("local_only", "email=1"))
        self.assertEqual(row["fallbacks"], "cloud-gpt: privacy policy: local_only for [pii]")
        # What the answer saved is priced at the cloud target the policy excluded.
        self.assertGreater(row["avoided_cost_usd"], 0)

        reply = self.send("ledger-redact-1", "redacting", text)
        self.assert_placed(reply, "redacting", "cloud-gpt", "cloud")
        self.assertNotIn(EMAIL, self.openai.requests[0]["raw"].decode("utf-8", "replace"))
        row = self.usage_row("ledger-redact-1")
        self.assertEqual((row["privacy_action"], row["sensitivity"]), ("redact", "email=1"))

        reply = self.send("ledger-flaky-1", "flaky", "Once upon a time")
        self.assert_placed(reply, "flaky", "stories", "local")
        row = self.usage_row("ledger-flaky-1")
        self.assert_answered_by(row, reply)
        self.assertTrue(row["fallbacks"].startswith("cloud-dead: "), row["fallbacks"])

        self.assertNotIn(EMAIL, json.dumps(self.query("SELECT * FROM usage")))

    def test_no_text_is_stored_unless_the_workload_opted_in(self):
        marker = "Zanzibar quokka lighthouse"
        plain = self.send("ledger-text-1", "local-first", marker + " once upon a time")
        cloud = self.send("ledger-text-2", "direct", marker + " in the cloud", model="cloud-gpt")
        body = chat_body("stories", marker + " kept on purpose")
        kept = self.chat(self.key, body, {"x-request-id": "ledger-text-3",
                                          "x-hearth-workload": "keep-content"})
        for reply in (plain, cloud, kept):
            self.assertEqual(reply.status, 200, reply)
        row = self.usage_row("ledger-text-3")
        content = json.loads(row["content"])
        self.assertEqual(set(content), {"request", "answer"})
        self.assertEqual(json.loads(content["request"]), body)
        self.assertEqual(json.loads(content["answer"]), kept.json())
        self.usage_row("ledger-text-1")
        self.usage_row("ledger-text-2")
        others = self.query("SELECT * FROM usage WHERE request_id != 'ledger-text-3'")
        stored = json.dumps(others)
        answers = [plain.json()["choices"][0]["message"]["content"],
                   cloud.json()["choices"][0]["message"]["content"]]
        for text in [marker] + [answer for answer in answers if len(answer.strip()) >= 12]:
            self.assertNotIn(text, stored)
        self.assertNotIn(marker, json.dumps(self.audit_events()))

    def test_refused_requests_are_recorded_and_every_record_is_counted(self):
        def quiet_count():
            # The metric and the table agree once the writer has caught up.
            count = self.query("SELECT COUNT(*) AS n FROM usage")[0]["n"]
            return count == self.metric("hearth_gateway_ledger_records_written_total")

        wait_until(quiet_count, 10, "the ledger metric never matched the table")
        before = self.metric("hearth_gateway_ledger_records_written_total")
        self.chat(None, chat_body("stories", "hi"), {"x-request-id": "ledger-refused-1"})
        self.chat("hk_0123456789abcdef_" + "x" * 43, chat_body("stories", "hi"),
                  {"x-request-id": "ledger-refused-2"})
        self.send("ledger-counted-1", "direct", "hi", model="cloud-gpt")
        wait_until(lambda: self.metric("hearth_gateway_ledger_records_written_total")
                   == before + 3, 10, "ledger_records_written_total did not grow by 3")
        time.sleep(0.3)
        self.assertEqual(self.metric("hearth_gateway_ledger_records_written_total"), before + 3)
        self.assertEqual(self.query("SELECT COUNT(*) AS n FROM usage")[0]["n"], before + 3)
        for request_id in ("ledger-refused-1", "ledger-refused-2"):
            row = self.usage_row(request_id)
            self.assertEqual((row["status"], row["key_id"], row["placement"],
                              row["prompt_tokens"], row["cloud_cost_usd"]),
                             (401, "", "", 0, 0))

    def test_the_audit_log_records_decisions_and_its_chain_verifies(self):
        temporary, temporary_id = self.create_key(tenant="ledger-tenant", name="short-lived")
        self.revoke_key(temporary_id)
        reply = http_request(self.port, "POST", "/admin/reload", b"", bearer(self.admin_key))
        self.assertEqual(reply.status, 200, reply)
        text = "Mail %s today" % EMAIL
        self.assertEqual(self.send("audit-private-1", "private", text).status, 200)
        self.assertEqual(self.send("audit-redact-1", "redacting", text).status, 200)
        # Not allowed by the rule: the policy refuses the request.
        refused = self.send("audit-refused-1", "local-first", "hi",
                            headers={"x-hearth-placement": "local"})
        self.assertEqual(refused.status, 403, refused)
        self.assertEqual(refused.json()["error"]["code"], "placement_not_allowed")

        def request_events(events, kind, request_id):
            return [e for e in events if e["kind"] == kind
                    and json.loads(e["detail"]).get("request_id") == request_id]

        def complete(events):
            return (request_events(events, "privacy.local_only", "audit-private-1")
                    and request_events(events, "privacy.redacted", "audit-redact-1")
                    and request_events(events, "policy.refused", "audit-refused-1")
                    and any(e["kind"] == "config.reloaded" for e in events))

        events = self.wait_for_audit(complete, "audit events missing")
        created = [e for e in events if e["kind"] == "key.created"
                   and json.loads(e["detail"])["id"] == temporary_id]
        self.assertEqual(len(created), 1)
        self.assertEqual(created[0]["actor"], self.admin_id)
        self.assertEqual(json.loads(created[0]["detail"]),
                         {"id": temporary_id, "tenant": "ledger-tenant", "name": "short-lived",
                          "scopes": []})
        revoked = [e for e in events if e["kind"] == "key.revoked"]
        self.assertEqual([(e["actor"], json.loads(e["detail"])) for e in revoked],
                         [(self.admin_id, {"id": temporary_id})])
        bootstrap = [e for e in events if e["kind"] == "key.created"
                     and json.loads(e["detail"])["id"] == self.admin_id]
        self.assertEqual(bootstrap[0]["actor"], "loopback")
        reloaded = [e for e in events if e["kind"] == "config.reloaded"]
        self.assertEqual(reloaded[-1]["actor"], self.admin_id)

        # The rules are named after the workloads they match.
        for kind, request_id, rule in (("privacy.local_only", "audit-private-1", "private"),
                                       ("privacy.redacted", "audit-redact-1", "redacting")):
            found = request_events(events, kind, request_id)
            self.assertEqual(len(found), 1, events)
            self.assertEqual(found[0]["actor"], self.key_id)
            self.assertEqual(json.loads(found[0]["detail"]),
                             {"request_id": request_id, "key_id": self.key_id,
                              "tenant": "ledger-tenant", "workload": rule, "rule": rule,
                              "types": {"email": 1}})
        policy = request_events(events, "policy.refused", "audit-refused-1")
        self.assertEqual(len(policy), 1)
        self.assertIn("allow_placement", json.loads(policy[0]["detail"])["reason"])

        # Types and counts only: the value is nowhere in the store.
        for path in (self.ledger_path, self.ledger_path + "-wal"):
            if os.path.exists(path):
                with open(path, "rb") as database:
                    self.assertNotIn(EMAIL.encode(), database.read(), path)

        self.verify_chain(self.audit_events(),
                          self.query("SELECT * FROM audit_anchors ORDER BY sequence"))
        self.verify_with_cli()

    def verify_chain(self, records, anchors):
        self.assertTrue(records)
        previous = GENESIS_HASH
        for expected_sequence, record in enumerate(records, start=1):
            self.assertEqual(record["sequence"], expected_sequence)
            self.assertEqual(record["previous_hash"], previous, record)
            self.assertEqual(record["hash"], record_hash(record), record)
            previous = record["hash"]
        by_sequence = {record["sequence"]: record["hash"] for record in records}
        for anchor in anchors:
            self.assertEqual(anchor["hash"], by_sequence.get(anchor["sequence"]), anchor)

    def verify_with_cli(self):
        """`hearth audit verify` agrees, where the CLI has it."""
        probe = subprocess.run([HEARTH_BIN, "audit", "verify", "--help"],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=30 * SCALE)
        if probe.returncode != 0:
            return
        result = subprocess.run([HEARTH_BIN, "audit", "verify", "--config", self.config_path],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, timeout=60 * SCALE)
        self.assertEqual(result.returncode, 0, result.stdout.decode("utf-8", "replace"))


if __name__ == "__main__":
    unittest.main()
