#!/usr/bin/env python3
"""Integration tests for `hearth eval` (issue 7): a real `hearth serve` with stories260K as the
local target and a fake OpenAI-shaped provider (tests/support/fake_cloud.py) as the cloud target
that echoes its input, so that samples expecting their own text make the cloud target pass and
the tiny local model fail. Checks the report's figures against the recorded answers, the exit
status under --min-agreement, the saved summaries, usage errors, and --resume after a kill and
over a pre-seeded results file (counting the requests the fake cloud receives).

Environment (set by ctest): HEARTH_BIN, HEARTH_STORIES_MODEL, HEARTH_SANITIZED. By hand:
  HEARTH_BIN=build/bin/hearth HEARTH_SANITIZED=0 \
  HEARTH_STORIES_MODEL=../shared/models/stories260K.gguf python3 -u tests/eval/test_eval_cli.py -v
"""

import glob
import hashlib
import json
import os
import pty
import select
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from harness import SCALE, start_gateway, stop_and_check, wait_until  # noqa: E402
from fake_cloud import FakeCloud  # noqa: E402

HEARTH_BIN = os.environ.get("HEARTH_BIN", "")
STORIES = (os.path.abspath(os.environ["HEARTH_STORIES_MODEL"])
           if os.environ.get("HEARTH_STORIES_MODEL") else "")
CLOUD_KEY = "sk-test-eval-3c1f0a"
RUN_TIMEOUT = 120 * SCALE

POWER_WATTS = 100.0
USD_PER_KWH = 0.30
GRAMS_PER_KWH = 250.0
PRICE_INPUT = 10.0  # USD per million tokens: far above the local electricity
PRICE_OUTPUT = 20.0

CONFIG = """
    server:
      access_log: false
    ledger:
      path: {dir}/ledger.db
    local_costs:
      power_busy_watts: {watts}
      electricity_usd_per_kwh: {usd}
      carbon_grams_per_kwh: {grams}
    providers:
      - name: fake
        base_url: {cloud_url}
        api_key_env: EVAL_CLOUD_KEY
    models:
      - name: stories
        aliases: [tiny]
        path: {stories}
        context: 1024
        parallel: 2
        threads: 1
      - name: cloud-gpt
        provider: fake
        upstream_model: gpt-fake
        price: {{input: {price_in}, output: {price_out}}}
    policy:
      rules:
        - name: routed
          match: {{workload: [routed]}}
          targets: [cloud-gpt]
"""

# Texts the echoing cloud repeats exactly; stories260K tells a story instead.
CHAT_TEXTS = ["alpha one", "bravo two three", "charlie four", "delta five six seven"]
COMPLETION_PROMPT = "Once upon a time"
JSON_TEXT = '{"k": 1, "v": "x"}'


def samples_with_expectations():
    lines = []
    for index, text in enumerate(CHAT_TEXTS):
        lines.append({"id": "chat-%d" % index, "messages": [{"role": "user", "content": text}],
                      "max_tokens": 8, "temperature": 0, "expected": text})
    lines.append({"id": "completion", "prompt": COMPLETION_PROMPT, "max_tokens": 8,
                  "temperature": 0, "expected": COMPLETION_PROMPT})
    lines.append({"id": "json", "messages": [{"role": "user", "content": JSON_TEXT}],
                  "max_tokens": 8, "temperature": 0, "expected_json": {"k": 1, "v": "x"}})
    return lines


def words(text):
    return len(text.split())


def sample_text(sample):
    return sample["prompt"] if "prompt" in sample else sample["messages"][-1]["content"]


def code_points_similarity(left, right):
    """1 - Levenshtein / longer length over code points, as docs/EVAL.md defines it."""
    left, right = left.strip(" \t\n\r\f\v"), right.strip(" \t\n\r\f\v")
    if left == right:
        return 1.0, True
    row = list(range(len(right) + 1))
    for i, a in enumerate(left, 1):
        diagonal, row[0] = row[0], i
        for j, b in enumerate(right, 1):
            above = row[j]
            row[j] = min(above + 1, row[j - 1] + 1, diagonal + (a != b))
            diagonal = above
    return 1.0 - row[-1] / max(len(left), len(right)), False


def nearest_rank(values, percent):
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * percent // 100))
    return ordered[int(rank) - 1]


def read_jsonl(path):
    records = []
    with open(path) as handle:
        for line in handle:
            try:
                records.append(json.loads(line))
            except ValueError:
                pass
    return records


