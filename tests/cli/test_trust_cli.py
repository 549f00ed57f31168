#!/usr/bin/env python3
"""Integration tests for the trust commands of issue 6: `hearth keys create|list|revoke`,
`hearth usage`, `hearth audit verify` and `hearth retention run`, run as the real binary against
a SQLite ledger in a temporary directory. The database is read and tampered with through
Python's sqlite3 module (the schema of src/ledger/sqlite_store.cpp).

Environment (set by ctest): HEARTH_BIN, HEARTH_SANITIZED. By hand:
  HEARTH_BIN=build/bin/hearth python3 -u tests/cli/test_trust_cli.py -v
"""

import datetime
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import textwrap
import time
import unittest

HEARTH_BIN = os.path.abspath(os.environ.get("HEARTH_BIN", "build/bin/hearth"))
SANITIZED = os.environ.get("HEARTH_SANITIZED", "0") == "1"
TIMEOUT = 60 * (8 if SANITIZED else 1)

KEY_PATTERN = re.compile(r"hk_[0-9a-f]{16}_[0-9A-Za-z]{43}")
DAY_US = 86_400 * 1_000_000
GENESIS = "0" * 64

USAGE_COLUMNS = [
    "time_us", "request_id", "key_id", "tenant", "workload", "task", "route", "rule",
    "placement", "backend", "model", "status", "stream", "prompt_tokens", "cached_tokens",
    "completion_tokens", "latency_ms", "time_to_first_token_ms", "overhead_ms", "fallbacks",
    "escalation", "privacy_action", "sensitivity", "cloud_cost_usd", "avoided_cost_usd",
    "content"]


def now_us():
    return int(time.time() * 1_000_000)


def audit_hash(sequence, time_us, kind, actor, detail, previous_hash):
    """audit::record_hash (src/audit/chain.cpp): length-prefixed fields after a version tag."""
    encoded = b"hearth-audit-v1\n"
    for field in (previous_hash, str(sequence), str(time_us), kind, actor, detail):
        data = field.encode("utf-8")
        encoded += str(len(data)).encode("ascii") + b":" + data
    return hashlib.sha256(encoded).hexdigest()


def usage_row(time_us, request_id, **fields):
    row = {
        "time_us": time_us, "request_id": request_id, "key_id": "", "tenant": "acme",
        "workload": "", "task": "chat", "route": "/v1/chat/completions", "rule": "",
        "placement": "local", "backend": "local:stories", "model": "stories", "status": 200,
        "stream": 0, "prompt_tokens": 0, "cached_tokens": 0, "completion_tokens": 0,
        "latency_ms": 0.0, "time_to_first_token_ms": None, "overhead_ms": 0.5, "fallbacks": "",
        "escalation": "", "privacy_action": "", "sensitivity": "", "cloud_cost_usd": 0.0,
        "avoided_cost_usd": 0.0, "content": ""}
    unknown = set(fields) - set(row)
    assert not unknown, unknown
    row.update(fields)
    return row


class TrustCliTestCase(unittest.TestCase):

    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="hearth-trust-cli-")
        self.addCleanup(shutil.rmtree, self.directory, ignore_errors=True)
        self.db_path = os.path.join(self.directory, "ledger.db")
        self.config_path = self.write_config(self.db_path)

    def write_config(self, db_path, name="hearth.yaml", ledger_days=30, audit_days=60):
        path = os.path.join(self.directory, name)
        with open(path, "w") as config:
            config.write(textwrap.dedent("""\
                ledger:
                  path: {db}
                retention:
                  ledger_days: {ledger_days}
                  audit_days: {audit_days}
                """).format(db=db_path, ledger_days=ledger_days, audit_days=audit_days))
        return path

    def hearth(self, *args, expect=0, config=None, cwd=None):
        argv = [HEARTH_BIN] + list(args)
        if config is not False:
            argv += ["--config", config or self.config_path]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, cwd=cwd)
        if expect is not None:
            self.assertEqual(result.returncode, expect,
                             "%s\nstdout:\n%s\nstderr:\n%s" % (argv, result.stdout, result.stderr))
        return result

    def hearth_json(self, *args, expect=0):
        result = self.hearth(*args, "--json", expect=expect)
        return json.loads(result.stdout)

    def create_key(self, *options):
        created = self.hearth_json("keys", "create", *options)
        self.assertRegex(created["key"], KEY_PATTERN)
        self.assertTrue(created["key"].startswith(created["id"] + "_"), created)
        return created

    def audit_rows(self):
        with sqlite3.connect(self.db_path) as connection:
            return connection.execute(
                "SELECT sequence, time_us, kind, actor, detail FROM audit_log ORDER BY sequence"
            ).fetchall()

    def insert_usage(self, rows):
        with sqlite3.connect(self.db_path) as connection:
            for row in rows:
                connection.execute(
                    "INSERT INTO usage (%s) VALUES (%s)" % (
                        ", ".join(USAGE_COLUMNS), ", ".join("?" for _ in USAGE_COLUMNS)),
                    [row[column] for column in USAGE_COLUMNS])
        connection.close()

    def copy_db(self, name):
        """A consistent copy of the ledger (the backup API also takes what is still in the WAL)."""
        path = os.path.join(self.directory, name + ".db")
        source = sqlite3.connect(self.db_path)
        target = sqlite3.connect(path)
        source.backup(target)
        source.close()
        target.close()
        return path, self.write_config(path, name + ".yaml")


