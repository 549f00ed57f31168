#!/usr/bin/env python3
"""Checks the privacy evaluation corpus generator (generate.py): deterministic output, byte-exact
offsets, valid checksum-type values, coverage of kinds and languages, hard negatives that fail
their checks, and no strong-pattern PII left unlabelled.

The checksums here are written independently of generate.py on purpose: a bug shared by the
generator and its test would go unnoticed.
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import generate  # noqa: E402

SEED = 5

# --- independent validators -----------------------------------------------------------------


def luhn_valid(number):
    digits = [int(c) for c in number]
    odd = digits[-1::-2]
    even = [sum(divmod(2 * d, 10)) for d in digits[-2::-2]]
    return (sum(odd) + sum(even)) % 10 == 0


def known_iin(number):
    if number[0] == "4":
        return len(number) in (13, 16, 19)
    two, three, four = int(number[:2]), int(number[:3]), int(number[:4])
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return len(number) == 16
    if two in (34, 37):
        return len(number) == 15
    if four == 6011 or 644 <= three <= 649 or two == 65:
        return len(number) in (16, 19)
    if 3528 <= four <= 3589:
        return 16 <= len(number) <= 19
    if two == 36 or 300 <= three <= 305:
        return 14 <= len(number) <= 19
    if two == 62:
        return 16 <= len(number) <= 19
    if four in (5018, 5020, 5038, 6304, 6759, 6761, 6762, 6763):
        return 12 <= len(number) <= 19
    return False


IBAN_LENGTHS = {"AE": 23, "AT": 20, "BE": 16, "CH": 21, "DE": 22, "ES": 24, "FR": 27, "GB": 22,
                "IE": 22, "IT": 27, "NL": 18, "PL": 28, "PT": 25, "SA": 24, "SE": 24}


def iban_valid(text):
    compact = re.sub(r"[ ]", "", text)
    if not re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]+", compact):
        return False
    if IBAN_LENGTHS.get(compact[:2]) != len(compact):
        return False
    remainder = 0
    for ch in compact[4:] + compact[:4]:
        value = ord(ch) - 55 if ch.isalpha() else int(ch)
        remainder = (remainder * (100 if value > 9 else 10) + value) % 97
    return remainder == 1


def aba_valid(number):
    if not re.fullmatch(r"[0-9]{9}", number):
        return False
    weights = [3, 7, 1] * 3
    return sum(int(d) * w for d, w in zip(number, weights)) % 10 == 0


def nhs_valid(number):
    if not re.fullmatch(r"[0-9]{10}", number):
        return False
    remainder = sum(int(d) * w for d, w in zip(number[:9], range(10, 1, -1))) % 11
    check = (11 - remainder) % 11
    return check != 10 and check == int(number[9])


def ssn_valid(text):
    match = re.fullmatch(r"([0-9]{3})[- ]?([0-9]{2})[- ]?([0-9]{4})", text)
    if not match:
        return False
    area, group, serial = (int(g) for g in match.groups())
    return 0 < area < 900 and area != 666 and group != 0 and serial != 0


def digits_of(text):
    return re.sub(r"[^0-9]", "", text)


def fails_every_checksum(run):
    if 12 <= len(run) <= 19 and luhn_valid(run):
        return False
    if len(run) == 9 and aba_valid(run):
        return False
    if len(run) == 10 and nhs_valid(run):
        return False
    return True


# --- the corpus under test ------------------------------------------------------------------

_DOCUMENTS = None


def documents():
    global _DOCUMENTS
    if _DOCUMENTS is None:
        _DOCUMENTS = generate.generate_documents(SEED, generate.DEFAULT_DOCUMENTS)
    return _DOCUMENTS


def labelled(doc, type_):
    raw = doc.text.encode("utf-8")
    return [raw[s.start:s.end].decode("utf-8") for s in doc.entities if s.type == type_]


class DeterminismTest(unittest.TestCase):
    def test_same_seed_same_corpus(self):
        first = [json.dumps(d.record()) for d in generate.generate_documents(11, 200)]
        second = [json.dumps(d.record()) for d in generate.generate_documents(11, 200)]
        self.assertEqual(first, second)

    def test_other_seed_other_corpus(self):
        first = [d.record()["text"] for d in generate.generate_documents(11, 50)]
        second = [d.record()["text"] for d in generate.generate_documents(12, 50)]
        self.assertNotEqual(first, second)

    def test_command_line_writes_the_same_jsonl_to_a_file_and_stdout(self):
        script = os.path.join(HERE, "generate.py")
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "corpus.jsonl")
            subprocess.run([sys.executable, script, "--seed", "3", "--documents", "80",
                            "--output", path], check=True)
            with open(path, "rb") as f:
                from_file = f.read()
        from_stdout = subprocess.run([sys.executable, script, "--seed", "3", "--documents", "80"],
                                     check=True, capture_output=True).stdout
        self.assertEqual(from_file, from_stdout)
        lines = from_file.decode("utf-8").splitlines()
        self.assertEqual(len(lines), 80)
        for line in lines:
            record = json.loads(line)
            self.assertEqual(list(record), ["id", "kind", "language", "format", "text",
                                            "entities"])
            for entity in record["entities"]:
                self.assertEqual(list(entity), ["type", "start", "end"])
        ids = [json.loads(line)["id"] for line in lines]
        self.assertEqual(len(set(ids)), len(ids))

    def test_rejects_a_document_count_below_one(self):
        script = os.path.join(HERE, "generate.py")
        result = subprocess.run([sys.executable, script, "--documents", "0"],
                                capture_output=True)
        self.assertNotEqual(result.returncode, 0)


class OffsetTest(unittest.TestCase):
    def test_offsets_are_utf8_byte_offsets_of_the_inserted_values(self):
        non_ascii_documents = 0
        for doc in documents():
            record = json.loads(json.dumps(doc.record(), ensure_ascii=False))
            raw = record["text"].encode("utf-8")
            if len(raw) != len(record["text"]):
                non_ascii_documents += 1
            self.assertEqual(len(record["entities"]), len(doc.entities))
            for entity, span in zip(record["entities"], doc.entities):
                self.assertIn(entity["type"], generate.TYPES)
                self.assertLessEqual(0, entity["start"])
                self.assertLess(entity["start"], entity["end"])
                self.assertLessEqual(entity["end"], len(raw))
                value = raw[entity["start"]:entity["end"]].decode("utf-8")  # raises off-boundary
                self.assertEqual(value, span.value, doc.id)
                self.assertEqual(value, value.strip(), doc.id)
        self.assertGreater(non_ascii_documents, 300)

    def test_labels_do_not_overlap(self):
        for doc in documents():
            spans = sorted((s.start, s.end) for s in doc.entities)
            for (_, end), (start, _) in zip(spans, spans[1:]):
                self.assertLessEqual(end, start, doc.id)

    def test_hard_negatives_are_not_inside_labels(self):
        for doc in documents():
            for negative in doc.negatives:
                for span in doc.entities:
                    self.assertFalse(negative.start < span.end and span.start < negative.end,
                                     (doc.id, negative.value, span.value))

    def test_json_documents_parse(self):
        for doc in documents():
            if doc.format == "json":
                json.loads(doc.text)
            if doc.kind == "log" and doc.text.startswith("{"):
                for line in doc.text.splitlines():
                    json.loads(line)


class ChecksumTest(unittest.TestCase):
    def test_cards_pass_luhn_with_a_known_iin(self):
        count = 0
        for doc in documents():
            for value in labelled(doc, "card"):
                self.assertRegex(value, r"^[0-9]+([ -][0-9]+)*$")
                number = digits_of(value)
                self.assertTrue(luhn_valid(number), (doc.id, value))
                self.assertTrue(known_iin(number), (doc.id, value))
                count += 1
        self.assertGreater(count, 100)

    def test_ibans_pass_mod97_with_the_country_length(self):
        count = 0
        countries = set()
        for doc in documents():
            for value in labelled(doc, "iban"):
                self.assertTrue(iban_valid(value), (doc.id, value))
                countries.add(value[:2])
                count += 1
        self.assertGreater(count, 100)
        self.assertTrue({"DE", "FR", "GB", "ES", "NL", "AT", "CH"} <= countries, countries)

    def test_routing_numbers_pass_the_aba_checksum_and_have_context(self):
        count = 0
        for doc in documents():
            raw = doc.text.encode("utf-8")
            for span in doc.entities:
                if span.type != "aba_routing":
                    continue
                self.assertTrue(aba_valid(span.value), (doc.id, span.value))
                before = raw[max(0, span.start - 40):span.start].decode("utf-8", "ignore")
                self.assertRegex(before.lower(), r"routing|aba|rtn", (doc.id, before))
                count += 1
        self.assertGreater(count, 100)

    def test_nhs_numbers_pass_mod11(self):
        count = 0
        for doc in documents():
            for value in labelled(doc, "nhs_number"):
                self.assertTrue(nhs_valid(digits_of(value)), (doc.id, value))
                self.assertRegex(value, r"^[0-9]{3}([ -]?)[0-9]{3}\1[0-9]{4}$")
                count += 1
        self.assertGreater(count, 80)

    def test_ssns_follow_area_group_serial_rules(self):
        count = 0
        for doc in documents():
            for value in labelled(doc, "ssn"):
                self.assertTrue(ssn_valid(value), (doc.id, value))
                count += 1
        self.assertGreater(count, 60)

    def test_national_id_check_characters(self):
        letters = "TRWAGMYFPDXBNJZSQVHLCKE"
        seen = set()
        for doc in documents():
            for value in labelled(doc, "id_number"):
                if re.fullmatch(r"[0-9]{8}[A-Z]", value):  # Spanish DNI
                    self.assertEqual(letters[int(value[:8]) % 23], value[8], value)
                    seen.add("dni")
                elif re.fullmatch(r"[XYZ][0-9]{7}[A-Z]", value):  # Spanish NIE
                    number = int(str("XYZ".index(value[0])) + value[1:8])
                    self.assertEqual(letters[number % 23], value[8], value)
                    seen.add("nie")
                elif re.fullmatch(r"[0-9]{17}[0-9X]", value):  # Chinese resident ID
                    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
                    total = sum(int(c) * w for c, w in zip(value, weights))
                    self.assertEqual("10X98765432"[total % 11], value[17], value)
                    seen.add("cn")
                elif re.fullmatch(r"[12]( [0-9]{2}){3} [0-9]{3} [0-9]{3} [0-9]{2}", value):
                    number = digits_of(value)  # French NIR
                    self.assertEqual(97 - int(number[:13]) % 97, int(number[13:]), value)
                    seen.add("nir")
        self.assertEqual(seen, {"dni", "nie", "cn", "nir"})

    def test_jwts_have_a_json_header_with_alg(self):
        count = 0
        for doc in documents():
            for value in labelled(doc, "jwt"):
                header, payload, signature = value.split(".")
                decoded = json.loads(generate.base64.urlsafe_b64decode(header + "=" * (-len(
                    header) % 4)))
                self.assertIn("alg", decoded)
                self.assertTrue(signature)
                count += 1
        self.assertGreater(count, 30)

    def test_secret_formats(self):
        patterns = {
            "aws_access_key": r"(AKIA|ASIA)[A-Z2-7]{16}",
            "github_token": r"gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}",
            "gitlab_token": r"glpat-[A-Za-z0-9_-]{20}",
            "slack_token": r"xox[bp]-[0-9]+-[0-9]+(-[0-9]+)?-[A-Za-z0-9]+",
            "stripe_key": r"(sk|rk)_(live|test)_[A-Za-z0-9]{24,}",
            "openai_key": r"sk-(proj-|svcacct-)?[A-Za-z0-9_-]*T3BlbkFJ[A-Za-z0-9_-]+",
            "private_key": r"-----BEGIN ([A-Z]+ )?PRIVATE KEY-----[\s\S]+-----END ([A-Z]+ )?"
                           r"PRIVATE KEY-----",
        }
        for doc in documents():
            for type_, pattern in patterns.items():
                for value in labelled(doc, type_):
                    self.assertRegex(value, "^(" + pattern + ")$", (doc.id, value))


class CoverageTest(unittest.TestCase):
    def test_every_kind_language_and_type_appears(self):
        docs = documents()
        self.assertEqual(len(docs), generate.DEFAULT_DOCUMENTS)
        combos = {(d.kind, d.language) for d in docs}
        for kind, (_, languages, _) in generate.KINDS.items():
            for language in languages:
                self.assertIn((kind, language), combos)
        self.assertEqual({d.language for d in docs}, set(generate.LANGUAGES))
        self.assertTrue({"clinical_note", "support_ticket", "contract", "bank_statement", "log",
                         "code", "config", "json_record", "csv_export", "commit_log", "invoice",
                         "form"} <= {d.kind for d in docs})
        self.assertTrue({"text", "json", "csv", "markdown", "log", "yaml", "env", "email",
                         "python"} <= {d.format for d in docs})
        counts = {t: 0 for t in generate.TYPES}
        for doc in docs:
            for span in doc.entities:
                counts[span.type] += 1
        for type_, count in counts.items():
            self.assertGreaterEqual(count, 25, type_)

    def test_scripts_appear_next_to_entities(self):
        scripts = {"zh": r"[\u4e00-\u9fff]", "ja": r"[\u3040-\u30ff]", "ar": r"[\u0600-\u06ff]",
                   "ru": r"[\u0400-\u04ff]"}
        for language, pattern in scripts.items():
            docs = [d for d in documents() if d.language == language and d.entities]
            self.assertTrue(docs, language)
            self.assertTrue(all(re.search(pattern, d.text) for d in docs), language)

    def test_hard_negative_kinds_appear(self):
        kinds = {n.kind for d in documents() for n in d.negatives}
        self.assertTrue({"order_number", "invoice_number", "version", "timestamp", "date",
                         "digits", "tracking_number", "uuid", "git_sha", "sha256", "price",
                         "sku", "base64_image", "rf_reference", "ean", "invalid_ssn",
                         "placeholder", "certificate", "user_agent"} <= kinds, kinds)
        versions = [n.value for d in documents() for n in d.negatives if n.kind == "version"]
        self.assertTrue(any(re.fullmatch(r"v\d+\.\d+\.\d+\.\d+", v) for v in versions))


class HardNegativeTest(unittest.TestCase):
    def test_digit_runs_fail_their_checksums(self):
        checked = 0
        numeric_kinds = {"digits", "order_number", "invoice_number", "tracking_number", "ean",
                         "customer_id", "vat_id"}
        for doc in documents():
            for negative in doc.negatives:
                if negative.kind not in numeric_kinds:
                    continue
                for run in re.findall(r"[0-9]+", negative.value):
                    if len(run) >= 9:
                        self.assertTrue(fails_every_checksum(run), (doc.id, negative.value))
                        checked += 1
        self.assertGreater(checked, 1000)

    def test_card_length_luhn_failures_and_ean_codes(self):
        luhn_failing = 0
        for doc in documents():
            for negative in doc.negatives:
                run = digits_of(negative.value)
                if negative.kind in ("digits", "ean") and 13 <= len(run) <= 19:
                    self.assertFalse(luhn_valid(run), negative.value)
                    luhn_failing += 1
        self.assertGreater(luhn_failing, 100)

    def test_creditor_references_are_not_ibans(self):
        count = 0
        for doc in documents():
            for negative in doc.negatives:
                if negative.kind == "rf_reference":
                    self.assertFalse(iban_valid(negative.value))
                    count += 1
        self.assertGreater(count, 20)

    def test_invalid_ssns_break_a_rule(self):
        count = 0
        for doc in documents():
            for negative in doc.negatives:
                if negative.kind == "invalid_ssn":
                    self.assertRegex(negative.value, r"^[0-9]{3}-[0-9]{2}-[0-9]{4}$")
                    self.assertFalse(ssn_valid(negative.value))
                    count += 1
        self.assertGreater(count, 20)

    def test_dates_of_birth_are_only_labelled_with_a_label(self):
        words = r"dob|d\.o\.b|birth|born|geb|naissance|né|nacimiento|出生|生年月日|الميلاد|рождения"
        for doc in documents():
            raw = doc.text.encode("utf-8")
            for span in doc.entities:
                if span.type != "date_of_birth":
                    continue
                line_start = raw.rfind(b"\n", 0, span.start) + 1
                context = raw[line_start:span.start].decode("utf-8").lower()
                if doc.format in ("csv", "markdown"):
                    context = doc.text.lower()  # the column header
                self.assertRegex(context, words, (doc.id, span.value))


# Strong patterns: text matching one of these is sensitive wherever it appears, so every match
# must be covered by a label (no accidental, unlabelled PII in the corpus).
STRONG_PATTERNS = [
    ("email", re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")),
    ("aws", re.compile(r"(AKIA|ASIA)[A-Z2-7]{16}")),
    ("github", re.compile(r"gh[pousr]_[A-Za-z0-9]{36}|github_pat_")),
    ("gitlab", re.compile(r"glpat-")),
    ("slack", re.compile(r"xox[bpars]-")),
    ("stripe", re.compile(r"(sk|rk)_(live|test)_")),
    ("openai", re.compile(r"T3BlbkFJ")),
    ("jwt", re.compile(r"eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.")),
    ("private_key", re.compile(r"-----BEGIN ([A-Z]+ )?PRIVATE KEY-----")),
]
IMAGE_SUFFIX = re.compile(r"\.(png|jpe?g|gif|webp|svg)$")


class NoUnlabelledPiiTest(unittest.TestCase):
    def covered(self, doc, start, end):
        return any(s.start < end and start < s.end for s in doc.entities)

    def test_strong_patterns_are_labelled(self):
        for doc in documents():
            raw = doc.text.encode("utf-8")
            for name, pattern in STRONG_PATTERNS:
                for match in pattern.finditer(raw.decode("utf-8")):
                    if name == "email" and IMAGE_SUFFIX.search(match.group()):
                        continue
                    start = len(doc.text[:match.start()].encode("utf-8"))
                    end = len(doc.text[:match.end()].encode("utf-8"))
                    self.assertTrue(self.covered(doc, start, end), (doc.id, name, match.group()))

    def test_valid_card_and_iban_shapes_are_labelled(self):
        digit_groups = re.compile(r"(?<![0-9A-Za-z])[0-9]+(?:[ -][0-9]+)*(?![0-9A-Za-z])")
        iban_shape = re.compile(
            r"(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4})+(?: ?[A-Z0-9]{1,3})?")
        for doc in documents():
            text = doc.text
            for match in digit_groups.finditer(text):
                number = digits_of(match.group())
                if 13 <= len(number) <= 19 and luhn_valid(number) and known_iin(number):
                    start = len(text[:match.start()].encode("utf-8"))
                    end = len(text[:match.end()].encode("utf-8"))
                    self.assertTrue(self.covered(doc, start, end), (doc.id, match.group()))
            for match in iban_shape.finditer(text):
                if iban_valid(match.group()):
                    start = len(text[:match.start()].encode("utf-8"))
                    end = len(text[:match.end()].encode("utf-8"))
                    self.assertTrue(self.covered(doc, start, end), (doc.id, match.group()))


if __name__ == "__main__":
    unittest.main()
