#!/usr/bin/env python3
"""Checks `hearth privacy eval` and `hearth privacy scan` on small hand-made inputs: exit
statuses, input errors naming the line, the matching of findings to labels, and the JSON output.

The binary comes from $HEARTH_BIN (default build/bin/hearth). The cases lean only on findings
any reasonable scanner makes (an e-mail address, a Luhn-valid card number with context).
"""

import json
import os
import subprocess
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HEARTH = os.environ.get("HEARTH_BIN", os.path.join(ROOT, "build", "bin", "hearth"))

EMAIL_TEXT = ("Bitte antworten Sie an jürgen.müller@example.de — 谢谢! "
              "Write to anna.schmidt@example.de.")


def byte_span(text, value):
    start = text.encode("utf-8").index(value.encode("utf-8"))
    return start, start + len(value.encode("utf-8"))


def run(*args, stdin=None):
    return subprocess.run([HEARTH, "privacy", *args], input=stdin, capture_output=True,
                          timeout=120)


class EvalCommandTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.tmp.cleanup()

    def corpus(self, *lines):
        path = os.path.join(self.tmp.name, "corpus.jsonl")
        with open(path, "w", encoding="utf-8") as f:
            for line in lines:
                f.write((line if isinstance(line, str) else json.dumps(line, ensure_ascii=False))
                        + "\n")
        return path

    def document(self, text, entities, id_="d1"):
        return {"id": id_, "kind": "test", "language": "en", "format": "text", "text": text,
                "entities": [{"type": t, "start": s, "end": e} for t, s, e in entities]}

    def test_unreadable_corpus_is_an_input_error(self):
        result = run("eval", "--corpus", os.path.join(self.tmp.name, "missing.jsonl"))
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn(b"missing.jsonl", result.stderr)

    def test_missing_corpus_option_is_a_usage_error(self):
        self.assertEqual(run("eval").returncode, 2)

    def test_invalid_json_names_the_line(self):
        path = self.corpus(self.document("nothing here", []), "{not json")
        result = run("eval", "--corpus", path)
        self.assertEqual(result.returncode, 2)
        self.assertIn(b"corpus.jsonl:2: not valid JSON", result.stderr)

    def test_offsets_out_of_range_name_the_line(self):
        path = self.corpus(self.document("short", [("email", 2, 50)]))
        result = run("eval", "--corpus", path)
        self.assertEqual(result.returncode, 2)
        self.assertIn(b"corpus.jsonl:1: entity 0 offsets [2, 50) are out of range", result.stderr)

    def test_offsets_inside_a_character_are_rejected(self):
        path = self.corpus(self.document("谢谢 you", [("email", 1, 4)]))
        result = run("eval", "--corpus", path)
        self.assertEqual(result.returncode, 2)
        self.assertIn(b"split a UTF-8 character", result.stderr)

    def test_negative_offsets_and_missing_fields_are_rejected(self):
        for bad in ({"text": "x", "entities": [{"type": "email", "start": -1, "end": 1}]},
                    {"text": "x"}, {"entities": []}, [1, 2]):
            result = run("eval", "--corpus", self.corpus(bad))
            self.assertEqual(result.returncode, 2, bad)
            self.assertIn(b"corpus.jsonl:1:", result.stderr)

    def test_matched_labels_pass_and_byte_offsets_count(self):
        first = byte_span(EMAIL_TEXT, "jürgen.müller@example.de")
        second = byte_span(EMAIL_TEXT, "anna.schmidt@example.de")
        path = self.corpus(self.document(EMAIL_TEXT, [("email", *first), ("email", *second)]))
        result = run("eval", "--corpus", path, "--json")
        self.assertIn(result.returncode, (0, 1), result.stderr)
        report = json.loads(result.stdout)
        email = next(t for t in report["types"] if t["type"] == "email")
        self.assertEqual(email["labelled"], 2)
        # The ASCII address must be found; at most one finding can match each label.
        self.assertGreaterEqual(email["tp"], 1)
        self.assertEqual(email["tp"] + email["fn"], 2)
        self.assertEqual(email["tp"] + email["fp"], email["found"])
        self.assertEqual(report["documents"], 1)
        self.assertEqual(report["bytes"], len(EMAIL_TEXT.encode("utf-8")))
        self.assertEqual(report["pass"], result.returncode == 0)

    def test_a_label_nothing_finds_is_a_miss(self):
        path = self.corpus(self.document("plain words only", [("iban", 0, 5)]))
        result = run("eval", "--corpus", path, "--show-errors", "3")
        self.assertEqual(result.returncode, 1, result.stdout)
        self.assertIn(b"FN d1", result.stdout)
        self.assertIn("»plain«".encode(), result.stdout)
        self.assertIn(b"MISS", result.stdout)

    def test_each_finding_matches_one_label(self):
        text = "Contact: anna.schmidt@example.de"
        start, end = byte_span(text, "anna.schmidt@example.de")
        path = self.corpus(self.document(text, [("email", start, start + 4),
                                                ("email", start + 5, end)]))
        report = json.loads(run("eval", "--corpus", path, "--json").stdout)
        email = next(t for t in report["types"] if t["type"] == "email")
        self.assertEqual((email["labelled"], email["tp"], email["fn"]), (2, 1, 1))

    def test_a_finding_of_another_type_is_not_a_match(self):
        text = "Contact: anna.schmidt@example.de"
        start, end = byte_span(text, "anna.schmidt@example.de")
        path = self.corpus(self.document(text, [("phone", start, end)]))
        result = run("eval", "--corpus", path, "--json", "--show-errors", "2")
        self.assertEqual(result.returncode, 1)
        report = json.loads(result.stdout)
        phone = next(t for t in report["types"] if t["type"] == "phone")
        email = next(t for t in report["types"] if t["type"] == "email")
        self.assertEqual((phone["labelled"], phone["tp"], phone["fn"]), (1, 0, 1))
        # An unlabelled type with false positives misses its precision target.
        self.assertEqual((email["labelled"], email["fp"], email["status"]), (0, 1, "MISS"))
        self.assertIn("email", report["missed"])
        self.assertEqual(report["errors"]["email"]["false_positives"][0]["start"], start)

    def test_text_report_has_the_table_and_throughput(self):
        path = self.corpus(self.document("nothing sensitive in here", []))
        result = run("eval", "--corpus", path)
        self.assertEqual(result.returncode, 0, result.stdout)
        self.assertIn(b"precision", result.stdout)
        self.assertIn(b"MB/s", result.stdout)
        self.assertIn(b"result: PASS", result.stdout)