class KeysTest(TrustCliTestCase):

    def test_create_list_revoke(self):
        expiry_date = (datetime.datetime.now(datetime.timezone.utc).date()
                       + datetime.timedelta(days=400))
        before = now_us()
        limited = self.create_key("--tenant", "acme", "--name", "ci runner",
                                  "--scopes", "workload:chat,model:gpt*", "--rpm", "60",
                                  "--tpm", "10000", "--monthly-budget", "5.5", "--expires", "30d")
        after = now_us()
        self.assertEqual(limited["tenant"], "acme")
        self.assertEqual(limited["name"], "ci runner")
        self.assertEqual(limited["scopes"], ["workload:chat", "model:gpt*"])
        self.assertEqual(limited["requests_per_minute"], 60)
        self.assertEqual(limited["tokens_per_minute"], 10000)
        self.assertEqual(limited["monthly_budget_usd"], 5.5)
        self.assertGreaterEqual(limited["expires_us"], before + 30 * DAY_US)
        self.assertLessEqual(limited["expires_us"], after + 30 * DAY_US)
        self.assertEqual(limited["status"], "active")
        self.assertNotIn("secret_hash", limited)

        dated = self.create_key("--tenant", "beta.team", "--name", "dated",
                                "--expires", expiry_date.isoformat())
        midnight = datetime.datetime.combine(expiry_date, datetime.time(),
                                             tzinfo=datetime.timezone.utc)
        self.assertEqual(dated["expires_us"], int(midnight.timestamp()) * 1_000_000)
        self.assertEqual(dated["scopes"], [])
        self.assertIsNone(dated["requests_per_minute"])
        self.assertIsNone(dated["monthly_budget_usd"])

        # Text: the key once, a warning that it is not shown again, the id.
        text = self.hearth("keys", "create", "--tenant", "acme", "--name", "plain",
                           "--scopes", "admin").stdout
        keys_in_text = KEY_PATTERN.findall(text)
        self.assertEqual(len(keys_in_text), 1, text)
        plain_key = keys_in_text[0]
        plain_id = plain_key[:len("hk_") + 16]
        self.assertEqual(text.count(plain_key), 1, text)
        self.assertIn("will not be shown again", text)
        self.assertIn(plain_id, text.replace(plain_key, ""))

        secrets = [limited["key"], dated["key"], plain_key]
        hashes = [hashlib.sha256(key.encode()).hexdigest() for key in secrets]
        with sqlite3.connect(self.db_path) as connection:
            stored = dict(connection.execute("SELECT id, secret_hash FROM api_keys").fetchall())
        connection.close()
        self.assertEqual(stored, {limited["id"]: hashes[0], dated["id"]: hashes[1],
                                  plain_id: hashes[2]})

        def assert_no_secrets(output):
            for key, key_hash in zip(secrets, hashes):
                self.assertNotIn(key, output)
                self.assertNotIn(key.split("_")[-1], output)
                self.assertNotIn(key_hash, output)

        listed = self.hearth("keys", "list", "--json").stdout
        assert_no_secrets(listed)
        keys = {key["id"]: key for key in json.loads(listed)["data"]}
        self.assertEqual(set(keys), {limited["id"], dated["id"], plain_id})
        self.assertEqual(keys[limited["id"]]["scopes"], ["workload:chat", "model:gpt*"])
        self.assertEqual(keys[limited["id"]]["requests_per_minute"], 60)
        self.assertEqual(keys[plain_id]["scopes"], ["admin"])
        self.assertEqual({key["status"] for key in keys.values()}, {"active"})
        for key in keys.values():
            self.assertNotIn("secret_hash", key)

        table = self.hearth("keys", "list").stdout
        assert_no_secrets(table)
        for header in ("ID", "TENANT", "NAME", "SCOPES", "RPM", "TPM", "BUDGET", "CREATED",
                       "EXPIRES", "STATUS"):
            self.assertIn(header, table)
        line = next(line for line in table.splitlines() if limited["id"] in line)
        for cell in ("acme", "ci runner", "workload:chat,model:gpt*", "60", "10000", "$5.50",
                     "active"):
            self.assertIn(cell, line)
        self.assertIn(expiry_date.isoformat(), table)

        # Revoke: listed as revoked; a second revocation and an unknown id fail.
        result = self.hearth("keys", "revoke", plain_id)
        self.assertIn(plain_id, result.stdout)
        keys = {key["id"]: key for key in self.hearth_json("keys", "list")["data"]}
        self.assertEqual(keys[plain_id]["status"], "revoked")
        self.assertIsNotNone(keys[plain_id]["revoked_us"])
        self.assertEqual(keys[limited["id"]]["status"], "active")
        line = next(line for line in self.hearth("keys", "list").stdout.splitlines()
                    if plain_id in line)
        self.assertTrue(line.rstrip().endswith("revoked"), line)
        again = self.hearth("keys", "revoke", plain_id, expect=1)
        self.assertIn("no active key", again.stderr)
        self.assertIn(plain_id, again.stderr)
        unknown = self.hearth("keys", "revoke", "hk_0123456789abcdef", expect=1)
        self.assertIn("no active key", unknown.stderr)

        # A key whose expiry passed is listed as expired.
        with sqlite3.connect(self.db_path) as connection:
            connection.execute("UPDATE api_keys SET expires_us = 1 WHERE id = ?", (dated["id"],))
        connection.close()
        keys = {key["id"]: key for key in self.hearth_json("keys", "list")["data"]}
        self.assertEqual(keys[dated["id"]]["status"], "expired")

        # Every change was audited by "cli", never with a secret.
        rows = self.audit_rows()
        self.assertEqual([row[0] for row in rows], [1, 2, 3, 4])
        self.assertEqual([row[2] for row in rows],
                         ["key.created", "key.created", "key.created", "key.revoked"])
        self.assertEqual({row[3] for row in rows}, {"cli"})
        first = json.loads(rows[0][4])
        self.assertEqual(first, {"id": limited["id"], "tenant": "acme", "name": "ci runner",
                                 "scopes": ["workload:chat", "model:gpt*"]})
        self.assertEqual(json.loads(rows[3][4]), {"id": plain_id})
        assert_no_secrets(repr(rows))

        verified = self.hearth("audit", "verify")
        self.assertIn("audit log verified: 4 records, chain intact (anchors: 0)", verified.stdout)

    def test_bad_inputs_name_the_field(self):
        cases = [
            (["--tenant", "bad tenant!", "--name", "x"], "tenant"),
            (["--tenant", "", "--name", "x"], "--tenant"),
            (["--name", "x"], "--tenant"),
            (["--tenant", "acme"], "--name"),
            (["--tenant", "acme", "--name", "x", "--scopes", "everything"], "scope"),
            (["--tenant", "acme", "--name", "x", "--scopes", "placement:moon"], "scope"),
            (["--tenant", "acme", "--name", "x", "--monthly-budget", "-5"], "budget"),
            (["--tenant", "acme", "--name", "x", "--monthly-budget", "lots"], "--monthly-budget"),
            (["--tenant", "acme", "--name", "x", "--rpm", "0"], "requests_per_minute"),
            (["--tenant", "acme", "--name", "x", "--rpm", "ten"], "--rpm"),
            (["--tenant", "acme", "--name", "x", "--tpm", "-1"], "tokens_per_minute"),
            (["--tenant", "acme", "--name", "x", "--expires", "tomorrow"], "--expires"),
            (["--tenant", "acme", "--name", "x", "--expires", "30x"], "--expires"),
            (["--tenant", "acme", "--name", "x", "--expires", "2030-02-30"], "--expires"),
            (["--tenant", "acme", "--name", "x", "--expires", "2001-01-01"], "expires"),
        ]
        for arguments, field in cases:
            with self.subTest(arguments=arguments):
                result = self.hearth("keys", "create", *arguments, expect=None)
                self.assertIn(result.returncode, (1, 2), result)
                self.assertIn(field, result.stderr)
                self.assertNotRegex(result.stdout, KEY_PATTERN)
        # Nothing was stored or audited.
        self.assertEqual(self.hearth_json("keys", "list")["data"], [])
        self.assertEqual(self.audit_rows(), [])

        self.assertIn("--by", self.hearth("usage", "--by", "colour", expect=2).stderr)
        self.assertIn("--since", self.hearth("usage", "--since", "last week", expect=2).stderr)
        self.assertIn("--until", self.hearth("usage", "--until", "2024-13-01", expect=2).stderr)
        self.assertIn("--until", self.hearth("usage", "--since", "2024-02-01", "--until",
                                              "2024-01-01", expect=2).stderr)
        self.assertIn("the key id", self.hearth("keys", "revoke", expect=2).stderr)
        # CLI11's own usage errors give 2 as well.
        self.assertIn("--bogus", self.hearth("keys", "create", "--tenant", "acme", "--name", "x",
                                             "--bogus", expect=2).stderr)
        self.hearth("keys", config=False, expect=2)
        self.hearth("audit", "verify", "--json", "extra", expect=2)
        self.hearth("retention", config=False, expect=2)

        broken = os.path.join(self.directory, "broken.yaml")
        with open(broken, "w") as config:
            config.write("ledger:\n  colour: blue\n")
        result = self.hearth("keys", "list", config=broken, expect=1)
        self.assertIn("colour", result.stderr)

    def test_default_store_is_hearth_db_in_the_current_directory(self):
        work = os.path.join(self.directory, "work")
        os.mkdir(work)
        created = json.loads(self.hearth("keys", "create", "--tenant", "acme", "--name", "d",
                                         "--json", config=False, cwd=work).stdout)
        self.assertTrue(os.path.exists(os.path.join(work, "hearth.db")))
        listed = json.loads(self.hearth("keys", "list", "--json", config=False, cwd=work).stdout)
        self.assertEqual([key["id"] for key in listed["data"]], [created["id"]])
        self.hearth("audit", "verify", config=False, cwd=work)