def setUpModule():
    if not HEARTH_BIN or not STORIES:
        raise RuntimeError("test_eval_cli.py needs HEARTH_BIN and HEARTH_STORIES_MODEL")
    for path in (HEARTH_BIN, STORIES):
        if not os.path.isfile(path):
            raise RuntimeError("missing file (build `test-deps` first): %s" % path)


class EvalTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.directory = tempfile.TemporaryDirectory(prefix="hearth-eval-test-")
        cls.cloud = FakeCloud(api_key=CLOUD_KEY).start()
        cls.gateway = None
        try:
            cls.config_path = os.path.join(cls.directory.name, "hearth.yaml")
            with open(cls.config_path, "w") as config:
                config.write(textwrap.dedent(CONFIG).format(
                    dir=cls.directory.name, cloud_url=cls.cloud.url, stories=STORIES,
                    watts=POWER_WATTS, usd=USD_PER_KWH, grams=GRAMS_PER_KWH,
                    price_in=PRICE_INPUT, price_out=PRICE_OUTPUT))
            cls.gateway, cls.port = start_gateway(HEARTH_BIN, cls.config_path,
                                                  env={"EVAL_CLOUD_KEY": CLOUD_KEY})
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.gateway is not None:
                stop_and_check(cls.gateway)
        finally:
            cls.cloud.stop()
            cls.directory.cleanup()

    def setUp(self):
        if not self.gateway.alive():
            self.fail("the gateway died earlier; log:\n%s" % self.gateway.log_tail())
        self.cloud.reset()
        self.cloud.set_default({"echo": True})
        self.work = tempfile.mkdtemp(prefix="run-", dir=self.directory.name)
        self.results = os.path.join(self.work, "results")

    def write_samples(self, samples, name="samples.jsonl"):
        path = os.path.join(self.work, name)
        with open(path, "w") as handle:
            for sample in samples:
                handle.write((json.dumps(sample) if isinstance(sample, dict) else sample) + "\n")
        return path

    def eval_argv(self, samples_path, *extra):
        return [HEARTH_BIN, "eval", "--config", self.config_path, "--samples", samples_path,
                "--url", "http://127.0.0.1:%d" % self.port, "--results", self.results, *extra]

    def run_eval(self, samples_path, *extra):
        return subprocess.run(self.eval_argv(samples_path, *extra), stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=RUN_TIMEOUT)

    def results_file(self, samples_path, target):
        with open(samples_path, "rb") as handle:
            digest = hashlib.sha256(handle.read()).hexdigest()
        stem = os.path.splitext(os.path.basename(samples_path))[0]
        return os.path.join(self.results, "%s-%s.%s.jsonl" % (stem, digest[:12], target))

    def report(self, completed, status):
        self.assertEqual(completed.returncode, status,
                         "stdout:\n%s\nstderr:\n%s" % (completed.stdout, completed.stderr))
        document = json.loads(completed.stdout)
        return document, {target["target"]: target for target in document["targets"]}

    # ------------------------------------------------------------------------------------------

    def test_report_figures_threshold_and_saved_summaries(self):
        samples = samples_with_expectations()
        path = self.write_samples(samples)
        completed = self.run_eval(path, "--target", "tiny", "--target", "cloud-gpt",
                                  "--min-agreement", "0.9", "--concurrency", "3", "--json")
        document, targets = self.report(completed, 1)
        self.assertIn("hearth eval: 12/12 answers, 0 errors", completed.stderr)
        self.assertEqual(set(targets), {"stories", "cloud-gpt"})  # the alias names its entry
        self.assertEqual(document["recommended"], "cloud-gpt")
        self.assertFalse(document["pass"])

        # The cloud got each sample once, as a request body without the eval's own fields.
        records = self.cloud.requests
        self.assertEqual(len(records), len(samples))
        for record in records:
            self.assertEqual(record["json"]["model"], "gpt-fake")
            for field in ("expected", "expected_json", "id"):
                self.assertNotIn(field, record["json"])
        self.assertEqual(sorted(r["path"] for r in records),
                         ["/v1/chat/completions"] * 5 + ["/v1/completions"])

        cloud = targets["cloud-gpt"]
        self.assertEqual(cloud["placement"], "cloud")
        self.assertEqual(cloud["agreement"], 1.0)
        self.assertEqual(cloud["exact_match_rate"], 1.0)
        self.assertTrue(cloud["passes"] and cloud["recommended"])
        self.assertEqual((cloud["samples"], cloud["scored"], cloud["answered"], cloud["errors"]),
                         (6, 6, 6, 0))
        # The fake counts whitespace-separated words; echo answers repeat the prompt.
        prompt_words = sum(words(sample_text(s)) for s in samples)
        self.assertEqual(cloud["tokens"]["prompt"], prompt_words)
        self.assertEqual(cloud["tokens"]["completion"], prompt_words)
        self.assertAlmostEqual(cloud["tokens"]["prompt_per_request"], prompt_words / 6)
        cost_per_request = (prompt_words * PRICE_INPUT + prompt_words * PRICE_OUTPUT) / 1e6 / 6
        self.assertAlmostEqual(cloud["cost_usd_per_1k"], cost_per_request * 1000, places=12)
        self.assertIsNone(cloud["energy_wh_per_1k"])

        cloud_lines = read_jsonl(self.results_file(path, "cloud-gpt"))
        latencies = [line["latency_ms"] for line in cloud_lines]
        self.assertEqual(len(latencies), 6)
        self.assertEqual(cloud["latency_ms"]["p50"], nearest_rank(latencies, 50))
        self.assertEqual(cloud["latency_ms"]["p95"], nearest_rank(latencies, 95))
        self.assertTrue(all(line["placement"] == "cloud" and line["served_by"] == "cloud-gpt"
                            for line in cloud_lines), cloud_lines)

        # The local target's agreement, recomputed here from its recorded answers.
        stories = targets["stories"]
        self.assertEqual(stories["placement"], "local")
        self.assertFalse(stories["passes"])
        self.assertEqual(stories["errors"], 0)
        by_sample = {line["sample"]: line for line in
                     read_jsonl(self.results_file(path, "stories"))}
        self.assertEqual(len(by_sample), 6)
        scores = []
        for sample in samples:
            answer = by_sample[sample["id"]]["answer"]
            if "expected_json" in sample:
                try:
                    parsed = json.loads(answer)
                except ValueError:
                    parsed = None
                scores.append((1.0, True) if parsed == sample["expected_json"] else (0.0, False))
            else:
                scores.append(code_points_similarity(sample["expected"], answer))
        self.assertAlmostEqual(stories["agreement"], sum(s for s, _ in scores) / 6, places=12)
        self.assertAlmostEqual(stories["exact_match_rate"], sum(e for _, e in scores) / 6)
        self.assertLess(stories["agreement"], 0.9)
        self.assertEqual(stories["tokens"]["completion"],
                         sum(line["completion_tokens"] for line in by_sample.values()))
        # Energy from the worker's busy time, which the gateway passes on for every local answer.
        busy = [line["busy_ms"] for line in by_sample.values()]
        self.assertTrue(all(value is not None and value > 0 for value in busy), busy)
        wh_per_1k = sum(busy) / len(busy) * POWER_WATTS / 3.6e6 * 1000
        self.assertAlmostEqual(stories["energy_wh_per_1k"], wh_per_1k, places=9)
        self.assertAlmostEqual(stories["co2_grams_per_1k"], wh_per_1k / 1000 * GRAMS_PER_KWH,
                               places=9)
        self.assertAlmostEqual(stories["cost_usd_per_1k"], wh_per_1k / 1000 * USD_PER_KWH,
                               places=12)

        # One summary per target for `hearth advise`.
        summaries = sorted(glob.glob(os.path.join(self.results, "*.json")))
        self.assertEqual(len(summaries), 2, summaries)
        for summary_path in summaries:
            with open(summary_path) as handle:
                summary = json.load(handle)
            for field in ("workload", "target", "placement", "agreement", "samples", "time_us"):
                self.assertIn(field, summary)
            self.assertEqual(summary["workload"], "hearth-eval")
            self.assertEqual(summary["samples"], 6)
            self.assertEqual(summary["agreement"], targets[summary["target"]]["agreement"])
        self.assertEqual(sorted(document["saved"]), summaries)

        # Every answer recorded: --resume sends nothing and, at a threshold of 0, both pass and
        # the cheaper local target is recommended.
        self.cloud.reset()
        self.cloud.set_default({"echo": True})
        completed = self.run_eval(path, "--target", "stories", "--target", "cloud-gpt",
                                  "--min-agreement", "0", "--resume", "--json")
        document, targets = self.report(completed, 0)
        self.assertEqual(self.cloud.request_count, 0)
        self.assertIn("12 answers already recorded, 0 to send", completed.stderr)
        self.assertEqual(document["recommended"], "stories")
        self.assertEqual(targets["cloud-gpt"]["agreement"], 1.0)

        # The table form names the recommendation and what falls below the threshold.
        completed = self.run_eval(path, "--target", "stories", "--target", "cloud-gpt",
                                  "--resume")
        self.assertEqual(completed.returncode, 1, completed.stderr)
        self.assertIn("recommendation: cloud-gpt (cloud)", completed.stdout)
        self.assertIn("below --min-agreement 0.800: stories", completed.stdout)

    def test_resume_after_a_kill_sends_only_the_missing_samples(self):
        samples = samples_with_expectations()
        path = self.write_samples(samples)
        self.cloud.set_default({"echo": True, "delay_ms": 300})
        results_path = self.results_file(path, "cloud-gpt")
        process = subprocess.Popen(self.eval_argv(path, "--target", "cloud-gpt",
                                                  "--concurrency", "1"),
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        try:
            wait_until(lambda: os.path.exists(results_path) and
                       len(read_jsonl(results_path)) >= 2, 60,
                       "the eval recorded no two answers")
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
        recorded = len(read_jsonl(results_path))
        self.assertLess(recorded, len(samples), "the eval finished before it was killed")

        self.cloud.reset()
        self.cloud.set_default({"echo": True})
        completed = self.run_eval(path, "--target", "cloud-gpt", "--resume", "--json")
        document, targets = self.report(completed, 0)
        self.assertEqual(self.cloud.request_count, len(samples) - recorded)
        self.assertEqual(targets["cloud-gpt"]["answered"], len(samples))
        self.assertEqual(targets["cloud-gpt"]["agreement"], 1.0)
        self.assertEqual(document["recommended"], "cloud-gpt")

    def test_resume_reuses_only_good_answers_of_the_same_samples(self):
        samples = samples_with_expectations()
        path = self.write_samples(samples)
        with open(path, "rb") as handle:
            digest = hashlib.sha256(handle.read()).hexdigest()
        os.makedirs(self.results)

        def line(sample, **changes):
            record = {"samples_hash": digest, "sample": sample, "line": 1, "target": "cloud-gpt",
                      "status": 200, "error": "", "answer": "alpha one", "latency_ms": 5.0,
                      "prompt_tokens": 2, "completion_tokens": 2, "cached_tokens": 0,
                      "busy_ms": None, "placement": "cloud", "backend": "cloud:fake",
                      "served_by": "cloud-gpt", "time_us": 1}
            record.update(changes)
            return json.dumps(record)

        with open(self.results_file(path, "cloud-gpt"), "w") as handle:
            handle.write(line("chat-0") + "\n")                                # reused
            handle.write(line("chat-1", status=503, error="HTTP 503") + "\n")  # sent again
            handle.write(line("chat-2", samples_hash="0" * 64) + "\n")         # other samples
            handle.write(line("no-such-sample") + "\n")                        # ignored
            handle.write(line("json")[:40] + "\n")                             # cut by a kill
        completed = self.run_eval(path, "--target", "cloud-gpt", "--resume", "--json")
        document, targets = self.report(completed, 0)
        self.assertIn("1 unreadable line(s) ignored", completed.stderr)
        self.assertIn("1 answers already recorded, 5 to send", completed.stderr)
        self.assertEqual(self.cloud.request_count, 5)
        sent = sorted(r["json"].get("prompt") or r["json"]["messages"][-1]["content"]
                      for r in self.cloud.requests)
        self.assertNotIn("alpha one", sent)
        # The reused answer's own figures count: 6 answers, one of them 5 ms and 2+2 tokens.
        cloud = targets["cloud-gpt"]
        self.assertEqual(cloud["answered"], 6)
        self.assertEqual(cloud["agreement"], 1.0)
        prompt_words = sum(words(sample_text(s)) for s in samples)
        self.assertEqual(cloud["tokens"]["prompt"], prompt_words)

        # Without --resume everything is sent again.
        self.cloud.reset()
        self.cloud.set_default({"echo": True})
        self.report(self.run_eval(path, "--target", "cloud-gpt", "--json"), 0)
        self.assertEqual(self.cloud.request_count, 6)

    def test_reference_target_scores_samples_without_expectations(self):
        samples = [{"id": "s%d" % i, "messages": [{"role": "user", "content": text}],
                    "max_tokens": 8, "temperature": 0} for i, text in enumerate(CHAT_TEXTS)]
        path = self.write_samples(samples)
        completed = self.run_eval(path, "--target", "stories", "--reference", "cloud-gpt",
                                  "--min-agreement", "0", "--json")
        document, targets = self.report(completed, 0)
        self.assertTrue(targets["cloud-gpt"]["is_reference"])
        self.assertEqual(targets["cloud-gpt"]["agreement"], 1.0)
        self.assertEqual(document["targets"][0]["reference"], "cloud-gpt")
        local = {l["sample"]: l["answer"] for l in read_jsonl(self.results_file(path, "stories"))}
        reference = {l["sample"]: l["answer"]
                     for l in read_jsonl(self.results_file(path, "cloud-gpt"))}
        expected = sum(code_points_similarity(reference[key], local[key])[0]
                       for key in reference) / len(samples)
        self.assertAlmostEqual(targets["stories"]["agreement"], expected, places=12)

    def test_a_terminal_gets_a_progress_bar_redrawn_in_place(self):
        samples = [{"id": "p%d" % i, "messages": [{"role": "user", "content": text}],
                    "max_tokens": 4, "temperature": 0, "expected": text}
                   for i, text in enumerate(CHAT_TEXTS)]
        path = self.write_samples(samples)
        # stderr on a pseudo-terminal, as in an interactive shell; stdout stays a pipe.
        controller, terminal = pty.openpty()
        try:
            process = subprocess.Popen(
                self.eval_argv(path, "--target", "cloud-gpt", "--min-agreement", "0", "--json"),
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=terminal)
            os.close(terminal)
            terminal = None
            drawn = b""
            deadline = time.monotonic() + RUN_TIMEOUT
            while time.monotonic() < deadline:
                ready, _, _ = select.select([controller], [], [], 1)
                if not ready:
                    if process.poll() is not None:
                        break
                    continue
                try:
                    piece = os.read(controller, 4096)
                except OSError:  # EIO: every writer has closed the terminal
                    break
                if not piece:
                    break
                drawn += piece
            stdout, _ = process.communicate(timeout=RUN_TIMEOUT)
        finally:
            if terminal is not None:
                os.close(terminal)
            os.close(controller)
        self.assertEqual(process.returncode, 0, drawn.decode(errors="replace"))
        json.loads(stdout)
        text = drawn.decode(errors="replace")
        total = len(samples)
        # Redrawn with carriage returns, full at the end, then one newline; never the plain
        # progress lines meant for logs.
        self.assertIn("\r[" + "#" * 30 + "] %d/%d answers, 0 errors" % (total, total), text)
        self.assertNotIn("hearth eval: %d/%d answers" % (total, total), text)

    def test_an_answer_from_another_target_is_an_error(self):
        path = self.write_samples(samples_with_expectations()[:2])
        completed = self.run_eval(path, "--target", "stories", "--workload", "routed",
                                  "--json")
        document, targets = self.report(completed, 1)
        self.assertEqual(targets["stories"]["errors"], 2)
        self.assertEqual(targets["stories"]["agreement"], 0.0)
        self.assertIn("answered by cloud-gpt, not stories (rule routed)",
                      targets["stories"]["error_examples"][0])
        self.assertIsNone(document["recommended"])

    def test_usage_errors_exit_2(self):
        good = samples_with_expectations()[0]
        bad_line = self.write_samples([good, good | {"id": "other"}, "{broken"], "bad.jsonl")
        completed = self.run_eval(bad_line, "--target", "stories")
        self.assertEqual(completed.returncode, 2, completed.stderr)
        self.assertIn("bad.jsonl:3: not valid JSON", completed.stderr)

        plain = self.write_samples([{"prompt": "x"}], "plain.jsonl")
        completed = self.run_eval(plain, "--target", "stories")
        self.assertEqual(completed.returncode, 2)
        self.assertIn("plain.jsonl:1: no \"expected\"", completed.stderr)

        samples = self.write_samples([good])
        completed = self.run_eval(samples, "--target", "nonesuch")
        self.assertEqual(completed.returncode, 2)
        self.assertIn('unknown target "nonesuch"', completed.stderr)

        completed = subprocess.run(
            [HEARTH_BIN, "eval", "--config", self.config_path, "--samples", samples,
             "--target", "stories", "--url", "http://127.0.0.1:1", "--results", self.results],
            capture_output=True, text=True, timeout=RUN_TIMEOUT)
        self.assertEqual(completed.returncode, 2)
        self.assertIn("cannot reach the gateway", completed.stderr)

        completed = self.run_eval(samples, "--target", "stories", "--min-agreement", "2")
        self.assertEqual(completed.returncode, 2)
        completed = self.run_eval(samples)  # no --target
        self.assertEqual(completed.returncode, 2)
        self.assertEqual(self.cloud.request_count, 0)


if __name__ == "__main__":
    unittest.main()