class ScanCommandTest(unittest.TestCase):
    def test_prints_one_line_per_finding_without_values(self):
        result = run("scan", "-", stdin=EMAIL_TEXT.encode("utf-8"))
        self.assertEqual(result.returncode, 0, result.stderr)
        lines = [json.loads(line) for line in result.stdout.decode().splitlines()]
        emails = [f for f in lines if f["type"] == "email"]
        self.assertTrue(emails)
        raw = EMAIL_TEXT.encode("utf-8")
        for finding in lines:
            self.assertEqual(set(finding), {"type", "labels", "start", "end", "confidence"})
            raw[finding["start"]:finding["end"]].decode("utf-8")
        self.assertIn(byte_span(EMAIL_TEXT, "anna.schmidt@example.de"),
                      [(f["start"], f["end"]) for f in emails])
        self.assertNotIn(b"anna.schmidt", result.stdout)

    def test_reads_a_file(self):
        with tempfile.NamedTemporaryFile("wb", suffix=".txt", delete=False) as f:
            f.write(EMAIL_TEXT.encode("utf-8"))
        try:
            from_file = run("scan", f.name)
        finally:
            os.unlink(f.name)
        from_stdin = run("scan", stdin=EMAIL_TEXT.encode("utf-8"))
        self.assertEqual(from_file.returncode, 0)
        self.assertEqual(from_file.stdout, from_stdin.stdout)

    def test_invalid_utf8_names_the_offset(self):
        result = run("scan", "-", stdin=b"hello \xff world")
        self.assertEqual(result.returncode, 1)
        self.assertIn(b"offset 6", result.stderr)

    def test_unreadable_file(self):
        self.assertEqual(run("scan", "/nonexistent/file.txt").returncode, 2)


if __name__ == "__main__":
    unittest.main()