class AuditVerifyTest(TrustCliTestCase):

    def setUp(self):
        super().setUp()
        for index in range(4):
            self.create_key("--tenant", "acme", "--name", "key %d" % index)
        self.assertEqual(len(self.audit_rows()), 4)
        result = self.hearth("audit", "verify")
        self.assertIn("audit log verified: 4 records, chain intact", result.stdout)

    def assert_tampered(self, tamper, first_bad, problem):
        path, config = self.copy_db("tampered")
        connection = sqlite3.connect(path)
        with connection:
            tamper(connection)
        connection.close()
        result = self.hearth("audit", "verify", config=config, expect=1)
        self.assertIn("audit log TAMPERED", result.stdout)
        self.assertIn("(first bad record: %d)" % first_bad, result.stdout)
        self.assertIn(problem, result.stdout)
        report = json.loads(
            self.hearth("audit", "verify", "--json", config=config, expect=1).stdout)
        self.assertFalse(report["ok"])
        self.assertEqual(report["first_bad_sequence"], first_bad)
        # The original is untouched.
        self.hearth("audit", "verify")

    def test_intact_json(self):
        report = self.hearth_json("audit", "verify")
        self.assertEqual(report["ok"], True)
        self.assertEqual(report["records_checked"], 4)
        self.assertEqual(report["first_bad_sequence"], 0)

    def test_edited_record(self):
        self.assert_tampered(
            lambda db: db.execute(
                """UPDATE audit_log SET detail = '{"id":"forged"}' WHERE sequence = 2"""),
            2, "audit record 2 was edited")

    def test_deleted_middle_record(self):
        self.assert_tampered(lambda db: db.execute("DELETE FROM audit_log WHERE sequence = 3"),
                             3, "audit record 3 is missing")

    def test_swapped_records(self):
        def swap(db):
            columns = "time_us, kind, actor, detail, previous_hash, hash"
            two = db.execute("SELECT %s FROM audit_log WHERE sequence = 2" % columns).fetchone()
            three = db.execute("SELECT %s FROM audit_log WHERE sequence = 3" % columns).fetchone()
            assignments = ", ".join("%s = ?" % c.strip() for c in columns.split(","))
            db.execute("UPDATE audit_log SET %s WHERE sequence = 2" % assignments, three)
            db.execute("UPDATE audit_log SET %s WHERE sequence = 3" % assignments, two)
        self.assert_tampered(swap, 2, "audit record 2 does not follow")

    def test_deleted_first_record(self):
        self.assert_tampered(lambda db: db.execute("DELETE FROM audit_log WHERE sequence = 1"),
                             2, "earlier records were deleted")


