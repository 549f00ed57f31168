#!/usr/bin/env python3
"""/metrics scraped by a real Prometheus server (Debian's `prometheus` package): the test starts
it on a free loopback port with a temporary configuration (the gateway scraped every second) and
TSDB directory, sends known traffic through a real `hearth serve` (local answers from a real
`hearth worker` on stories260K, cloud answers from tests/support/fake_cloud.py), waits for a
scrape that started after the traffic, and checks through Prometheus' HTTP API (/api/v1/query)
that what Prometheus stored matches the traffic: every scrape parsed (up == 1, no scrape error),
requests by workload and placement, histogram counts and buckets, tokens, cloud and avoided
spend, energy, fallbacks, privacy findings, worker, breaker and ledger gauges. A second,
Prometheus-free class checks that the same metrics are recorded with the ledger off.

Environment (set by ctest): HEARTH_BIN, HEARTH_STORIES_MODEL, HEARTH_SANITIZED; PROMETHEUS_BIN
(default /usr/bin/prometheus). By hand:
  HEARTH_BIN=build/bin/hearth HEARTH_SANITIZED=0 \
  HEARTH_STORIES_MODEL=../shared/models/stories260K.gguf \
  python3 -u tests/gateway/test_metrics_prometheus.py -v
"""

import math
import os
import sys
import textwrap
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from harness import (HOST, ManagedProcess, free_port, http_request,  # noqa: E402
                     metric_value, metrics, wait_until)
from test_placement import (HEARTH_BIN, STORIES, PlacementTestCase, sse_payloads)  # noqa: E402

PROMETHEUS_BIN = os.environ.get("PROMETHEUS_BIN", "/usr/bin/prometheus")

# $3 / $15 per million tokens for cloud-gpt.
PRICE_INPUT = 3.0
PRICE_OUTPUT = 15.0
# 3600 W makes a watt-hour per busy second; 500 g CO2 per kWh.
POWER_BUSY_WATTS = 3600.0
CARBON_GRAMS_PER_KWH = 500.0

EMAIL = "jane.doe@example.com"
# Five words for the fake cloud: 5 prompt tokens; its answer "Hello from the fake cloud": 5.
CLOUD_PROMPT = "Tell me a story please"
CLOUD_TOKENS = (5, 5)

CONFIG = """
    providers:
      - name: openai-fake
        base_url: {openai_url}
        api_key_env: OPENAI_KEY
      - name: dead-fake
        base_url: {dead_url}
        api_key_env: OTHER_KEY
    models:
      - name: stories
        path: {stories}
        context: 1024
        parallel: 2
        threads: 1
      - name: cloud-gpt
        provider: openai-fake
        price: {{input: 3.0, output: 15.0}}
      - name: cloud-dead
        provider: dead-fake
    policy:
      attempts_per_target: 1
      rules:
        - name: summarize
          match: {{workload: summarize}}
          targets: [stories, cloud-gpt]
        - name: triage
          match: {{workload: triage}}
          targets: [cloud-gpt, stories]
        - name: private
          match: {{workload: private}}
          targets: [cloud-gpt, stories]
          privacy: {{pii: local_only}}
        - name: flaky
          match: {{workload: flaky}}
          targets: [cloud-dead, stories]
    local_costs:
      power_busy_watts: 3600
      carbon_grams_per_kwh: 500
    ledger:
      {ledger}
"""


def setUpModule():
    if not HEARTH_BIN or not STORIES:
        raise RuntimeError("test_metrics_prometheus.py needs HEARTH_BIN and HEARTH_STORIES_MODEL")
    for path in (HEARTH_BIN, STORIES):
        if not os.path.isfile(path):
            raise RuntimeError("missing file (build `test-deps` first): %s" % path)
    if not os.access(PROMETHEUS_BIN, os.X_OK):
        raise RuntimeError("%s is missing: install Debian's `prometheus` package "
                           "(scripts/bootstrap does)" % PROMETHEUS_BIN)


def chat(text, max_tokens=8, model="stories", **extra):
    body = {"model": model, "messages": [{"role": "user", "content": text}],
            "max_tokens": max_tokens, "temperature": 0}
    body.update(extra)
    return body


def price(prompt, completion):
    return (prompt * PRICE_INPUT + completion * PRICE_OUTPUT) / 1e6


