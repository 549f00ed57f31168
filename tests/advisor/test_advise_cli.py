#!/usr/bin/env python3
"""`hearth advise` as the real binary: a golden case's records are written to a SQLite ledger
through the real store (bench_ledger_fill --csv, which calls SqliteStore::append), then
`hearth advise --json` must report the hand-computed figures of that case
(tests/advisor/cases/move_local/README.md); also the table, --workload, --html and usage errors.

Environment (set by ctest): HEARTH_BIN, HEARTH_SANITIZED. By hand:
  HEARTH_BIN=build/bin/hearth python3 -u tests/advisor/test_advise_cli.py -v
"""

import datetime
import json
import os
import shutil
import subprocess
import tempfile
import textwrap
import unittest

HEARTH_BIN = os.path.abspath(os.environ.get("HEARTH_BIN", "build/bin/hearth"))
LEDGER_FILL = os.path.join(os.path.dirname(HEARTH_BIN), "bench_ledger_fill")
SANITIZED = os.environ.get("HEARTH_SANITIZED", "0") == "1"
TIMEOUT = 60 * (8 if SANITIZED else 1)
CASES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases")
SINCE = "2024-03-01"
SINCE_US = int(datetime.datetime(2024, 3, 1, tzinfo=datetime.timezone.utc).timestamp()) * 10**6


class AdviseCliTest(unittest.TestCase):

    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="hearth-advise-cli-")
        self.addCleanup(shutil.rmtree, self.directory, ignore_errors=True)
        self.db_path = os.path.join(self.directory, "ledger.db")
        self.config_path = os.path.join(self.directory, "hearth.yaml")
        with open(os.path.join(CASES, "move_local", "config.yaml")) as case_config:
            costs = case_config.read()
        with open(self.config_path, "w") as config:
            config.write(textwrap.dedent("""\
                ledger:
                  store: sqlite
                  path: %s
                """ % self.db_path) + costs)
        for case in ("move_local", "keep_cloud"):
            fill = subprocess.run(
                [LEDGER_FILL, "--db", self.db_path, "--csv",
                 os.path.join(CASES, case, "records.csv"), "--since-us", str(SINCE_US)],
                capture_output=True, text=True, timeout=TIMEOUT)
            self.assertEqual(fill.returncode, 0, fill.stderr)

    def advise(self, *args, expect=0):
        result = subprocess.run([HEARTH_BIN, "advise", "--config", self.config_path, *args],
                                capture_output=True, text=True, timeout=TIMEOUT)
        self.assertEqual(result.returncode, expect, result.stdout + result.stderr)
        return result

    def test_json_has_the_hand_computed_figures(self):
        # 30 days: 2024-03-01 up to the end of 2024-03-30.
        report = json.loads(self.advise("--since", SINCE, "--until", "2024-03-30", "--json").stdout)
        self.assertEqual(report["window_days"], 30.0)
        self.assertEqual(report["ledger_kind"], "sqlite")
        self.assertEqual(report["records"], 111 + 153)
        by_name = {w["workload"]: w for w in report["workloads"]}
        self.assertEqual(sorted(by_name), ["chat", "noise", "triage"])
        triage = by_name["triage"]
        self.assertEqual(triage["recommendation"], "move_local")
        self.assertEqual(triage["requests"], 111)
        self.assertEqual(triage["local"]["latency_p50_ms"], 400.0)
        self.assertEqual(triage["local"]["latency_p95_ms"], 1500.0)
        self.assertEqual(triage["cloud_equivalent_monthly_usd"], 550.0)
        self.assertEqual(triage["local_projection"]["monthly_cost_usd"], 209.01)
        self.assertEqual(triage["local_projection"]["co2_kg"], 14.418)
        self.assertEqual(triage["break_even"]["month"], 7)
        self.assertEqual(triage["break_even"]["monthly_savings_usd"], 440.99)
        self.assertEqual([a["yes"] for a in triage["rubric"]], [True, True, True])
        chat = by_name["chat"]
        self.assertEqual(chat["recommendation"], "keep_cloud")
        self.assertEqual(chat["current_monthly_cloud_spend_usd"], 4.47)
        self.assertTrue(chat["break_even"]["never"])
        self.assertEqual(by_name["noise"]["recommendation"], "not_enough_data")

    def test_workload_filter_and_table(self):
        report = json.loads(self.advise("--since", SINCE, "--until", "2024-03-30",
                                        "--workload", "chat", "--json").stdout)
        self.assertEqual([w["workload"] for w in report["workloads"]], ["chat"])
        table = self.advise("--since", SINCE, "--until", "2024-03-30").stdout
        self.assertIn("Workload triage: MOVE LOCAL", table)
        self.assertIn("Workload chat: KEEP CLOUD", table)
        self.assertIn("break-even: month 7", table)

    def test_html_report_is_written(self):
        html_path = os.path.join(self.directory, "advice.html")
        self.advise("--since", SINCE, "--until", "2024-03-30", "--html", html_path)
        with open(html_path) as html:
            text = html.read()
        self.assertIn("triage", text)
        self.assertNotIn("<script src", text)

    def test_usage_errors(self):
        self.assertIn("--since", self.advise("--since", "yesterday", expect=2).stderr)
        self.assertIn("--until", self.advise("--since", "2024-03-10", "--until", "2024-03-01",
                                             expect=2).stderr)

    def test_outside_the_window_there_is_nothing(self):
        report = json.loads(self.advise("--since", "2023-01-01", "--until", "2023-01-31",
                                        "--json").stdout)
        self.assertEqual(report["workloads"], [])
        self.assertIn("No requests", self.advise("--since", "2023-01-01",
                                                 "--until", "2023-01-31").stdout)


if __name__ == "__main__":
    unittest.main()