class UsageTest(TrustCliTestCase):

    def test_empty_ledger(self):
        report = self.hearth_json("usage")
        self.assertEqual(report["by"], "workload")
        self.assertEqual(report["rows"], [])
        self.assertEqual(report["total"]["requests"], 0)
        self.assertEqual(report["total"]["cloud_cost_usd"], 0)
        self.assertAlmostEqual((report["to_us"] - report["from_us"]) / DAY_US, 30, places=2)
        self.assertIn("No requests", self.hearth("usage").stdout)

    def test_sums(self):
        self.hearth("keys", "list")  # creates the database
        now = now_us()
        day = DAY_US
        self.insert_usage([
            usage_row(now - 1 * day, "r1", workload="chat", key_id="hk_a", prompt_tokens=10,
                      completion_tokens=5, latency_ms=100.0),
            usage_row(now - 2 * day, "r2", workload="chat", key_id="hk_a", prompt_tokens=20,
                      completion_tokens=7, latency_ms=200.0, status=500),
            usage_row(now - 3 * day, "r3", workload="chat", key_id="hk_b", placement="cloud",
                      prompt_tokens=30, completion_tokens=9, latency_ms=300.0,
                      cloud_cost_usd=0.25),
            usage_row(now - 1 * day, "r4", workload="summarise", key_id="hk_b",
                      placement="cloud", prompt_tokens=100, completion_tokens=50,
                      latency_ms=1000.0, cloud_cost_usd=1.5, status=429),
            usage_row(now - 1 * day, "r5", workload="", placement="local", prompt_tokens=1,
                      completion_tokens=1, latency_ms=10.0, avoided_cost_usd=0.75),
            # Outside the default 30 days.
            usage_row(now - 40 * day, "old", workload="chat", prompt_tokens=1000,
                      completion_tokens=1000, latency_ms=5.0, cloud_cost_usd=9.0),
        ])
        report = self.hearth_json("usage")
        rows = {row["group"]: row for row in report["rows"]}
        self.assertEqual([row["group"] for row in report["rows"]], ["chat", "", "summarise"])
        chat = rows["chat"]
        self.assertEqual(chat["requests"], 3)
        self.assertEqual(chat["errors"], 1)
        self.assertEqual(chat["prompt_tokens"], 60)
        self.assertEqual(chat["completion_tokens"], 21)
        self.assertAlmostEqual(chat["cloud_cost_usd"], 0.25)
        self.assertAlmostEqual(chat["mean_latency_ms"], 200.0)
        self.assertEqual(rows["summarise"]["errors"], 1)
        self.assertAlmostEqual(rows[""]["avoided_cost_usd"], 0.75)
        total = report["total"]
        self.assertEqual(total["requests"], 5)
        self.assertEqual(total["errors"], 2)
        self.assertEqual(total["prompt_tokens"], 161)
        self.assertEqual(total["completion_tokens"], 72)
        self.assertAlmostEqual(total["cloud_cost_usd"], 1.75)
        self.assertAlmostEqual(total["avoided_cost_usd"], 0.75)
        self.assertAlmostEqual(total["mean_latency_ms"], 1610.0 / 5)

        by_placement = {row["group"]: row for row in self.hearth_json("usage", "--by",
                                                                      "placement")["rows"]}
        self.assertEqual(by_placement["cloud"]["requests"], 2)
        self.assertAlmostEqual(by_placement["cloud"]["cloud_cost_usd"], 1.75)
        self.assertEqual(by_placement["local"]["requests"], 3)

        by_key = {row["group"]: row["requests"] for row in self.hearth_json("usage", "--by",
                                                                            "key")["rows"]}
        self.assertEqual(by_key, {"hk_a": 2, "hk_b": 2, "": 1})

        # A wider window takes the old record in; --until a date ends after that day.
        wide = self.hearth_json("usage", "--since", "60d")
        self.assertEqual(wide["total"]["requests"], 6)
        self.assertAlmostEqual(wide["total"]["cloud_cost_usd"], 10.75)
        old_day = datetime.datetime.fromtimestamp((now - 40 * day) / 1e6,
                                                  datetime.timezone.utc).date()
        by_day = self.hearth_json("usage", "--by", "day", "--since", old_day.isoformat(),
                                  "--until", old_day.isoformat())
        self.assertEqual([(row["group"], row["requests"]) for row in by_day["rows"]],
                         [(old_day.isoformat(), 1)])
        recent = self.hearth_json("usage", "--since", "36h")
        self.assertEqual(recent["total"]["requests"], 3)

        # The table has every column and a total line.
        table = self.hearth("usage").stdout
        for header in ("REQUESTS", "ERRORS", "PROMPT TOKENS", "COMPLETION TOKENS",
                       "CLOUD COST $", "AVOIDED $", "MEAN LATENCY MS"):
            self.assertIn(header, table)
        total_line = next(line for line in table.splitlines() if line.startswith("TOTAL"))
        self.assertEqual(total_line.split()[1:6], ["5", "2", "161", "72", "1.7500"])