class Prometheus:
    """A real Prometheus server scraping one target every second, with its own TSDB."""

    def __init__(self, target_port, directory):
        self.port = free_port()
        self.directory = os.path.join(directory, "prometheus")
        os.makedirs(os.path.join(self.directory, "data"))
        config_path = os.path.join(self.directory, "prometheus.yml")
        with open(config_path, "w") as config:
            config.write(textwrap.dedent("""\
                global:
                  scrape_interval: 1s
                  scrape_timeout: 1s
                  evaluation_interval: 1s
                scrape_configs:
                  - job_name: hearth
                    static_configs:
                      - targets: ['%s:%d']
                """ % (HOST, target_port)))
        self.process = ManagedProcess(
            [PROMETHEUS_BIN, "--config.file=" + config_path,
             "--storage.tsdb.path=" + os.path.join(self.directory, "data"),
             "--web.listen-address=%s:%d" % (HOST, self.port),
             "--storage.tsdb.retention.time=1h", "--log.level=warn"],
            "prometheus")
        try:
            wait_until(self._ready, 60, "prometheus never became ready")
        except BaseException:
            self.stop()
            raise

    def _ready(self):
        if not self.process.alive():
            raise AssertionError("prometheus exited (status %s); log:\n%s"
                                 % (self.process.proc.returncode, self.process.log_tail()))
        try:
            return http_request(self.port, "GET", "/-/ready", timeout=5).status == 200
        except OSError:
            return False

    def api(self, path, **params):
        reply = http_request(self.port, "GET", "/api/v1/%s?%s"
                             % (path, urllib.parse.urlencode(params)), timeout=10)
        if reply.status != 200:
            raise AssertionError("prometheus %s %r: %r" % (path, params, reply))
        document = reply.json()
        if document.get("status") != "success":
            raise AssertionError("prometheus %s %r: %r" % (path, params, document))
        return document["data"]

    def query(self, expression):
        """The instant vector of `expression` now: a list of (labels, float value)."""
        data = self.api("query", query=expression)
        if data["resultType"] == "scalar":
            return [({}, float(data["result"][1]))]
        return [(item["metric"], float(item["value"][1])) for item in data["result"]]

    def value(self, expression):
        """The single value of `expression`; None when its result is empty."""
        result = self.query(expression)
        if not result:
            return None
        if len(result) != 1:
            raise AssertionError("%s has %d series: %r" % (expression, len(result), result))
        return result[0][1]

    def wait_for_scrape_after(self, moment):
        """Until a scrape of the gateway that started after `moment` (time.time()) is stored."""
        def scraped():
            stamp = self.value('timestamp(up{job="hearth"})')
            return stamp is not None and stamp > moment
        wait_until(scraped, 30, "no scrape of the gateway after %.3f was stored" % moment)

    def stop(self):
        self.process.stop()


class PrometheusScrapeTest(PlacementTestCase):
    """One gateway (SQLite ledger), one Prometheus, one batch of known traffic (setUpClass);
    each test checks one part of what Prometheus stored."""

    CONFIG = CONFIG.replace("{ledger}", "path: {dir}/ledger.db")

    # Known traffic.
    LOCAL_PLAIN = 3   # summarize, non-streamed: local
    LOCAL_STREAMS = 2  # summarize, streamed (usage asked for): local, with a first token
    CLOUD_TRIAGE = 4  # triage: cloud
    CLOUD_ADHOC = 1   # an unconfigured workload name, cloud-gpt named directly
    CLOUD_ODD = 2     # workload names that may not become label values: "other"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.prometheus = None
        try:
            cls.prometheus = Prometheus(cls.port, cls.directory.name)
            cls.send_traffic()
            # The gateway records a request after its answer is written, and the ledger writes
            # in batches: wait until its own /metrics shows all of them, then for a scrape that
            # started later.
            total = cls.expected_total

            def counted():
                text = metrics(cls.port)
                return (metric_value(text, "hearth_gateway_inference_requests_total") == total
                        and metric_value(text, "hearth_gateway_ledger_records_written_total")
                        == total)
            wait_until(counted, 30, "the gateway never counted and recorded the %d requests"
                       % total)
            cls.scraped_text = metrics(cls.port)
            cls.prometheus.wait_for_scrape_after(time.time())
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            if getattr(cls, "prometheus", None) is not None:
                cls.prometheus.stop()
        finally:
            super().tearDownClass()

    def setUp(self):
        if not self.gateway.alive():
            self.fail("the gateway died; log:\n%s" % self.gateway.log_tail())
        if not self.prometheus.process.alive():
            self.fail("prometheus died; log:\n%s" % self.prometheus.process.log_tail())

    @classmethod
    def post(cls, body, workload, headers=None):
        all_headers = {"x-hearth-workload": workload} if workload is not None else {}
        all_headers.update(headers or {})
        return http_request(cls.port, "POST", "/v1/chat/completions", body, headers=all_headers)

    @classmethod
    def expect(cls, condition, message):
        if not condition:
            raise AssertionError(message)

    @classmethod
    def send_traffic(cls):
        cls.local_usage = []  # (prompt, completion) of each local answer
        for _ in range(cls.LOCAL_PLAIN):
            reply = cls.post(chat("Once upon a time"), "summarize")
            cls.expect(reply.status == 200 and reply.headers.get("x-hearth-placement") == "local",
                       "local answer: %r %r" % (reply, reply.headers))
            usage = reply.json()["usage"]
            cls.local_usage.append((usage["prompt_tokens"], usage["completion_tokens"]))
        for _ in range(cls.LOCAL_STREAMS):
            reply = cls.post(chat("Once upon a time", stream=True,
                                  stream_options={"include_usage": True}), "summarize")
            payloads, done = sse_payloads(reply)
            cls.expect(done and reply.headers.get("x-hearth-placement") == "local",
                       "local stream: %r" % reply)
            usage = [payload["usage"] for payload in payloads if payload.get("usage")]
            cls.expect(len(usage) == 1, "one usage chunk: %r" % payloads)
            cls.local_usage.append((usage[0]["prompt_tokens"], usage[0]["completion_tokens"]))
        for _ in range(cls.CLOUD_TRIAGE):
            reply = cls.post(chat(CLOUD_PROMPT), "triage")
            cls.expect(reply.status == 200 and reply.headers.get("x-hearth-placement") == "cloud",
                       "cloud answer: %r" % reply)
            usage = reply.json()["usage"]
            cls.expect((usage["prompt_tokens"], usage["completion_tokens"]) == CLOUD_TOKENS,
                       "fake cloud usage: %r" % usage)
        reply = cls.post(chat(CLOUD_PROMPT, model="cloud-gpt"), "adhoc-1")
        cls.expect(reply.status == 200, "adhoc: %r" % reply)
        for workload in ('has "quotes" and spaces', "x" * 65):
            reply = cls.post(chat(CLOUD_PROMPT, model="cloud-gpt"), workload)
            cls.expect(reply.status == 200, "odd workload: %r" % reply)
        # Kept local by the privacy policy: one email finding; cloud-gpt is given up on.
        reply = cls.post(chat("Write to %s about the order" % EMAIL), "private")
        cls.expect(reply.status == 200 and reply.headers.get("x-hearth-placement") == "local",
                   "private: %r %r" % (reply, reply.headers))
        usage = reply.json()["usage"]
        cls.local_usage.append((usage["prompt_tokens"], usage["completion_tokens"]))
        # The dead provider fails (connection refused), the local model answers.
        reply = cls.post(chat("Once upon a time"), "flaky")
        cls.expect(reply.status == 200 and reply.headers.get("x-hearth-placement") == "local",
                   "flaky: %r %r" % (reply, reply.headers))
        usage = reply.json()["usage"]
        cls.local_usage.append((usage["prompt_tokens"], usage["completion_tokens"]))
        # Answered by nobody: an unknown model (404), no workload at all.
        reply = cls.post(chat("Once upon a time", model="no-such-model"), None)
        cls.expect(reply.status == 404, "unknown model: %r" % reply)
        cls.expected_total = (cls.LOCAL_PLAIN + cls.LOCAL_STREAMS + cls.CLOUD_TRIAGE +
                              cls.CLOUD_ADHOC + cls.CLOUD_ODD + 3)

    def query_value(self, expression):
        value = self.prometheus.value(expression)
        self.assertIsNotNone(value, "Prometheus has no series for %s" % expression)
        return value

    # -- scraping --------------------------------------------------------------------------

    def test_every_scrape_parsed(self):
        self.assertEqual(self.query_value('up{job="hearth"}'), 1)
        # A scrape that fails to parse sets up to 0; none may have, over the whole run.
        self.assertEqual(self.query_value('min_over_time(up{job="hearth"}[10m])'), 1)
        targets = self.prometheus.api("targets")["activeTargets"]
        self.assertEqual(len(targets), 1, targets)
        self.assertEqual(targets[0]["health"], "up", targets[0])
        self.assertEqual(targets[0]["lastError"], "", targets[0])
        self.assertGreater(self.query_value('scrape_samples_scraped{job="hearth"}'), 100)

    def test_histograms_are_typed_as_histograms(self):
        metadata = self.prometheus.api("targets/metadata",
                                       match_target='{job="hearth"}')
        types = {item["metric"]: item["type"] for item in metadata}
        for name in ("hearth_gateway_request_duration_seconds",
                     "hearth_gateway_time_to_first_token_seconds",
                     "hearth_gateway_overhead_duration_seconds"):
            self.assertEqual(types.get(name), "histogram", name)
        for name in ("hearth_gateway_inference_requests_total",
                     "hearth_gateway_cloud_spend_usd_total",
                     "hearth_gateway_avoided_spend_usd_total",
                     "hearth_gateway_prompt_tokens_total", "hearth_gateway_energy_wh_total"):
            self.assertEqual(types.get(name), "counter", name)

    # -- requests ----------------------------------------------------------------------------

    def test_requests_by_workload_placement_backend_and_status(self):
        family = "hearth_gateway_inference_requests_total"
        self.assertEqual(self.query_value(
            'sum(%s{workload="summarize",placement="local",backend="worker:stories",'
            'model="stories",status="200"})' % family), self.LOCAL_PLAIN + self.LOCAL_STREAMS)
        self.assertEqual(self.query_value(
            'sum(%s{workload="triage",placement="cloud",backend="cloud:openai-fake",'
            'model="cloud-gpt",status="200"})' % family), self.CLOUD_TRIAGE)
        self.assertEqual(self.query_value('sum(%s{workload="adhoc-1",placement="cloud"})'
                                          % family), self.CLOUD_ADHOC)
        self.assertEqual(self.query_value('sum(%s{workload="other"})' % family), self.CLOUD_ODD)
        self.assertEqual(self.query_value('sum(%s{workload="private",placement="local"})'
                                          % family), 1)
        self.assertEqual(self.query_value('sum(%s{workload="flaky",placement="local"})'
                                          % family), 1)
        self.assertEqual(self.query_value(
            'sum(%s{workload="none",placement="none",model="none",status="404"})' % family), 1)
        by_placement = dict((labels["placement"], value) for labels, value in
                            self.prometheus.query("sum by (placement) (%s)" % family))
        self.assertEqual(by_placement, {
            "local": self.LOCAL_PLAIN + self.LOCAL_STREAMS + 2,
            "cloud": self.CLOUD_TRIAGE + self.CLOUD_ADHOC + self.CLOUD_ODD,
            "none": 1})
        self.assertEqual(self.query_value("sum(%s)" % family), self.expected_total)

    def test_workload_values_are_bounded(self):
        workloads = {labels["workload"] for labels, _ in self.prometheus.query(
            "hearth_gateway_inference_requests_total")}
        self.assertEqual(workloads, {"summarize", "triage", "adhoc-1", "other", "private",
                                     "flaky", "none"})

    # -- histograms --------------------------------------------------------------------------

    def test_latency_histogram_counts_every_request_in_cumulative_buckets(self):
        name = "hearth_gateway_request_duration_seconds"
        local = '{workload="summarize",placement="local"}'
        cloud = '{workload="triage",placement="cloud"}'
        self.assertEqual(self.query_value(name + "_count" + local),
                         self.LOCAL_PLAIN + self.LOCAL_STREAMS)
        self.assertEqual(self.query_value(name + "_count" + cloud), self.CLOUD_TRIAGE)
        self.assertEqual(self.query_value("sum(%s_count)" % name), self.expected_total)
        self.assertGreater(self.query_value(name + "_sum" + local), 0)
        buckets = sorted(
            (float(labels["le"]), value) for labels, value in
            self.prometheus.query(name + '_bucket{workload="triage",placement="cloud"}'))
        self.assertEqual(buckets[-1], (math.inf, self.CLOUD_TRIAGE))
        self.assertEqual([value for _, value in buckets],
                         sorted(value for _, value in buckets), "buckets are cumulative")
        self.assertEqual(len(buckets), 15)  # 14 bounds and +Inf
        # PromQL reads them as a histogram.
        median = self.query_value('histogram_quantile(0.5, %s_bucket%s)' % (name, cloud))
        self.assertTrue(0 < median <= 120, median)

    def test_time_to_first_token_histogram_counts_streams(self):
        name = "hearth_gateway_time_to_first_token_seconds"
        self.assertEqual(self.query_value('%s_count{workload="summarize",placement="local"}'
                                          % name), self.LOCAL_STREAMS)
        self.assertEqual(self.query_value("sum(%s_count)" % name), self.LOCAL_STREAMS)
        ttft = self.query_value('%s_sum{workload="summarize",placement="local"}' % name)
        latency_of_all = self.query_value(
            'hearth_gateway_request_duration_seconds_sum{workload="summarize",placement="local"}')
        self.assertTrue(0 < ttft < latency_of_all, (ttft, latency_of_all))

    def test_overhead_histogram(self):
        name = "hearth_gateway_overhead_duration_seconds"
        counts = dict((labels["placement"], value) for labels, value in
                      self.prometheus.query(name + "_count"))
        self.assertEqual(counts, {"local": self.LOCAL_PLAIN + self.LOCAL_STREAMS + 2,
                                  "cloud": self.CLOUD_TRIAGE + self.CLOUD_ADHOC + self.CLOUD_ODD,
                                  "none": 1})
        overhead = self.query_value('%s_sum{placement="cloud"}' % name)
        latency = self.query_value(
            'sum(hearth_gateway_request_duration_seconds_sum{placement="cloud"})')
        self.assertTrue(0 <= overhead <= latency, (overhead, latency))

    # -- tokens, spend, energy ---------------------------------------------------------------

    def test_tokens(self):
        summarize = self.local_usage[:self.LOCAL_PLAIN + self.LOCAL_STREAMS]
        self.assertEqual(self.query_value(
            'hearth_gateway_prompt_tokens_total{workload="summarize",placement="local"}'),
            sum(prompt for prompt, _ in summarize))
        self.assertEqual(self.query_value(
            'hearth_gateway_completion_tokens_total{workload="summarize",placement="local"}'),
            sum(completion for _, completion in summarize))
        cloud_requests = self.CLOUD_TRIAGE + self.CLOUD_ADHOC + self.CLOUD_ODD
        self.assertEqual(self.query_value(
            'sum(hearth_gateway_prompt_tokens_total{placement="cloud"})'),
            cloud_requests * CLOUD_TOKENS[0])
        self.assertEqual(self.query_value(
            'sum(hearth_gateway_completion_tokens_total{placement="cloud"})'),
            cloud_requests * CLOUD_TOKENS[1])

    def test_cloud_spend_and_avoided_spend_by_workload(self):
        self.assertAlmostEqual(
            self.query_value('hearth_gateway_cloud_spend_usd_total{workload="triage"}'),
            self.CLOUD_TRIAGE * price(*CLOUD_TOKENS), places=12)
        self.assertAlmostEqual(
            self.query_value('hearth_gateway_cloud_spend_usd_total{workload="other"}'),
            self.CLOUD_ODD * price(*CLOUD_TOKENS), places=12)
        cloud_requests = self.CLOUD_TRIAGE + self.CLOUD_ADHOC + self.CLOUD_ODD
        self.assertAlmostEqual(self.query_value("sum(hearth_gateway_cloud_spend_usd_total)"),
                               cloud_requests * price(*CLOUD_TOKENS), places=12)
        # The same total as the existing per-model counter.
        self.assertAlmostEqual(
            self.query_value('hearth_gateway_cloud_cost_usd_total{model="cloud-gpt"}'),
            cloud_requests * price(*CLOUD_TOKENS), places=12)
        # Local answers are priced at the rule's cloud target (cloud-gpt for all three rules).
        summarize = self.local_usage[:self.LOCAL_PLAIN + self.LOCAL_STREAMS]
        self.assertAlmostEqual(
            self.query_value('hearth_gateway_avoided_spend_usd_total{workload="summarize"}'),
            sum(price(*usage) for usage in summarize), places=12)
        self.assertAlmostEqual(
            self.query_value('hearth_gateway_avoided_spend_usd_total{workload="private"}'),
            price(*self.local_usage[-2]), places=12)
        self.assertIsNone(self.prometheus.value(
            'hearth_gateway_avoided_spend_usd_total{workload="triage"}'))

    def test_energy_and_carbon_of_local_answers(self):
        busy = self.query_value('hearth_gateway_local_busy_seconds_total{workload="summarize"}')
        self.assertGreater(busy, 0)
        energy = self.query_value('hearth_gateway_energy_wh_total{workload="summarize"}')
        carbon = self.query_value('hearth_gateway_carbon_grams_total{workload="summarize"}')
        # Wh = busy seconds / 3600 x 3600 W; g = Wh / 1000 x 500 g/kWh.
        self.assertAlmostEqual(energy, busy * POWER_BUSY_WATTS / 3600, places=9)
        self.assertAlmostEqual(carbon, energy / 1000 * CARBON_GRAMS_PER_KWH, places=9)
        # Cloud answers use no local compute.
        self.assertIsNone(self.prometheus.value(
            'hearth_gateway_energy_wh_total{workload="triage"}'))

    # -- placement, privacy, workers, ledger ---------------------------------------------------

    def test_fallbacks_and_privacy_findings(self):
        self.assertEqual(self.query_value(
            'sum(hearth_gateway_fallbacks_total{rule="flaky",target="cloud-dead"})'), 1)
        self.assertEqual(self.query_value(
            'hearth_gateway_privacy_findings_total{type="email",source="request"}'), 1)
        self.assertEqual(self.query_value(
            'hearth_gateway_privacy_actions_total{action="local_only"}'), 1)

    def test_breakers_workers_and_ledger(self):
        self.assertEqual(self.query_value('hearth_gateway_circuit_state{target="cloud-gpt"}'), 0)
        self.assertEqual(self.query_value(
            'hearth_gateway_backends{model="stories",state="loaded"}'), 1)
        # The worker's own metrics, relabelled with its model.
        self.assertEqual(self.query_value('hearth_worker_queue_depth{model="stories"}'), 0)
        self.assertEqual(self.query_value('hearth_worker_slots{model="stories"}'), 2)
        self.assertIsNotNone(self.prometheus.value("hearth_gateway_ledger_queue_depth"))
        self.assertEqual(self.query_value("hearth_gateway_ledger_records_written_total"),
                         self.expected_total)

    def test_prometheus_saw_what_the_gateway_exported(self):
        for name in ("hearth_gateway_inference_requests_total",
                     "hearth_gateway_request_duration_seconds_count",
                     "hearth_gateway_prompt_tokens_total", "hearth_gateway_cloud_spend_usd_total"):
            self.assertEqual(self.query_value("sum(%s)" % name),
                             metric_value(self.scraped_text, name), name)


class LedgerOffMetricsTest(PlacementTestCase):
    """With the ledger off the gateway records the same per-request metrics (no Prometheus
    here: its /metrics text is read directly)."""

    CONFIG = CONFIG.replace("{ledger}", "store: off")

    def test_cloud_request_is_counted_and_priced(self):
        reply = http_request(self.port, "POST", "/v1/chat/completions",
                             chat(CLOUD_PROMPT), headers={"x-hearth-workload": "triage"})
        self.assertEqual(reply.status, 200, reply)
        labels = {"workload": "triage", "placement": "cloud", "status": "200"}

        def counted():
            text = metrics(self.port)
            if metric_value(text, "hearth_gateway_inference_requests_total", labels) == 1:
                return text
            return None
        text = wait_until(counted, 10, "the request was never counted")
        self.assertEqual(metric_value(text, "hearth_gateway_request_duration_seconds_count",
                                      {"workload": "triage"}), 1)
        self.assertAlmostEqual(metric_value(text, "hearth_gateway_cloud_spend_usd_total",
                                            {"workload": "triage"}),
                               price(*CLOUD_TOKENS), places=12)
        self.assertIsNone(metric_value(text, "hearth_gateway_ledger_queue_depth"))


if __name__ == "__main__":
    unittest.main()