class RetentionTest(TrustCliTestCase):

    def test_purge_keeps_the_chain_verifiable(self):
        self.hearth("keys", "list")  # creates the database
        now = now_us()
        old = now - 100 * DAY_US
        # Three audit records older than audit_days (60), chained by hand.
        previous = GENESIS
        with sqlite3.connect(self.db_path) as connection:
            for sequence in (1, 2, 3):
                detail = json.dumps({"n": sequence})
                record_hash = audit_hash(sequence, old + sequence, "config.reloaded", "gateway",
                                         detail, previous)
                connection.execute(
                    "INSERT INTO audit_log (sequence, time_us, kind, actor, detail, "
                    "previous_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (sequence, old + sequence, "config.reloaded", "gateway", detail, previous,
                     record_hash))
                previous = record_hash
        connection.close()
        self.create_key("--tenant", "acme", "--name", "after")  # record 4, chained on 3
        self.assertIn("audit log verified: 4 records", self.hearth("audit", "verify").stdout)

        self.insert_usage([
            usage_row(now - 40 * DAY_US, "old1", workload="chat"),
            usage_row(now - 31 * DAY_US, "old2", workload="chat"),
            usage_row(now - 29 * DAY_US, "kept1", workload="chat"),
            usage_row(now - DAY_US, "kept2", workload="chat"),
        ])
        report = self.hearth_json("retention", "run")
        self.assertEqual(report["usage_deleted"], 2)
        self.assertEqual(report["audit_deleted"], 3)
        self.assertEqual(report["ledger_days"], 30)
        self.assertEqual(report["audit_days"], 60)

        with sqlite3.connect(self.db_path) as connection:
            kept = [row[0] for row in connection.execute(
                "SELECT request_id FROM usage ORDER BY time_us")]
            anchors = connection.execute("SELECT sequence FROM audit_anchors").fetchall()
        connection.close()
        self.assertEqual(kept, ["kept1", "kept2"])
        self.assertIn((3,), anchors)
        rows = self.audit_rows()
        self.assertEqual([(row[0], row[2], row[3]) for row in rows],
                         [(4, "key.created", "cli"), (5, "retention.purged", "cli")])
        detail = json.loads(rows[1][4])
        self.assertEqual((detail["usage_deleted"], detail["audit_deleted"]), (2, 3))

        verified = self.hearth("audit", "verify")
        self.assertIn("audit log verified: 2 records, chain intact (anchors: 1)", verified.stdout)

        # Nothing more to delete; the text says so and the chain still verifies.
        text = self.hearth("retention", "run").stdout
        self.assertIn("Deleted 0 usage records older than 30 days", text)
        self.assertIn("Deleted 0 audit records older than 60 days", text)
        self.hearth("audit", "verify")
        self.assertEqual(self.hearth_json("usage", "--since", "365d")["total"]["requests"], 2)


if __name__ == "__main__":
    unittest.main()
