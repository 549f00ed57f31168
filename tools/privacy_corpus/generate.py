#!/usr/bin/env python3
"""Generates the labelled evaluation corpus of the privacy scanner (issue 5, docs/PRIVACY.md).

One JSON document per line:
  {"id", "kind", "language", "format", "text", "entities": [{"type", "start", "end"}]}
start/end are UTF-8 byte offsets into text, end exclusive. Everything an annotator would mark
as one of the scanner's entity types is labelled; hard negatives (order and invoice numbers,
versions, timestamps, digit runs that fail the checksums, UUIDs, digests, ...) are in the text
but not in "entities". Values of checksum-validated types (cards, IBANs, routing numbers, NHS
numbers) pass their checksums; SSNs follow the area/group/serial rules.

Standard library only and deterministic for a seed:
  python3 tools/privacy_corpus/generate.py --seed 5 --documents 1200 --output corpus.jsonl
"""

import argparse
import base64
import datetime
import json
import random
import re
import string
import sys
import unicodedata
import uuid

TYPES = [
    "card", "iban", "ssn", "aba_routing", "nhs_number", "email", "phone", "ip_address",
    "date_of_birth", "postal_code", "passport", "id_number", "private_key", "aws_access_key",
    "github_token", "gitlab_token", "slack_token", "stripe_key", "openai_key", "jwt", "password",
    "secret",
]
LANGUAGES = ["en", "de", "fr", "es", "zh", "ja", "ar", "ru"]
DEFAULT_SEED = 5
DEFAULT_DOCUMENTS = 1200

# --------------------------------------------------------------------------------------------
# Document builder


class Ent:
    """A value the annotator marks as an entity of `type`."""
    __slots__ = ("type", "value")

    def __init__(self, type_, value):
        assert type_ in TYPES, type_
        self.type = type_
        self.value = value


class Neg:
    """A hard negative: looks like an entity, is not one. `kind` says which check it fails."""
    __slots__ = ("kind", "value")

    def __init__(self, kind, value):
        self.kind = kind
        self.value = value


E = Ent
N = Neg


class Span:
    """A labelled entity (type) or a hard negative (kind: the check it fails)."""
    __slots__ = ("type", "start", "end", "value")

    def __init__(self, type_, start, end, value):
        self.type = type_
        self.start = start
        self.end = end
        self.value = value

    @property
    def kind(self):
        return self.type


class Document:
    def __init__(self, kind, language, fmt):
        self.kind = kind
        self.language = language
        self.format = fmt
        self.id = ""
        self._parts = []
        self._bytes = 0
        self.entities = []   # Span(type, start, end, value)
        self.negatives = []  # Span(kind, start, end, value)

    def _append(self, text):
        self._parts.append(text)
        self._bytes += len(text.encode("utf-8"))

    def put(self, *pieces):
        for piece in pieces:
            if isinstance(piece, Ent):
                start = self._bytes
                self._append(piece.value)
                self.entities.append(Span(piece.type, start, self._bytes, piece.value))
            elif isinstance(piece, Neg):
                start = self._bytes
                self._append(piece.value)
                self.negatives.append(Span(piece.kind, start, self._bytes, piece.value))
            elif isinstance(piece, (list, tuple)):
                self.put(*piece)
            elif piece is None:
                continue
            else:
                self._append(str(piece))
        return self

    def line(self, *pieces):
        return self.put(*pieces, "\n")

    @property
    def text(self):
        return "".join(self._parts)

    def record(self):
        return {
            "id": self.id,
            "kind": self.kind,
            "language": self.language,
            "format": self.format,
            "text": self.text,
            "entities": [{"type": s.type, "start": s.start, "end": s.end} for s in self.entities],
        }


def jstr(value):
    """A JSON string literal for plain text (no escapes needed around entity values)."""
    return json.dumps(value, ensure_ascii=False)


def jval(ent_or_neg):
    """A JSON string holding an entity or hard negative: the quotes stay outside the span, and
    the span is the escaped text (a PEM block's newlines become \\n)."""
    escaped = json.dumps(ent_or_neg.value, ensure_ascii=False)[1:-1]
    if isinstance(ent_or_neg, Ent):
        return ['"', Ent(ent_or_neg.type, escaped), '"']
    return ['"', Neg(ent_or_neg.kind, escaped), '"']


# --------------------------------------------------------------------------------------------
# Checksums


def luhn_ok(digits):
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def luhn_digit(payload):
    for d in "0123456789":
        if luhn_ok(payload + d):
            return d
    raise AssertionError


def iban_mod97(compact):
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97


def aba_ok(digits):
    d = [int(c) for c in digits]
    return len(d) == 9 and (3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) +
                            (d[2] + d[5] + d[8])) % 10 == 0


def nhs_check(first9):
    total = sum(int(c) * (10 - i) for i, c in enumerate(first9))
    check = 11 - total % 11
    if check == 11:
        return "0"
    if check == 10:
        return None
    return str(check)


def nhs_ok(digits):
    return len(digits) == 10 and nhs_check(digits[:9]) == digits[9]


def fails_digit_checks(digits):
    """A digit run no checksum-validated type accepts: Luhn for card lengths, ABA for 9 digits,
    mod-11 for 10 digits."""
    if 12 <= len(digits) <= 19 and luhn_ok(digits):
        return False
    if len(digits) == 9 and aba_ok(digits):
        return False
    if len(digits) == 10 and nhs_ok(digits):
        return False
    return True


# --------------------------------------------------------------------------------------------
# Random helpers

UPPER = string.ascii_uppercase
DIGITS = string.digits
ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
BASE64 = string.ascii_letters + string.digits + "+/"
BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def rs(rng, alphabet, n):
    return "".join(rng.choice(alphabet) for _ in range(n))


def rdigits(rng, n, first_nonzero=False):
    s = rs(rng, DIGITS, n)
    if first_nonzero and s[0] == "0":
        s = rng.choice("123456789") + s[1:]
    return s


def group(s, sizes, sep=" "):
    out, i = [], 0
    for size in sizes:
        out.append(s[i:i + size])
        i += size
    if i < len(s):
        out.append(s[i:])
    return sep.join(out)


def group4(s, sep=" "):
    return sep.join(s[i:i + 4] for i in range(0, len(s), 4))


def ascii_fold(text):
    text = text.replace("ß", "ss").replace("æ", "ae").replace("ø", "o")
    folded = unicodedata.normalize("NFKD", text)
    return "".join(c for c in folded if not unicodedata.combining(c)).encode("ascii",
                                                                            "ignore").decode()


def date_between(rng, first_year, last_year):
    start = datetime.date(first_year, 1, 1).toordinal()
    end = datetime.date(last_year, 12, 31).toordinal()
    return datetime.date.fromordinal(rng.randint(start, end))


def timestamp(rng, year=2024):
    day = date_between(rng, year, year)
    return datetime.datetime(day.year, day.month, day.day, rng.randint(0, 23), rng.randint(0, 59),
                             rng.randint(0, 59), rng.randint(0, 999) * 1000)


# --------------------------------------------------------------------------------------------
# People

NAMES = {
    "en": (["James", "Olivia", "Amelia", "Harry", "Sophie", "Michael", "Emily", "Daniel", "Grace",
            "Thomas", "Chloe", "Robert", "Jessica", "William", "Hannah", "Aisha", "Priya",
            "Connor"],
           ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel",
            "Robinson", "Wright", "Thompson", "Evans", "Walker", "Hughes", "O'Brien", "Khan"]),
    "de": (["Anna", "Lukas", "Leonie", "Jonas", "Lena", "Felix", "Marie", "Paul", "Sophie",
            "Maximilian", "Jürgen", "Märta", "Björn", "Uwe", "Sabine", "Özlem", "Jörg"],
           ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
            "Schulz", "Hoffmann", "Schäfer", "Koch", "Bauer", "Richter", "Groß", "Yılmaz"]),
    "fr": (["Léa", "Hugo", "Chloé", "Louis", "Manon", "Gabriel", "Inès", "Théo", "Camille",
            "Étienne", "Zoé", "Jérôme", "Anaïs", "François", "Hélène", "Noël"],
           ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand",
            "Leroy", "Moreau", "Lefèvre", "Girard", "Rousseau", "Fontaine", "Chevalier"]),
    "es": (["Lucía", "Hugo", "Martina", "Mateo", "Sofía", "Álvaro", "María", "Pablo", "Paula",
            "Sergio", "Irene", "Javier", "Núria", "Iñigo", "Begoña"],
           ["García", "Fernández", "González", "Rodríguez", "López", "Martínez", "Sánchez",
            "Pérez", "Gómez", "Martín", "Jiménez", "Ruiz", "Hernández", "Díaz", "Muñoz"]),
}
# (display name, romanised first, romanised last)
SCRIPT_NAMES = {
    "zh": [("王伟", "wei", "wang"), ("李娜", "na", "li"), ("张敏", "min", "zhang"),
           ("刘洋", "yang", "liu"), ("陈静", "jing", "chen"), ("杨帆", "fan", "yang"),
           ("赵磊", "lei", "zhao"), ("黄丽", "li", "huang"), ("周杰", "jie", "zhou")],
    "ja": [("佐藤 健", "ken", "sato"), ("鈴木 美咲", "misaki", "suzuki"),
           ("高橋 翔", "sho", "takahashi"), ("田中 陽菜", "hina", "tanaka"),
           ("伊藤 蓮", "ren", "ito"), ("渡辺 結衣", "yui", "watanabe"),
           ("山本 大翔", "hiroto", "yamamoto"), ("中村 葵", "aoi", "nakamura")],
    "ar": [("محمد العتيبي", "mohammed", "alotaibi"), ("فاطمة الزهراني", "fatima", "alzahrani"),
           ("أحمد الحربي", "ahmed", "alharbi"), ("نورة القحطاني", "noura", "alqahtani"),
           ("خالد الشمري", "khalid", "alshammari"), ("سارة الدوسري", "sara", "aldosari")],
    "ru": [("Дмитрий Иванов", "dmitry", "ivanov"), ("Анна Смирнова", "anna", "smirnova"),
           ("Сергей Кузнецов", "sergey", "kuznetsov"), ("Ольга Попова", "olga", "popova"),
           ("Алексей Соколов", "alexey", "sokolov"), ("Мария Лебедева", "maria", "lebedeva"),
           ("Иван Морозов", "ivan", "morozov"), ("Екатерина Волкова", "ekaterina", "volkova")],
}
EMAIL_DOMAINS = {
    "GB": ["example.co.uk", "northwind.co.uk", "btinternet.com", "gmail.com", "outlook.com"],
    "US": ["example.com", "acme-corp.com", "gmail.com", "yahoo.com", "fastmail.com"],
    "DE": ["example.de", "beispiel.de", "web.de", "gmx.de", "firma-mueller.de", "t-online.de"],
    "AT": ["example.at", "gmx.at"],
    "CH": ["example.ch", "bluewin.ch"],
    "FR": ["example.fr", "orange.fr", "free.fr", "societe-exemple.fr", "laposte.net"],
    "ES": ["example.es", "correo.es", "empresa-ejemplo.es", "telefonica.net"],
    "CN": ["example.cn", "163.com", "qq.com"],
    "JP": ["example.jp", "docomo.ne.jp", "example.co.jp"],
    "AE": ["example.ae", "emirates-mail.ae"],
    "SA": ["example.sa"],
    "RU": ["example.ru", "yandex.ru", "mail.ru"],
}
COUNTRY_OF = {"en": ["GB", "US"], "de": ["DE", "DE", "DE", "AT", "CH"], "fr": ["FR", "FR", "FR"],
              "es": ["ES"], "zh": ["CN"], "ja": ["JP"], "ar": ["AE", "SA"], "ru": ["RU"]}


class Person:
    def __init__(self, rng, lang, country=None):
        self.lang = lang
        self.country = country or rng.choice(COUNTRY_OF[lang])
        if lang in NAMES:
            first = rng.choice(NAMES[lang][0])
            last = rng.choice(NAMES[lang][1])
            self.name = first + " " + last
            self.first_ascii = ascii_fold(first).lower()
            self.last_ascii = ascii_fold(last).lower().replace("'", "")
        else:
            self.name, self.first_ascii, self.last_ascii = rng.choice(SCRIPT_NAMES[lang])
        self.female = rng.random() < 0.5
        self.dob = date_between(rng, 1938, 2004)
        self._rng = rng

    def email(self, domain=None):
        rng = self._rng
        f, l = self.first_ascii, self.last_ascii
        local = rng.choice([
            f + "." + l, f + l, f[0] + "." + l, f + "_" + l, l + "." + f,
            f + "." + l + str(rng.randint(1, 99)), f + str(rng.randint(1960, 2004)),
            f + "." + l + "+" + rng.choice(["invoices", "shop", "news", "work"]), f[0] + l,
        ])
        return local + "@" + (domain or rng.choice(EMAIL_DOMAINS[self.country]))


def company_email(rng, domain):
    return rng.choice(["support", "billing", "info", "kontakt", "contact", "facturation",
                       "noreply", "hr", "payroll", "legal", "accounts", "ventas"]) + "@" + domain


# --------------------------------------------------------------------------------------------
# Entity values

CARD_BRANDS = [  # (name, prefixes, length, grouping)
    ("Visa", ["4"], 16, (4, 4, 4, 4)),
    ("Mastercard", ["51", "52", "53", "54", "55", "2221", "2300", "2475", "2720"], 16,
     (4, 4, 4, 4)),
    ("American Express", ["34", "37"], 15, (4, 6, 5)),
    ("Discover", ["6011", "644", "649", "65"], 16, (4, 4, 4, 4)),
    ("JCB", ["3528", "3530", "3566", "3589"], 16, (4, 4, 4, 4)),
    ("Diners Club", ["36", "300", "305"], 14, (4, 6, 4)),
    ("UnionPay", ["62"], 16, (4, 4, 4, 4)),
    ("Maestro", ["6759", "5018"], 16, (4, 4, 4, 4)),
]


def card_number(rng, brand=None, style=None):
    name, prefixes, length, grouping = brand or rng.choice(CARD_BRANDS)
    prefix = rng.choice(prefixes)
    payload = prefix + rdigits(rng, length - len(prefix) - 1)
    digits = payload + luhn_digit(payload)
    style = style or rng.choice(["space", "space", "space", "compact", "dash"])
    if style == "compact":
        return name, digits
    return name, group(digits, grouping, " " if style == "space" else "-")


def expiry(rng):
    return "%02d/%02d" % (rng.randint(1, 12), rng.randint(25, 31))


IBAN_FORMATS = {  # country: (length, BBAN pattern: n digit, a upper letter, c alphanumeric)
    "DE": (22, "n" * 18), "AT": (20, "n" * 16), "CH": (21, "n" * 5 + "c" * 12),
    "FR": (27, "n" * 10 + "c" * 11 + "nn"), "BE": (16, "n" * 12), "ES": (24, "n" * 20),
    "GB": (22, "aaaa" + "n" * 14), "NL": (18, "aaaa" + "n" * 10), "IT": (27, "a" + "n" * 10 +
                                                                         "c" * 12),
    "PL": (28, "n" * 24), "PT": (25, "n" * 21), "IE": (22, "aaaa" + "n" * 14),
    "SE": (24, "n" * 20), "SA": (24, "nn" + "c" * 18), "AE": (23, "n" * 19),
}
BANK_CODES = {"GB": ["NWBK", "BARC", "LOYD", "HBUK", "MIDL"], "NL": ["ABNA", "INGB", "RABO"],
              "IE": ["AIBK", "BOFI"]}


def iban_compact(rng, country):
    length, pattern = IBAN_FORMATS[country]
    bban = ""
    for i, kind in enumerate(pattern):
        if kind == "n":
            bban += rng.choice(DIGITS)
        elif kind == "a":
            bban += rng.choice(UPPER)
        else:
            bban += rng.choice(DIGITS) if rng.random() < 0.8 else rng.choice(UPPER)
    if country in BANK_CODES:
        bban = rng.choice(BANK_CODES[country]) + bban[4:]
    check = 98 - iban_mod97(country + "00" + bban)
    iban = "%s%02d%s" % (country, check, bban)
    assert len(iban) == length and iban_mod97(iban) == 1
    return iban


def iban(rng, country, style=None):
    compact = iban_compact(rng, country)
    style = style or rng.choice(["group", "group", "compact"])
    return group4(compact) if style == "group" else compact


def rf_reference(rng):
    """ISO 11649 creditor reference: passes mod-97 like an IBAN, but RF is no country."""
    while True:  # the grouped digits must not read as a card number either
        body = rdigits(rng, rng.randint(8, 16))
        if fails_digit_checks(body):
            break
    check = 98 - iban_mod97("RF00" + body)
    return group4("RF%02d%s" % (check, body))


ABA_PREFIXES = ["01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12", "21",
                "22", "26", "31", "32", "061", "071", "081"]


def aba(rng):
    while True:
        prefix = rng.choice(ABA_PREFIXES)
        payload = prefix + rdigits(rng, 8 - len(prefix))
        for d in DIGITS:
            if aba_ok(payload + d):
                return payload + d


def nhs(rng, style=None):
    while True:
        first9 = rdigits(rng, 9, first_nonzero=True)
        check = nhs_check(first9)
        if check is not None:
            digits = first9 + check
            break
    style = style or rng.choice(["space", "space", "compact", "dash"])
    if style == "compact":
        return digits
    return group(digits, (3, 3, 4), " " if style == "space" else "-")


def ssn(rng, style="dash"):
    while True:
        area = rng.randint(1, 899)
        if area != 666:
            break
    digits = "%03d%02d%04d" % (area, rng.randint(1, 99), rng.randint(1, 9999))
    if style == "dash":
        return group(digits, (3, 2, 4), "-")
    if style == "space":
        return group(digits, (3, 2, 4), " ")
    return digits


def invalid_ssn(rng):
    area, grp, serial = rng.randint(1, 899), rng.randint(1, 99), rng.randint(1, 9999)
    which = rng.choice(["area0", "area666", "group", "serial"])
    if which == "area0":
        area = 0
    elif which == "area666":
        area = 666
    elif which == "group":
        grp = 0
    else:
        serial = 0
    return "%03d-%02d-%04d" % (area, grp, serial)


US_AREA_CODES = ["201", "202", "206", "212", "213", "214", "303", "305", "312", "313", "404",
                 "415", "503", "512", "602", "612", "617", "646", "702", "713", "718", "801",
                 "808", "857", "917", "929", "971"]


def phone(rng, country, style=None):
    """A phone number; style "intl" (E.164 with spaces or compact) or "national"."""
    style = style or rng.choice(["intl", "national"])
    if country == "US":
        area = rng.choice(US_AREA_CODES)
        while True:  # NXX, not N11, 555 only for its fictional 01xx lines
            exch = str(rng.randint(2, 9)) + rdigits(rng, 2)
            line = rdigits(rng, 4)
            if exch[1:] != "11" and (exch != "555" or line.startswith("01")):
                break
        if style == "intl":
            return rng.choice(["+1 %s %s %s", "+1 (%s) %s-%s", "+1-%s-%s-%s", "+1%s%s%s"]) % (
                area, exch, line)
        return rng.choice(["(%s) %s-%s", "%s-%s-%s", "%s.%s.%s", "(%s) %s %s"]) % (area, exch,
                                                                                  line)
    if country == "GB":
        number = rng.choice(["20" + rng.choice("378") + rdigits(rng, 7),
                             "161 496 0" + rdigits(rng, 3),
                             "7700 900" + rdigits(rng, 3), "7" + rdigits(rng, 3) + " " +
                             rdigits(rng, 6), "113 496 0" + rdigits(rng, 3)])
        if number.startswith("20"):
            number = "20 " + number[2:6] + " " + number[6:]
        if style == "intl":
            return rng.choice(["+44 ", "+44 ", "+44 (0)"]) + number
        return "0" + number
    if country in ("DE", "AT", "CH"):
        code = {"DE": "49", "AT": "43", "CH": "41"}[country]
        area = rng.choice({"DE": ["30", "40", "89", "69", "221", "711", "151", "160", "176"],
                           "AT": ["1", "316", "664"], "CH": ["44", "31", "79"]}[country])
        sub = rdigits(rng, rng.randint(6, 8), first_nonzero=True)
        if country == "CH":
            sub = group(rdigits(rng, 7, first_nonzero=True), (3, 2, 2))
        if style == "intl":
            return rng.choice(["+%s %s %s", "+%s (0)%s %s", "+%s %s-%s"]) % (code, area, sub)
        return rng.choice(["0%s %s", "0%s/%s", "0%s-%s"]) % (area, sub)
    if country == "FR":
        digits = rng.choice("1234567") + rdigits(rng, 8)
        if style == "intl":
            return "+33 " + digits[0] + " " + " ".join(digits[i:i + 2] for i in range(1, 9, 2))
        national = "0" + digits
        sep = rng.choice([" ", " ", "."])
        return sep.join(national[i:i + 2] for i in range(0, 10, 2))
    if country == "ES":
        digits = rng.choice("6796") + rdigits(rng, 8)
        spaced = rng.choice([group(digits, (3, 3, 3)), group(digits, (3, 2, 2, 2))])
        return ("+34 " + spaced) if style == "intl" else spaced
    if country == "NL":
        return "+31 20 %s %s" % (rdigits(rng, 3, True), rdigits(rng, 4))
    if country == "CN":
        if rng.random() < 0.7:
            mobile = "1" + rng.choice("3456789") + rdigits(rng, 9)
            return "+86 " + group(mobile, (3, 4, 4))
        return "+86 10 %s %s" % (rdigits(rng, 4, True), rdigits(rng, 4))
    if country == "JP":
        if style == "intl":
            return rng.choice(["+81 3-%s-%s", "+81 90-%s-%s", "+81 6-%s-%s"]) % (
                rdigits(rng, 4, True), rdigits(rng, 4))
        return rng.choice(["03-%s-%s", "090-%s-%s", "080-%s-%s"]) % (rdigits(rng, 4, True),
                                                                     rdigits(rng, 4))
    if country == "RU":
        return rng.choice(["+7 495 %s-%s-%s", "+7 (916) %s-%s-%s", "+7 812 %s-%s-%s"]) % (
            rdigits(rng, 3, True), rdigits(rng, 2), rdigits(rng, 2))
    if country == "AE":
        return rng.choice(["+971 4 %s %s", "+971 50 %s %s"]) % (rdigits(rng, 3, True),
                                                                 rdigits(rng, 4))
    if country == "SA":
        return rng.choice(["+966 11 %s %s", "+966 50 %s %s"]) % (rdigits(rng, 3, True),
                                                                  rdigits(rng, 4))
    raise ValueError(country)


GB_OUTWARD = ["SW1A", "EC1A", "W1A", "M1", "B33", "CR2", "LS1", "G2", "EH1", "CF10", "BS1",
              "NW1", "SE1", "N1", "E14", "OX1", "CB2", "L1", "NE1", "BT1", "SW19", "WC2N"]


def postcode(rng, country):
    if country == "GB":
        return rng.choice(GB_OUTWARD) + " " + str(rng.randint(0, 9)) + rs(
            rng, "ABDEFGHJLNPQRSTUWXYZ", 2)
    if country == "US":
        zip5 = "%05d" % rng.randint(1001, 99950)
        return zip5 + ("-" + rdigits(rng, 4) if rng.random() < 0.3 else "")
    if country == "DE":
        return "%05d" % rng.randint(1067, 99998)
    if country == "FR":
        return "%02d%03d" % (rng.randint(1, 95), rng.randint(0, 999))
    if country == "ES":
        return "%02d%03d" % (rng.randint(1, 52), rng.randint(0, 999))
    if country in ("AT", "CH"):
        return str(rng.randint(1010, 9999))
    if country == "NL":
        return "%d %s" % (rng.randint(1000, 9999), rs(rng, "ABCEGHJKLMNPRTVWXZ", 2))
    if country == "CN":
        return "%d%05d" % (rng.randint(1, 8), rng.randint(0, 99999))
    if country == "JP":
        return "%03d-%04d" % (rng.randint(100, 999), rng.randint(0, 9999))
    if country == "RU":
        return "%d%05d" % (rng.randint(1, 6), rng.randint(0, 99999))
    if country in ("SA", "AE"):
        return "%05d" % rng.randint(11000, 99999)
    raise ValueError(country)


def passport_number(rng, country):
    if country == "US":
        return rng.choice([rdigits(rng, 9, True), rng.choice(UPPER) + rdigits(rng, 8)])
    if country == "GB":
        return rdigits(rng, 9, True)
    if country in ("DE", "AT", "CH"):
        return rng.choice("CFGHJK") + rs(rng, "CFGHJKLMNPRTVWXYZ0123456789", 8)
    if country == "FR":
        return rdigits(rng, 2) + rs(rng, UPPER, 2) + rdigits(rng, 5)
    if country == "ES":
        return rs(rng, UPPER, 3) + rdigits(rng, 6)
    if country == "CN":
        return "E" + rdigits(rng, 8)
    if country == "JP":
        return rs(rng, "TMR", 1) + rs(rng, UPPER, 1) + rdigits(rng, 7)
    if country == "RU":
        return rdigits(rng, 2, True) + " " + rdigits(rng, 7)
    if country in ("AE", "SA"):
        return rs(rng, UPPER, 1) + rdigits(rng, 8)
    raise ValueError(country)


DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def dni(rng):
    number = rng.randint(1000000, 99999999)
    return "%08d%s" % (number, DNI_LETTERS[number % 23])


def nie(rng):
    prefix = rng.choice("XYZ")
    number = rng.randint(0, 9999999)
    return "%s%07d%s" % (prefix, number, DNI_LETTERS[int("XYZ".index(prefix) * 10**7 + number)
                                                     % 23])


def chinese_id(rng, dob):
    region = rng.choice(["110105", "310104", "440305", "330106", "510107", "420102"])
    body = region + dob.strftime("%Y%m%d") + rdigits(rng, 3)
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, weights)) % 11]


def nino(rng):
    first = rs(rng, "ABCEGHJKLMNOPRSTWXYZ", 1)
    while True:
        prefix = first + rs(rng, "ABCEGHJKLMNPRSTWXYZ", 1)
        if prefix not in ("BG", "GB", "NK", "KN", "TN", "NT", "ZZ"):
            break
    return "%s %s %s %s %s" % (prefix, rdigits(rng, 2), rdigits(rng, 2), rdigits(rng, 2),
                               rng.choice("ABCD"))


def nir(rng, female, dob):
    body = "%d%02d%02d%02d%03d%03d" % (2 if female else 1, dob.year % 100, dob.month,
                                      rng.randint(1, 95), rng.randint(1, 999),
                                      rng.randint(1, 999))
    key = 97 - int(body) % 97
    return "%s %s %s %s %s %s %02d" % (body[0], body[1:3], body[3:5], body[5:7], body[7:10],
                                       body[10:13], key)


def german_id_card(rng):
    return rng.choice("LMNPRTVWXY") + rs(rng, "CFGHJKLMNPRTVWXYZ0123456789", 8)


def id_number(rng, country, person=None):
    """(context words, value) for a national identity number of `country`."""
    if country == "ES":
        if rng.random() < 0.75:
            return rng.choice(["DNI", "DNI:", "con DNI", "DNI n.º"]), dni(rng)
        return rng.choice(["NIE", "NIE:", "con NIE"]), nie(rng)
    if country == "GB":
        return rng.choice(["National Insurance number", "NI number:", "NINO:"]), nino(rng)
    if country == "US":
        return rng.choice(["Driver's license no.", "State ID number:"]), (
            rng.choice(UPPER) + rdigits(rng, 7))
    if country in ("DE", "AT", "CH"):
        return rng.choice(["Personalausweisnummer", "Ausweis-Nr.", "Personalausweis Nr.",
                           "Ausweisnummer:"]), german_id_card(rng)
    if country == "FR":
        if person is not None and rng.random() < 0.5:
            return rng.choice(["N° de sécurité sociale :", "numéro de sécurité sociale"]), nir(
                rng, person.female, person.dob)
        return rng.choice(["carte d'identité n°", "CNI n°", "numéro de carte d'identité"]), (
            rdigits(rng, 2) + rs(rng, UPPER, 2) + rdigits(rng, 5))
    if country == "CN":
        return "身份证号 (ID card No.)：", chinese_id(rng, person.dob if person else date_between(
            rng, 1950, 2000))
    raise ValueError(country)


def dob_text(rng, dob, lang):
    months = {
        "en": ["January", "February", "March", "April", "May", "June", "July", "August",
               "September", "October", "November", "December"],
        "de": ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August",
               "September", "Oktober", "November", "Dezember"],
        "fr": ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
               "septembre", "octobre", "novembre", "décembre"],
        "es": ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
               "septiembre", "octubre", "noviembre", "diciembre"],
    }
    d, m, y = dob.day, dob.month, dob.year
    iso = dob.isoformat()
    if lang == "en":
        return rng.choice(["%02d/%02d/%d" % (d, m, y), "%02d/%02d/%d" % (m, d, y), iso,
                           "%d %s %d" % (d, months["en"][m - 1], y),
                           "%s %d, %d" % (months["en"][m - 1], d, y)])
    if lang == "de":
        return rng.choice(["%02d.%02d.%d" % (d, m, y), "%d. %s %d" % (d, months["de"][m - 1], y),
                           iso])
    if lang == "fr":
        return rng.choice(["%02d/%02d/%d" % (d, m, y), "%d %s %d" % (d, months["fr"][m - 1], y)])
    if lang == "es":
        return rng.choice(["%02d/%02d/%d" % (d, m, y),
                           "%d de %s de %d" % (d, months["es"][m - 1], y)])
    if lang in ("zh", "ja"):
        return rng.choice([iso, iso, "%d年%d月%d日" % (y, m, d)])
    if lang == "ru":
        return rng.choice(["%02d.%02d.%d" % (d, m, y), iso])
    return rng.choice([iso, "%02d/%02d/%d" % (d, m, y)])


DOB_LABELS = {
    "en": ["DOB:", "Date of birth:", "D.O.B.", "Born:", "Birth date:", "date of birth"],
    "de": ["Geburtsdatum:", "geb.", "Geb.-Datum:", "geboren am"],
    "fr": ["Date de naissance :", "né(e) le", "Date de naissance:"],
    "es": ["Fecha de nacimiento:", "F. nacimiento:", "fecha de nacimiento"],
    "zh": ["出生日期 (DOB)：", "出生日期 / Date of birth："],
    "ja": ["生年月日 (DOB)：", "生年月日 / Date of birth："],
    "ar": ["تاريخ الميلاد (DOB):", "تاريخ الميلاد / Date of birth:"],
    "ru": ["Дата рождения (DOB):", "Дата рождения / Date of birth:"],
}
POSTCODE_LABELS = {
    "GB": ["Postcode:", "postcode", "Post code:"], "US": ["ZIP:", "ZIP code", "Zip Code:"],
    "DE": ["PLZ", "PLZ:", "Postleitzahl:"], "AT": ["PLZ", "Postleitzahl:"], "CH": ["PLZ"],
    "FR": ["Code postal :", "CP", "code postal"], "ES": ["C.P.", "Código postal:", "CP"],
    "NL": ["Postcode:"], "CN": ["邮编 (Postcode)："], "JP": ["郵便番号 (Postal code)："],
    "RU": ["Индекс (Postcode):"], "SA": ["الرمز البريدي (Postal code):"],
    "AE": ["الرمز البريدي (Postal code):"],
}
PASSPORT_LABELS = {
    "en": ["Passport No.", "passport number", "Passport number:", "Passport #"],
    "de": ["Reisepass-Nr.", "Reisepassnummer", "Pass-Nr.", "Reisepass Nr."],
    "fr": ["numéro de passeport", "passeport n°", "N° de passeport :"],
    "es": ["pasaporte n.º", "número de pasaporte", "Pasaporte:"],
    "zh": ["护照号码 (Passport No.)："], "ja": ["旅券番号 (Passport No.)："],
    "ar": ["رقم جواز السفر (Passport No.):"], "ru": ["Загранпаспорт (Passport No.):"],
}
PHONE_LABELS = {
    "en": ["Tel:", "Phone:", "Mobile:", "call me on", "phone", "Tel."],
    "de": ["Tel.:", "Telefon:", "Mobil:", "Handy:", "Tel."],
    "fr": ["Tél. :", "Téléphone :", "Portable :", "tél."],
    "es": ["Tel.:", "Teléfono:", "Móvil:", "tel."],
    "zh": ["电话：", "手机："], "ja": ["電話：", "携帯："], "ar": ["الهاتف:", "جوال:"],
    "ru": ["Тел.:", "Телефон:"],
}


def aws_key(rng):
    return rng.choice(["AKIA", "AKIA", "AKIA", "ASIA"]) + rs(rng, BASE32, 16)


def aws_secret(rng):
    return rs(rng, BASE64, 40)


def github_token(rng):
    if rng.random() < 0.2:
        return "github_pat_" + rs(rng, ALNUM, 22) + "_" + rs(rng, ALNUM, 59)
    return rng.choice(["ghp_", "ghp_", "gho_", "ghs_", "ghu_"]) + rs(rng, ALNUM, 36)


def gitlab_token(rng):
    return "glpat-" + rs(rng, ALNUM, 1) + rs(rng, ALNUM + "-_", 18) + rs(rng, ALNUM, 1)


def slack_token(rng):
    if rng.random() < 0.6:
        return "xoxb-%s-%s-%s" % (rdigits(rng, 12, True), rdigits(rng, 13, True),
                                  rs(rng, ALNUM, 24))
    return "xoxp-%s-%s-%s-%s" % (rdigits(rng, 12, True), rdigits(rng, 12, True),
                                 rdigits(rng, 13, True), rs(rng, HEX, 32))


def stripe_key(rng):
    prefix = rng.choice(["sk_live_", "sk_live_", "rk_live_", "sk_test_"])
    return prefix + rng.choice(["51", "4e"]) + rs(rng, ALNUM, rng.choice([22, 97]))


def openai_key(rng):
    if rng.random() < 0.5:
        return "sk-" + rs(rng, ALNUM, 20) + "T3BlbkFJ" + rs(rng, ALNUM, 20)
    body = rs(rng, ALNUM + "-_", 74) + "T3BlbkFJ" + rs(rng, ALNUM + "-_", 73) + rs(rng, ALNUM,
                                                                                    1)
    return rng.choice(["sk-proj-", "sk-svcacct-"]) + body


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(rng):
    alg = rng.choice(["HS256", "RS256", "ES256"])
    header = {"alg": alg, "typ": "JWT"}
    if alg != "HS256" and rng.random() < 0.6:
        header = {"alg": alg, "kid": rs(rng, HEX, 16), "typ": "JWT"}
    issued = rng.randint(1700000000, 1720000000)
    payload = {"sub": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
               "iss": rng.choice(["https://auth.example.com", "https://login.acme-corp.com/",
                                  "hearth-gateway"]),
               "iat": issued, "exp": issued + rng.choice([900, 3600, 86400])}
    if rng.random() < 0.5:
        payload["scope"] = rng.choice(["read write", "openid profile", "admin"])
    signature_bytes = {"HS256": 32, "RS256": 256, "ES256": 64}[alg]
    return ".".join([
        b64url(json.dumps(header, separators=(",", ":")).encode()),
        b64url(json.dumps(payload, separators=(",", ":")).encode()),
        b64url(rng.randbytes(signature_bytes)),
    ])


def pem_body(rng, der_prefix, size, width=64):
    body = base64.b64encode(der_prefix + rng.randbytes(size)).decode()
    return [body[i:i + width] for i in range(0, len(body), width)]


def private_key(rng, newline="\n"):
    kind = rng.choice(["RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY",
                       "RSA PRIVATE KEY", "PRIVATE KEY"])
    if kind == "RSA PRIVATE KEY":
        lines = pem_body(rng, bytes.fromhex("308204a40201000282010100"), 1180)
    elif kind == "PRIVATE KEY":
        lines = pem_body(rng, base64.b64decode("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"), 1196)
    elif kind == "EC PRIVATE KEY":
        lines = pem_body(rng, bytes.fromhex("30770201010420"), 112)
    else:
        lines = pem_body(rng, b"openssh-key-v1\x00", 1800, width=70)
    return newline.join(["-----BEGIN %s-----" % kind] + lines + ["-----END %s-----" % kind])


def certificate(rng, newline="\n"):
    kind = rng.choice(["CERTIFICATE", "PUBLIC KEY"])
    if kind == "CERTIFICATE":
        lines = pem_body(rng, base64.b64decode("MIIDdzCCAl+gAwIBAgIE"), 880)
    else:
        lines = pem_body(rng, base64.b64decode("MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"),
                         262)
    return newline.join(["-----BEGIN %s-----" % kind] + lines + ["-----END %s-----" % kind])


PASSWORD_WORDS = ["Summer", "Winter", "Dragon", "Sunshine", "Monkey", "Hamburg", "Bonjour",
                  "Madrid", "Football", "Welcome", "Passw0rd", "Letmein", "Sommer", "Soleil"]


def password_value(rng):
    style = rng.random()
    if style < 0.35:
        return rng.choice(PASSWORD_WORDS) + str(rng.randint(1, 2024)) + rng.choice("!#?*%")
    if style < 0.5:
        return "-".join(rng.choice(["correct", "horse", "battery", "staple", "purple",
                                    "tiger", "river", "stone", "mango", "cloud"])
                        for _ in range(4))
    return rs(rng, ALNUM, 1) + rs(rng, ALNUM + "!#%*-_+?~^", rng.randint(10, 22)) + rs(
        rng, ALNUM, 1)


def secret_value(rng):
    style = rng.random()
    if style < 0.3:
        return rs(rng, HEX, rng.choice([32, 40, 64]))
    if style < 0.7:
        return rs(rng, ALNUM, rng.choice([32, 40, 48]))
    return rs(rng, ALNUM, 1) + rs(rng, BASE64, 38) + rs(rng, ALNUM, 1)


# --------------------------------------------------------------------------------------------
# Hard negatives


def digit_run(rng, n, first_nonzero=True):
    """Digits of length n that fail every checksum of that length."""
    while True:
        s = rdigits(rng, n, first_nonzero)
        if fails_digit_checks(s):
            return s


def ean13(rng):
    while True:
        body = rng.choice(["400", "401", "590", "301", "841", "978"]) + rdigits(rng, 9)
        total = sum(int(c) * (1 if i % 2 == 0 else 3) for i, c in enumerate(body))
        code = body + str((10 - total % 10) % 10)
        if not luhn_ok(code):
            return code


def uuid4(rng):
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def git_sha(rng, n=40):
    return rs(rng, HEX, n)


def version(rng):
    return rng.choice([
        "%d.%d.%d" % (rng.randint(0, 12), rng.randint(0, 40), rng.randint(0, 30)),
        "v%d.%d.%d" % (rng.randint(0, 5), rng.randint(0, 20), rng.randint(0, 20)),
        "v%d.%d.%d.%d" % (rng.randint(1, 9), rng.randint(10, 30), rng.randint(1, 9),
                          rng.randint(1, 9)),
        "%d.%d.%d-rc.%d" % (rng.randint(0, 5), rng.randint(0, 20), rng.randint(0, 9),
                            rng.randint(1, 4)),
    ])


def price(rng, lang):
    amount = rng.randint(100, 999999) / 100
    if lang == "en":
        return rng.choice(["$%s" % format(amount, ",.2f"), "£%s" % format(amount, ",.2f"),
                           "USD %s" % format(amount, ",.2f")])
    if lang == "de":
        return format(amount, ",.2f").replace(",", "X").replace(".", ",").replace("X",
                                                                                  ".") + " €"
    if lang in ("fr", "es"):
        return format(amount, ",.2f").replace(",", " ").replace(".", ",") + " €"
    if lang in ("zh", "ja"):
        return "¥%s" % format(int(amount * 10), ",")
    if lang == "ru":
        return "%s ₽" % format(amount, ",.2f").replace(",", " ")
    return "%s AED" % format(amount, ",.2f")


def order_number(rng):
    return rng.choice([
        "A-%d-%06d" % (rng.randint(2022, 2024), rng.randint(0, 999999)),
        "ORD-%s" % digit_run(rng, 8),
        "#%s" % digit_run(rng, rng.choice([6, 7, 9, 10])),
        "%s" % digit_run(rng, 10),
        "SO%s" % rdigits(rng, 7),
    ])


def invoice_number(rng):
    return rng.choice(["INV-%d-%05d" % (rng.randint(2022, 2024), rng.randint(0, 99999)),
                       "RE-%02d-%04d" % (rng.randint(22, 24), rng.randint(0, 9999)),
                       "F" + digit_run(rng, 9),
                       digit_run(rng, 9)])


def sku(rng):
    return rng.choice(["SKU %s-%s" % (rdigits(rng, 4, True), rdigits(rng, 4)),
                       "SKU-%s-%s" % (rs(rng, UPPER, 3), rdigits(rng, 4)),
                       "Art.-Nr. %s-%s" % (rdigits(rng, 4, True), rdigits(rng, 3)),
                       "Réf. %s-%s-%s" % (rdigits(rng, 2, True), rdigits(rng, 4),
                                          rdigits(rng, 2)),
                       "Part No. %s-%s-%s" % (rdigits(rng, 4, True), rdigits(rng, 3),
                                              rdigits(rng, 2))])


def tracking_number(rng):
    return rng.choice([
        "1Z" + rs(rng, UPPER + DIGITS, 5) + rs(rng, UPPER, 1) + digit_run(rng, 10, False),
        "JJD" + digit_run(rng, 18),
        digit_run(rng, 12),
        digit_run(rng, 10),
        "9400" + digit_run(rng, 18),
    ])


def base64_image(rng):
    header = rng.choice([("png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"),
                         ("jpeg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"),
                         ("gif", b"GIF89a")])
    return "data:image/%s;base64,%s" % (header[0], base64.b64encode(
        header[1] + rng.randbytes(rng.randint(90, 420))).decode())


def mac_address(rng):
    return ":".join(rs(rng, "0123456789ABCDEF", 2) for _ in range(6))


# --------------------------------------------------------------------------------------------
# IP addresses


def ipv4(rng):
    kind = rng.random()
    if kind < 0.3:
        return rng.choice(["192.0.2.", "198.51.100.", "203.0.113."]) + str(rng.randint(1, 254))
    if kind < 0.55:
        return rng.choice(["10.%d.%d.%d" % (rng.randint(0, 255), rng.randint(0, 255),
                                            rng.randint(1, 254)),
                           "192.168.%d.%d" % (rng.randint(0, 255), rng.randint(1, 254)),
                           "172.%d.%d.%d" % (rng.randint(16, 31), rng.randint(0, 255),
                                             rng.randint(1, 254))])
    return "%d.%d.%d.%d" % (rng.choice([31, 46, 62, 78, 81, 84, 91, 95, 109, 141, 151, 185,
                                        188, 212, 213, 217]), rng.randint(0, 255),
                            rng.randint(0, 255), rng.randint(1, 254))


def ipv6(rng):
    groups = [rng.choice(["2001:db8", "2a02:8108", "2a01:4f8", "2600:1f18", "fe80:0",
                          "2001:0db8"])]
    rest = [format(rng.randint(0, 0xFFFF), "x") for _ in range(6)]
    style = rng.random()
    if style < 0.4:
        tail = rest[-rng.randint(1, 3):]
        return groups[0] + "::" + ":".join(tail)
    if style < 0.6 and not groups[0].startswith("fe80"):
        return groups[0] + ":" + ":".join(rest[:2]) + "::" + rest[-1]
    if groups[0].startswith("fe80"):
        return "fe80::" + ":".join(rest[-4:])
    return groups[0] + ":" + ":".join(rest)


# --------------------------------------------------------------------------------------------
# Addresses

STREETS = {
    "GB": ["14 Baker Street", "7 Elm Grove", "221 High Street", "3 Church Lane", "58 Victoria Road",
           "Flat 2, 19 Queen's Road"],
    "US": ["1458 Oak Avenue", "22 Maple Street", "901 Market St, Apt 4B", "310 Pine Road",
           "77 Lakeview Drive"],
    "DE": ["Musterstraße 5", "Hauptstraße 12a", "Bahnhofstr. 3", "Lindenallee 27",
           "Schillerplatz 8"],
    "AT": ["Mariahilfer Straße 45", "Herrengasse 6"], "CH": ["Bahnhofstrasse 10", "Seeweg 4"],
    "FR": ["12 rue de la Paix", "5 avenue Victor Hugo", "27 boulevard Voltaire",
           "3 place de l'Église"],
    "ES": ["Calle Mayor 12, 3º B", "Avenida de la Constitución 45", "Carrer de Balmes 118",
           "Plaza de España 4"],
    "NL": ["Keizersgracht 123"],
    "CN": ["北京市朝阳区建国路88号", "上海市徐汇区漕溪北路201号", "深圳市南山区科技园路1号"],
    "JP": ["東京都千代田区丸の内1-1-1", "大阪府大阪市北区梅田3-1-3"],
    "RU": ["ул. Тверская, д. 7, кв. 12", "Невский пр., д. 28"],
    "SA": ["طريق الملك فهد، حي العليا"], "AE": ["شارع الشيخ زايد، برج 3"],
}
CITIES = {
    "GB": ["London", "Manchester", "Leeds", "Bristol", "Edinburgh", "Cardiff"],
    "US": ["Austin, TX", "Boston, MA", "Chicago, IL", "Seattle, WA", "San Francisco, CA"],
    "DE": ["Berlin", "Hamburg", "München", "Köln", "Frankfurt am Main", "Leipzig"],
    "AT": ["Wien", "Graz"], "CH": ["Zürich", "Bern"],
    "FR": ["Paris", "Lyon", "Marseille", "Toulouse", "Nantes"],
    "ES": ["Madrid", "Barcelona", "Sevilla", "Valencia", "Bilbao"], "NL": ["Amsterdam"],
    "CN": [""], "JP": [""], "RU": ["Москва", "Санкт-Петербург"], "SA": ["الرياض"],
    "AE": ["دبي"],
}


def address(rng, country):
    """Pieces of a postal address whose postal code carries a context word."""
    street = rng.choice(STREETS[country])
    city = rng.choice(CITIES[country])
    label = rng.choice(POSTCODE_LABELS[country])
    code = E("postal_code", postcode(rng, country))
    if country in ("DE", "AT", "CH", "FR", "ES", "NL"):
        return [street, ", ", label, " ", code, " ", city]
    if country in ("GB", "US"):
        return [street, ", ", city, ", ", label, " ", code]
    if country in ("CN", "JP"):
        return [street, "，", label, code]
    return [street, "، ", city, "، ", label, " ", code]


def labelled_phone(rng, lang, country, style=None):
    return [rng.choice(PHONE_LABELS[lang]), " ", E("phone", phone(rng, country, style))]


def labelled_dob(rng, lang, person):
    return [rng.choice(DOB_LABELS[lang]), " ", E("date_of_birth", dob_text(rng, person.dob,
                                                                              lang))]


def labelled_passport(rng, lang, country):
    return [rng.choice(PASSPORT_LABELS[lang]), " ", E("passport", passport_number(rng, country))]


def other_date(rng, lang, year=2024):
    day = date_between(rng, year - 1, year)
    if lang == "de":
        return day.strftime("%d.%m.%Y")
    if lang in ("fr", "es"):
        return day.strftime("%d/%m/%Y")
    return day.isoformat()


def clock(rng):
    return "%02d:%02d" % (rng.randint(7, 19), rng.randint(0, 59))


# --------------------------------------------------------------------------------------------
# Kinds of document. Each returns a Document; `lang` is one of the kind's languages.

CLINICAL = {
    "en": {
        "title": ["CLINICAL NOTE", "Discharge summary", "Outpatient clinic letter",
                  "Consultation note"],
        "dept": ["Cardiology", "Diabetes & Endocrinology", "Respiratory Medicine",
                 "Orthopaedics", "General Practice"],
        "complaint": ["Three-day history of chest tightness on exertion, no radiation.",
                      "Worsening shortness of breath and productive cough for one week.",
                      "Right knee pain after a fall at home, able to weight-bear.",
                      "Review of type 2 diabetes; HbA1c 58 mmol/mol at last check.",
                      "Intermittent palpitations, no syncope, no family history of SCD."],
        "plan": ["Start ramipril 2.5 mg once daily, repeat U&E in two weeks.",
                 "Refer for echocardiogram; safety-netting advice given.",
                 "Physiotherapy referral, analgesia as required, review in 6 weeks.",
                 "Increase metformin to 1 g twice daily; dietitian follow-up arranged."],
    },
    "de": {
        "title": ["Arztbrief", "Entlassungsbericht", "Ambulanter Befund"],
        "dept": ["Innere Medizin", "Kardiologie", "Unfallchirurgie", "Allgemeinmedizin"],
        "complaint": ["Seit drei Tagen Belastungsdyspnoe und thorakales Druckgefühl.",
                      "Sturz im häuslichen Umfeld, Schmerzen im rechten Handgelenk.",
                      "Kontrolle bei Diabetes mellitus Typ 2, HbA1c 7,4 %.",
                      "Fieber bis 38,9 °C, produktiver Husten seit einer Woche."],
        "plan": ["Beginn mit Ramipril 2,5 mg 1-0-0, Laborkontrolle in 14 Tagen.",
                 "Überweisung zur Echokardiographie, Wiedervorstellung bei Beschwerden.",
                 "Ruhigstellung im Unterarmgips für 6 Wochen, Röntgenkontrolle."],
    },
    "fr": {
        "title": ["Compte rendu de consultation", "Lettre de sortie", "Observation médicale"],
        "dept": ["Cardiologie", "Médecine interne", "Pneumologie", "Médecine générale"],
        "complaint": ["Douleur thoracique d'effort depuis trois jours, sans irradiation.",
                      "Toux productive et fièvre à 38,7 °C depuis une semaine.",
                      "Suivi d'un diabète de type 2, HbA1c à 7,2 %.",
                      "Chute à domicile avec douleur du poignet droit."],
        "plan": ["Introduction de ramipril 2,5 mg par jour, bilan biologique à J15.",
                 "Échographie cardiaque programmée, réévaluation dans un mois.",
                 "Kinésithérapie, antalgiques si besoin, contrôle radiologique à 6 semaines."],
    },
    "es": {
        "title": ["Informe clínico", "Informe de alta", "Nota de consulta"],
        "dept": ["Cardiología", "Medicina Interna", "Neumología", "Atención Primaria"],
        "complaint": ["Dolor torácico opresivo con el esfuerzo de tres días de evolución.",
                      "Tos productiva y fiebre de 38,5 °C desde hace una semana.",
                      "Control de diabetes tipo 2, HbA1c 7,1 %.",
                      "Caída en domicilio con dolor en la muñeca derecha."],
        "plan": ["Se inicia ramipril 2,5 mg cada 24 h; analítica de control en 15 días.",
                 "Se solicita ecocardiograma; revisión en consulta en un mes.",
                 "Inmovilización con férula, analgesia y control en 6 semanas."],
    },
    "zh": {
        "title": ["门诊病历 / Outpatient note", "出院小结 / Discharge summary"],
        "dept": ["心内科", "呼吸内科", "内分泌科"],
        "complaint": ["患者三天来活动后胸闷，无放射痛。", "咳嗽咳痰一周，伴发热38.6°C。",
                      "2型糖尿病复诊，血糖控制一般。"],
        "plan": ["予雷米普利2.5mg每日一次，两周后复查肾功能。", "安排心脏超声检查，一个月后复诊。"],
    },
    "ar": {
        "title": ["ملاحظة سريرية / Clinical note", "ملخص الخروج / Discharge summary"],
        "dept": ["أمراض القلب", "الطب الباطني"],
        "complaint": ["ألم في الصدر عند الجهد منذ ثلاثة أيام.", "سعال وحمى منذ أسبوع."],
        "plan": ["بدء علاج راميبريل 2.5 ملغ يومياً ومراجعة بعد أسبوعين.",
                 "تحويل لعمل تخطيط صدى القلب."],
    },
}
CLINICAL_LABELS = {  # patient, address, admitted, complaint, plan, recorded, email
    "en": ["Patient:", "Address:", "Clinic date:", "Presenting complaint:", "Plan:",
           "Recorded by", "Email:"],
    "de": ["Patient:", "Anschrift:", "Aufnahmedatum:", "Anamnese:", "Procedere:", "Erstellt von",
           "E-Mail:"],
    "fr": ["Patient(e) :", "Adresse :", "Date de consultation :", "Motif :",
           "Conduite à tenir :", "Rédigé par", "Courriel :"],
    "es": ["Paciente:", "Domicilio:", "Fecha de ingreso:", "Motivo de consulta:", "Plan:",
           "Firmado por", "Correo:"],
    "zh": ["患者姓名：", "地址：", "就诊日期：", "主诉：", "处理：", "记录医生", "邮箱："],
    "ar": ["المريض:", "العنوان:", "تاريخ الزيارة:", "الشكوى:", "الخطة:", "حرره", "البريد:"],
}


def clinical_note(rng, lang):
    d = Document("clinical_note", lang, "text")
    bank = CLINICAL[lang]
    labels = CLINICAL_LABELS[lang]
    country = {"en": "GB", "de": "DE", "fr": "FR", "es": "ES", "zh": "GB", "ar": "GB"}[lang]
    patient = Person(rng, lang, country)
    d.line(rng.choice(bank["title"]), " — ", rng.choice(bank["dept"]))
    d.line()
    d.line(labels[0], " ", patient.name)
    if country == "GB":
        d.line(rng.choice(["NHS No:", "NHS number:", "NHS Number", "NHS no."]), " ",
               E("nhs_number", nhs(rng)))
        if rng.random() < 0.5:
            d.line("Hospital no.: ", N("hospital_number", rng.choice(UPPER) + rdigits(rng, 7)))
    elif lang == "fr" and rng.random() < 0.6:
        context, value = id_number(rng, "FR", patient)
        d.line(context, " ", E("id_number", value))
    elif lang == "es" and rng.random() < 0.7:
        context, value = id_number(rng, "ES", patient)
        d.line(context, " ", E("id_number", value))
    d.line(labelled_dob(rng, lang, patient))
    if rng.random() < 0.8:
        d.line(labels[1], " ", address(rng, country))
    d.line(labelled_phone(rng, lang, country))
    if rng.random() < 0.3:
        d.line(labels[6], " ", E("email", patient.email()))
    case_label = {"en": "Case ref.", "de": "Fallnummer:", "fr": "IPP :", "es": "NHC:",
                  "zh": "病历号：", "ar": "رقم الملف:"}[lang]
    d.line(case_label, " ", N("digits", digit_run(rng, rng.choice([8, 9, 10]))))
    d.line(labels[2], " ", N("date", other_date(rng, lang)), " ", N("time", clock(rng)))
    d.line()
    d.line(labels[3], " ", rng.choice(bank["complaint"]))
    if lang in ("en", "de", "fr", "es"):
        d.line("BP 1", str(rng.randint(10, 60)), "/", str(rng.randint(60, 95)), ", HR ",
               str(rng.randint(55, 110)), ", SpO2 ", str(rng.randint(91, 99)), "%")
        accession = {"en": "Lab accession no.", "de": "Labor-Auftragsnr.",
                     "fr": "N° de dossier labo", "es": "N.º de muestra"}[lang]
        d.line(accession, " ", N("digits", digit_run(rng, 10)), " (",
               N("timestamp", timestamp(rng).strftime("%Y-%m-%d %H:%M")), ")")
    d.line(labels[4], " ", rng.choice(bank["plan"]))
    if rng.random() < 0.4:
        kin = Person(rng, lang, country)
        kin_label = {"en": "Next of kin:", "de": "Angehörige:", "fr": "Personne à prévenir :",
                     "es": "Familiar de contacto:", "zh": "紧急联系人：", "ar": "أقرب الأقارب:"}[lang]
        d.line(kin_label, " ", kin.name, ", ", E("phone", phone(rng, country)))
    d.line()
    d.line(labels[5], " ", Person(rng, lang, country).name, ", ", N("date", other_date(rng, lang)))
    return d


TICKET = {
    "en": {
        "subject": ["Order not delivered", "Charged twice", "Cannot log in to my account",
                    "Refund request", "Update my payment details", "Wrong item received"],
        "open": ["Hi,\n\n", "Hello support team,\n\n", "Dear Sir or Madam,\n\n"],
        "order": "My order {order} from {date} still hasn't arrived. The tracking number {track} "
                 "has not updated for a week.",
        "card": "I was charged twice for the same order. The card I used is ",
        "iban": "Please send the refund to my bank account instead, IBAN ",
        "phone": "You can reach me on ",
        "close": ["\n\nThanks,\n", "\n\nBest regards,\n", "\n\nKind regards,\n"],
        "agent": "Agent note: customer verified, refund of {price} approved (ticket {ticket}).",
    },
    "de": {
        "subject": ["Bestellung nicht angekommen", "Doppelte Abbuchung", "Rückerstattung",
                    "Änderung meiner Bankverbindung", "Falscher Artikel geliefert"],
        "open": ["Hallo,\n\n", "Sehr geehrte Damen und Herren,\n\n", "Guten Tag,\n\n"],
        "order": "meine Bestellung {order} vom {date} ist noch nicht angekommen. Die "
                 "Sendungsnummer {track} wird seit einer Woche nicht aktualisiert.",
        "card": "Mir wurde der Betrag doppelt abgebucht. Meine Kreditkarte: ",
        "iban": "Bitte überweisen Sie die Erstattung auf mein Konto, IBAN ",
        "phone": "Sie erreichen mich unter ",
        "close": ["\n\nVielen Dank\n", "\n\nMit freundlichen Grüßen\n", "\n\nViele Grüße\n"],
        "agent": "Notiz: Kundin verifiziert, Erstattung von {price} freigegeben (Ticket {ticket}).",
    },
    "fr": {
        "subject": ["Commande non reçue", "Double prélèvement", "Demande de remboursement",
                    "Changement de coordonnées bancaires"],
        "open": ["Bonjour,\n\n", "Madame, Monsieur,\n\n"],
        "order": "ma commande {order} du {date} n'est toujours pas arrivée. Le numéro de suivi "
                 "{track} n'a pas bougé depuis une semaine.",
        "card": "J'ai été débité deux fois. Ma carte bancaire : ",
        "iban": "Merci d'effectuer le remboursement sur mon compte, IBAN ",
        "phone": "Vous pouvez me joindre au ",
        "close": ["\n\nMerci d'avance,\n", "\n\nCordialement,\n", "\n\nBien à vous,\n"],
        "agent": "Note agent : client vérifié, remboursement de {price} validé (ticket {ticket}).",
    },
    "es": {
        "subject": ["Pedido no recibido", "Cargo duplicado", "Solicitud de reembolso",
                    "Cambio de datos bancarios"],
        "open": ["Hola,\n\n", "Estimados señores:\n\n", "Buenos días,\n\n"],
        "order": "mi pedido {order} del {date} todavía no ha llegado. El número de seguimiento "
                 "{track} no se actualiza desde hace una semana.",
        "card": "Me han cobrado dos veces. Mi tarjeta es la ",
        "iban": "Por favor, hagan el reembolso a mi cuenta, IBAN ",
        "phone": "Pueden llamarme al ",
        "close": ["\n\nGracias,\n", "\n\nUn saludo,\n", "\n\nAtentamente,\n"],
        "agent": "Nota del agente: cliente verificado, reembolso de {price} aprobado "
                 "(ticket {ticket}).",
    },
    "ja": {
        "subject": ["注文した商品が届きません", "二重請求について", "返金のお願い"],
        "open": ["お世話になっております。\n\n", "サポートご担当者様\n\n"],
        "order": "{date}に注文した{order}がまだ届いていません。追跡番号{track}は一週間更新されていません。",
        "card": "同じ注文で二回請求されました。使用したカード番号は",
        "iban": "返金は次の口座にお願いします。IBAN ",
        "phone": "ご連絡は",
        "close": ["\n\nよろしくお願いいたします。\n"],
        "agent": "担当メモ：本人確認済み、{price}の返金を承認（チケット{ticket}）。",
    },
    "ru": {
        "subject": ["Заказ не доставлен", "Двойное списание", "Возврат средств"],
        "open": ["Здравствуйте!\n\n", "Добрый день,\n\n"],
        "order": "мой заказ {order} от {date} до сих пор не доставлен. Трек-номер {track} "
                 "не обновляется уже неделю.",
        "card": "С моей карты списали деньги дважды. Номер карты: ",
        "iban": "Пожалуйста, верните деньги на мой счёт, IBAN ",
        "phone": "Мой телефон: ",
        "close": ["\n\nСпасибо,\n", "\n\nС уважением,\n"],
        "agent": "Заметка оператора: клиент подтверждён, возврат {price} одобрен "
                 "(тикет {ticket}).",
    },
}
SUPPORT_DOMAINS = ["shop.example.com", "help.northwind.co.uk", "kundenservice.example.de",
                   "support.example.fr", "ayuda.example.es"]
IBAN_COUNTRY = {"GB": "GB", "US": "GB", "DE": "DE", "AT": "AT", "CH": "CH", "FR": "FR",
                "ES": "ES", "CN": "DE", "JP": "NL", "RU": "DE", "AE": "AE", "SA": "SA"}


def templated(d, template, **values):
    """Writes `template` with {name} fields: strings as text, Ent/Neg as spans."""
    for piece in re.split(r"(\{\w+\})", template):
        if piece.startswith("{") and piece.endswith("}"):
            d.put(values[piece[1:-1]])
        elif piece:
            d.put(piece)


def support_ticket(rng, lang):
    fmt = rng.choice(["email", "markdown"])
    d = Document("support_ticket", lang, fmt)
    bank = TICKET[lang]
    customer = Person(rng, lang)
    country = customer.country
    domain = rng.choice(SUPPORT_DOMAINS)
    ticket = N("digits", "#" + digit_run(rng, rng.choice([5, 6, 7])))
    subject = rng.choice(bank["subject"])
    if fmt == "email":
        d.line("From: ", customer.name, " <", E("email", customer.email()), ">")
        d.line("To: ", E("email", company_email(rng, domain)))
        d.line("Subject: ", subject, " [Ticket ", ticket, "]")
        d.line("Date: ", N("timestamp", timestamp(rng).strftime("%a, %d %b %Y %H:%M:%S +0100")))
        d.line()
    else:
        d.line("## Ticket ", ticket, " — ", subject)
        d.line()
        d.line("| Field | Value |")
        d.line("|---|---|")
        d.line("| Customer | ", customer.name, " |")
        d.line("| Email | ", E("email", customer.email()), " |")
        d.line("| Opened | ", N("timestamp", timestamp(rng).strftime("%Y-%m-%dT%H:%M:%SZ")),
               " |")
        d.line("| Priority | ", rng.choice(["low", "normal", "high"]), " |")
        d.line()
    d.put(rng.choice(bank["open"]))
    date_lang = lang if lang in ("de", "fr", "es") else "en"
    templated(d, bank["order"], order=N("order_number", order_number(rng)),
              date=N("date", other_date(rng, date_lang)),
              track=N("tracking_number", tracking_number(rng)))
    d.put(" ")
    extras = rng.sample(["card", "iban", "phone", "routing", "sku"], k=rng.randint(1, 3))
    if "card" not in extras and rng.random() < 0.3:
        extras.append("card")
    for extra in extras:
        if extra == "card":
            brand, number = card_number(rng)
            d.put(bank["card"], E("card", number))
            if rng.random() < 0.5:
                d.put(" (", brand, ", exp ", expiry(rng), ")")
            d.put(". ")
        elif extra == "iban":
            d.put(bank["iban"], E("iban", iban(rng, IBAN_COUNTRY[country])), ". ")
        elif extra == "phone":
            d.put(bank["phone"], E("phone", phone(rng, country)), ". ")
        elif extra == "routing" and country == "US":
            d.put("For the direct deposit, my routing number is ", E("aba_routing", aba(rng)),
                  " (account ending ", rdigits(rng, 4), "). ")
        elif extra == "sku":
            d.put("(", N("sku", sku(rng)), ", ", N("price", price(rng, lang)), ") ")
    d.put(rng.choice(bank["close"]))
    d.line(customer.name)
    if rng.random() < 0.4:
        d.line(E("phone", phone(rng, country, "intl")))
    d.line()
    d.line("---")
    templated(d, bank["agent"], price=N("price", price(rng, lang)), ticket=ticket)
    d.line()
    return d


CONTRACT = {
    "en": ("SERVICE AGREEMENT", "This Agreement is made on {date} between {company}, and "
           "{name}, residing at ", " (the \"Contractor\").", "Payment terms",
           "The Client shall pay each invoice within 30 days to the account below.",
           "Identification", "Signed"),
    "de": ("DIENSTLEISTUNGSVERTRAG", "Dieser Vertrag wird am {date} geschlossen zwischen "
           "{company} und {name}, wohnhaft ", " (im Folgenden \"Auftragnehmer\").", "Vergütung",
           "Rechnungen sind innerhalb von 30 Tagen auf folgendes Konto zu zahlen.",
           "Identifikation", "Unterschrift"),
    "fr": ("CONTRAT DE PRESTATION DE SERVICES", "Le présent contrat est conclu le {date} entre "
           "{company} et {name}, demeurant ", " (ci-après le « Prestataire »).",
           "Conditions de paiement",
           "Les factures sont payables sous 30 jours sur le compte ci-dessous.",
           "Identification", "Signature"),
    "es": ("CONTRATO DE PRESTACIÓN DE SERVICIOS", "El presente contrato se celebra el {date} "
           "entre {company} y {name}, con domicilio en ", " (en adelante, el «Prestador»).",
           "Condiciones de pago",
           "Las facturas se abonarán en un plazo de 30 días en la cuenta indicada.",
           "Identificación", "Firma"),
}
COMPANIES = {"en": ["Northwind Traders Ltd", "Acme Corporation", "Blue Harbor LLC"],
             "de": ["Müller & Söhne GmbH", "Beispiel AG", "Nordlicht Software GmbH"],
             "fr": ["Société Exemple SAS", "Atelier Lumière SARL"],
             "es": ["Ejemplo Soluciones S.L.", "Construcciones Ibéricas S.A."]}


def contract(rng, lang):
    d = Document("contract", lang, "text")
    title, intro, role, pay_heading, pay_text, id_heading, signed = CONTRACT[lang]
    person = Person(rng, lang)
    country = person.country
    company = rng.choice(COMPANIES[lang])
    d.line(title)
    d.line({"en": "Contract No. ", "de": "Vertragsnr. ", "fr": "Contrat n° ",
            "es": "Contrato n.º "}[lang], N("contract_number", "C-%d-%04d" % (
                rng.randint(2022, 2024), rng.randint(0, 9999))))
    d.line()
    templated(d, intro, date=N("date", other_date(rng, lang)), company=company, name=person.name)
    d.put(address(rng, country), role)
    d.line()
    d.line()
    d.line("1. ", pay_heading)
    d.line(pay_text, " ", {"en": "The fee is", "de": "Die Vergütung beträgt",
                          "fr": "Le montant est de", "es": "El importe es de"}[lang], " ",
           N("price", price(rng, lang)), ".")
    if country == "US":
        d.line("Bank: ", rng.choice(["Chase", "Wells Fargo", "Bank of America", "Citibank"]),
               ", ", rng.choice(["routing number", "ABA routing no.", "Routing number:", "ABA"]),
               " ", E("aba_routing", aba(rng)), ", account ending ", rdigits(rng, 4))
    else:
        d.line("IBAN: ", E("iban", iban(rng, IBAN_COUNTRY[country])), "  BIC: ",
               rs(rng, UPPER, 4), country if country != "US" else "US", rs(rng, UPPER, 2))
    d.line()
    d.line("2. ", id_heading)
    lines = []
    if rng.random() < 0.7:
        lines.append(labelled_passport(rng, lang, country))
    if country != "US" or rng.random() < 0.5:
        if country in ("GB", "US", "DE", "AT", "CH", "FR", "ES"):
            context, value = id_number(rng, country, person)
            lines.append([context, " ", E("id_number", value)])
    if country == "US":
        lines.append([rng.choice(["SSN:", "Social Security Number:", "SSN"]), " ",
                      E("ssn", ssn(rng, rng.choice(["dash", "dash", "plain"])))])
    if rng.random() < 0.5:
        lines.append(labelled_dob(rng, lang, person))
    lines.append(["E-mail: ", E("email", person.email())])
    lines.append(labelled_phone(rng, lang, country))
    for piece in lines:
        d.line("   - ", piece)
    d.line()
    d.line("3. ", {"en": "Term", "de": "Laufzeit", "fr": "Durée", "es": "Duración"}[lang], ": ",
           N("date", other_date(rng, lang)), " – ", N("date", other_date(rng, lang, 2025)))
    d.line()
    d.line(signed, ": ________________   ", person.name)
    return d


STATEMENT = {
    "en": ("Account statement", "Account holder", "Period", "Date", "Description", "Amount",
           "Balance", ["Card payment TESCO STORES", "Direct debit THAMES WATER",
                       "Salary ACME CORPORATION", "Card payment AMAZON.CO.UK"]),
    "de": ("Kontoauszug", "Kontoinhaber", "Zeitraum", "Datum", "Buchungstext", "Betrag", "Saldo",
           ["Kartenzahlung REWE", "Lastschrift Stadtwerke", "Gehalt Beispiel AG",
            "Kartenzahlung DB Vertrieb"]),
    "fr": ("Relevé de compte", "Titulaire", "Période", "Date", "Libellé", "Montant", "Solde",
           ["Paiement CB CARREFOUR", "Prélèvement EDF", "Virement salaire",
            "Paiement CB SNCF"]),
    "es": ("Extracto de cuenta", "Titular", "Periodo", "Fecha", "Concepto", "Importe", "Saldo",
           ["Pago con tarjeta MERCADONA", "Recibo IBERDROLA", "Nómina",
            "Pago con tarjeta RENFE"]),
}


def bank_statement(rng, lang):
    fmt = rng.choice(["markdown", "csv"])
    d = Document("bank_statement", lang, fmt)
    title, holder_l, period_l, date_l, desc_l, amount_l, balance_l, descriptions = STATEMENT[lang]
    holder = Person(rng, lang)
    country = holder.country
    if fmt == "markdown":
        d.line("# ", title)
        d.line()
        d.line("**", holder_l, ":** ", holder.name)
        if country == "US":
            d.line("**Routing number:** ", E("aba_routing", aba(rng)))
        else:
            d.line("**IBAN:** ", E("iban", iban(rng, IBAN_COUNTRY[country])))
        if rng.random() < 0.9:
            d.line("**", {"en": "Card number", "de": "Kartennummer", "fr": "N° de carte",
                          "es": "Número de tarjeta"}[lang], ":** ", E("card", card_number(rng)[1]))
        d.line("**", period_l, ":** ", N("date", other_date(rng, lang)), " – ",
               N("date", other_date(rng, lang)))
        d.line()
        d.line("| ", date_l, " | ", desc_l, " | Ref. | ", amount_l, " | ", balance_l, " |")
        d.line("|---|---|---|---:|---:|")
        sep, end = " | ", " |"
        start = "| "
    else:
        d.line("# ", title, "; ", holder_l, ": ", holder.name)
        if country == "US":
            d.line("# routing number: ", E("aba_routing", aba(rng)))
        else:
            d.line("# IBAN: ", E("iban", iban(rng, IBAN_COUNTRY[country], "compact")))
        d.line(date_l.lower(), ",", desc_l.lower(), ",ref,", amount_l.lower(), ",",
               balance_l.lower())
        sep, end, start = ",", "", ""
    balance = rng.randint(50000, 900000) / 100
    for _ in range(rng.randint(3, 8)):
        amount = rng.randint(-40000, 30000) / 100
        balance += amount
        desc_kind = rng.random()
        if desc_kind < 0.25 and country != "US":
            other = Person(rng, lang)
            description = [{"en": "Transfer to ", "de": "Überweisung an ", "fr": "Virement à ",
                            "es": "Transferencia a "}[lang], other.name, " ",
                           E("iban", iban(rng, IBAN_COUNTRY[other.country], "compact"))]
        elif desc_kind < 0.5:
            description = [rng.choice(descriptions), " ****", rdigits(rng, 4)]
        elif desc_kind < 0.6:
            description = [{"en": "Payment ref. ", "de": "Zahlungsreferenz ",
                            "fr": "Référence ", "es": "Referencia "}[lang],
                           N("rf_reference", rf_reference(rng))]
        else:
            description = [rng.choice(descriptions)]
        reference = N("digits", digit_run(rng, rng.choice([9, 10, 12, 16])))
        amount_text = ("%.2f" % amount) if fmt == "csv" else format(amount, ",.2f")
        d.line(start, N("date", other_date(rng, lang)), sep, description, sep, reference, sep,
               amount_text, sep, "%.2f" % balance, end)
    return d


def emit_json(d, value, indent=2, level=0):
    """Writes `value` as JSON; Ent/Neg leaves become string spans (quotes outside the span)."""
    pad = "\n" + " " * (indent * (level + 1)) if indent else ""
    close = "\n" + " " * (indent * level) if indent else ""
    comma = "," if indent else ", "
    if isinstance(value, dict):
        d.put("{")
        for i, (key, item) in enumerate(value.items()):
            d.put(comma if i else "", pad, jstr(key), ": ")
            emit_json(d, item, indent, level + 1)
        d.put(close, "}")
    elif isinstance(value, list):
        d.put("[")
        for i, item in enumerate(value):
            d.put(comma if i else "", pad)
            emit_json(d, item, indent, level + 1)
        d.put(close, "]")
    elif isinstance(value, (Ent, Neg)):
        d.put(jval(value))
    elif isinstance(value, str):
        d.put(jstr(value))
    else:
        d.put(json.dumps(value))


USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/122.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.3.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0",
    "curl/8.4.0", "python-requests/2.31.0", "okhttp/4.12.0",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/121.0.6167.178 Mobile Safari/537.36",
]
LOG_MESSAGES = {
    "en": ["user {email} logged in from {ip}", "password reset requested for {email}",
           "payment accepted for order {order}", "session {hex} expired",
           "upstream {ip} timed out after 3000 ms", "rate limit exceeded for {ip}"],
    "ru": ["пользователь {email} вошёл в систему с адреса {ip}",
           "запрошен сброс пароля для {email}", "платёж по заказу {order} принят",
           "сессия {hex} истекла", "превышен лимит запросов для {ip}"],
    "zh": ["用户 {email} 从 {ip} 登录", "已为 {email} 发送密码重置邮件", "订单 {order} 支付成功",
           "会话 {hex} 已过期", "来自 {ip} 的请求超过速率限制"],
}


def ip_any(rng):
    return ipv6(rng) if rng.random() < 0.25 else ipv4(rng)


def log_lines(rng, lang):
    fmt = "log"
    d = Document("log", lang, fmt)
    style = rng.choice(["app", "nginx", "sshd", "json", "app"])
    host = rng.choice(["web-01", "api-3", "worker-eu-2", "gw-prod-1"])
    start = timestamp(rng)
    if lang != "en":
        style = "app"
    if style == "app":
        starting = {"en": "service starting", "ru": "сервис запускается", "zh": "服务启动"}[lang]
        d.line(N("timestamp", start.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"),
               " INFO  ", starting, " ", N("version", "hearth/" + version(rng)), " (build ",
               N("git_sha", git_sha(rng, 7)), ")")
    for _ in range(rng.randint(4, 12)):
        start += datetime.timedelta(seconds=rng.randint(0, 90), milliseconds=rng.randint(0, 999))
        if style == "nginx":
            ip = E("ip_address", ip_any(rng))
            method, path = rng.choice([("GET", "/api/v1/orders/"), ("POST", "/api/v1/checkout/"),
                                       ("GET", "/static/app."), ("DELETE", "/api/v1/sessions/")])
            ident = N("order_number", digit_run(rng, rng.choice([6, 9, 10])))
            if path.startswith("/static"):
                ident = N("git_sha", git_sha(rng, 8))
                path_end = ".js"
            else:
                path_end = ""
            d.line(ip, " - - [", N("timestamp", start.strftime("%d/%b/%Y:%H:%M:%S +0000")),
                   "] \"", method, " ", path, ident, path_end, " HTTP/1.1\" ",
                   rng.choice(["200", "201", "204", "404", "502"]), " ",
                   str(rng.randint(120, 90000)), " \"-\" \"",
                   N("user_agent", rng.choice(USER_AGENTS)), "\"")
        elif style == "sshd":
            stamp = N("timestamp", start.strftime("%b %d %H:%M:%S"))
            ip = E("ip_address", ip_any(rng))
            event = rng.random()
            if event < 0.4:
                d.line(stamp, " ", host, " sshd[", str(rng.randint(1000, 65000)),
                       "]: Accepted publickey for deploy from ", ip, " port ",
                       str(rng.randint(1024, 65535)), " ssh2: ED25519 SHA256:",
                       N("fingerprint", rs(rng, ALNUM + "+/", 43)))
            elif event < 0.8:
                d.line(stamp, " ", host, " sshd[", str(rng.randint(1000, 65000)),
                       "]: Failed password for invalid user ", rng.choice(["admin", "oracle",
                                                                           "test", "ubuntu"]),
                       " from ", ip, " port ", str(rng.randint(1024, 65535)), " ssh2")
            else:
                d.line(stamp, " ", host, " kernel: [", "%.6f" % (rng.random() * 90000),
                       "] eth0: link up, HWaddr ", N("mac", mac_address(rng)))
        elif style == "json":
            record = {"ts": N("timestamp", start.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"),
                      "level": rng.choice(["info", "info", "warn", "error"]),
                      "msg": rng.choice(["checkout completed", "login", "token refreshed",
                                         "upstream error"]),
                      "request_id": N("uuid", uuid4(rng)),
                      "client_ip": E("ip_address", ip_any(rng)),
                      "duration_ms": rng.randint(1, 2500)}
            if rng.random() < 0.5:
                record["user"] = E("email", Person(rng, rng.choice(["en", "de", "fr",
                                                                       "es"])).email())
            if rng.random() < 0.3:
                record["order_id"] = N("order_number", order_number(rng))
            if rng.random() < 0.15:
                record["authorization"] = ["Bearer ", E("jwt", jwt(rng))]
            d.put("{")
            for i, (key, value) in enumerate(record.items()):
                d.put(", " if i else "", jstr(key), ": ")
                if isinstance(value, list):
                    d.put('"', value, '"')
                else:
                    emit_json(d, value, indent=0)
            d.line("}")
        else:
            level = rng.choice(["INFO ", "INFO ", "WARN ", "DEBUG", "ERROR"])
            stamp = N("timestamp", start.strftime("%Y-%m-%d %H:%M:%S,%f")[:-3])
            d.put(stamp, " ", level, " [req=", N("uuid", uuid4(rng)), "] ")
            leak = rng.random()
            if leak < 0.07:
                d.line("outbound GET https://api.partner.example/v1/data?api_key=",
                       E("secret", secret_value(rng)), "&page=", str(rng.randint(1, 9)))
            elif leak < 0.12:
                d.line("auth header: Authorization: Bearer ", E("jwt", jwt(rng)))
            elif leak < 0.2:
                d.line("payment debug: card=", E("card", card_number(rng, style="compact")[1]),
                       " exp=", expiry(rng), " amount=", str(rng.randint(100, 99999)))
            elif leak < 0.24:
                d.line("db connect failed: host=", E("ip_address", ipv4(rng)),
                       " user=app password=", E("password", password_value(rng)),
                       " sslmode=require")
            else:
                message = rng.choice(LOG_MESSAGES[lang])
                templated(d, message, email=E("email", Person(rng, rng.choice(
                    ["en", "de", "fr", "es", lang if lang in NAMES else "en"])).email()),
                          ip=E("ip_address", ip_any(rng)),
                          order=N("order_number", order_number(rng)),
                          hex=N("hex", rs(rng, HEX, 32)))
                if rng.random() < 0.3:
                    d.put(" xff=", E("ip_address", ipv4(rng)), ", ", E("ip_address", ipv4(rng)))
                d.line(" (", str(rng.randint(1, 900)), " ms)")
    return d


def code_snippet(rng, lang):
    flavour = rng.choice(["python", "javascript", "go", "shell", "terraform"])
    d = Document("code", lang, flavour)
    comment = {"python": "#", "shell": "#", "terraform": "#", "javascript": "//", "go": "//"}[
        flavour]
    todo = {"en": "TODO: move these to the vault before the release",
            "de": "TODO: vor dem Release in den Vault verschieben",
            "ja": "TODO: リリース前にシークレットをVaultへ移動する",
            "zh": "TODO: 发布前把密钥移到 Vault"}[lang]
    if flavour == "python":
        d.line("import os")
        d.line("import boto3")
        d.line("import psycopg2")
        d.line("import stripe")
        d.line()
        d.line(comment, " ", todo)
        options = rng.sample(["aws", "stripe", "openai", "api", "pw", "jwt", "slack"],
                             k=rng.randint(2, 4))
        if "aws" in options:
            d.line("AWS_ACCESS_KEY_ID = \"", E("aws_access_key", aws_key(rng)), "\"")
            d.line("AWS_SECRET_ACCESS_KEY = \"", E("secret", aws_secret(rng)), "\"")
        if "stripe" in options:
            d.line("stripe.api_key = \"", E("stripe_key", stripe_key(rng)), "\"")
        if "openai" in options:
            d.line("OPENAI_API_KEY = \"", E("openai_key", openai_key(rng)), "\"")
        if "api" in options:
            d.line(rng.choice(["API_KEY", "api_key", "WEATHER_API_KEY"]), " = \"",
                   E("secret", secret_value(rng)), "\"")
        if "jwt" in options:
            d.line("TEST_TOKEN = \"", E("jwt", jwt(rng)), "\"")
        if "slack" in options:
            d.line("slack_client = WebClient(token=\"", E("slack_token", slack_token(rng)), "\")")
        d.line("DB_PASSWORD = ", N("placeholder", "os.environ[\"DB_PASSWORD\"]"))
        d.line("SESSION_SECRET = ", N("placeholder", "os.getenv(\"SESSION_SECRET\")"))
        d.line("MODEL_SHA256 = \"", N("sha256", rs(rng, HEX, 64)), "\"")
        d.line("CLIENT_VERSION = \"", N("version", version(rng)), "\"")
        d.line("MAX_TOKENS = ", str(rng.choice([256, 512, 4096])))
        d.line()
        d.line()
        d.line("def connect():")
        if "pw" in options:
            d.line("    return psycopg2.connect(host=\"", E("ip_address", ipv4(rng)),
                   "\", user=\"app\", password=\"", E("password", password_value(rng)), "\")")
        else:
            d.line("    return psycopg2.connect(host=\"db.internal\", user=\"app\", "
                   "password=DB_PASSWORD)")
    elif flavour == "javascript":
        d.line("const { Octokit } = require(\"@octokit/rest\");")
        d.line("const { WebClient } = require(\"@slack/web-api\");")
        d.line()
        d.line(comment, " ", todo)
        options = rng.sample(["github", "slack", "jwt", "api", "image", "stripe", "openai"],
                             k=rng.randint(2, 4))
        if "github" in options:
            d.line("const octokit = new Octokit({ auth: \"", E("github_token", github_token(rng)),
                   "\" });")
        if "slack" in options:
            d.line("const slack = new WebClient(\"", E("slack_token", slack_token(rng)), "\");")
        if "jwt" in options:
            d.line("const serviceToken = \"", E("jwt", jwt(rng)), "\";")
        if "api" in options:
            d.line("const config = { apiKey: \"", E("secret", secret_value(rng)),
                   "\", timeout: 3000, version: \"", N("version", version(rng)), "\" };")
        else:
            d.line("const config = { apiKey: ", N("placeholder", "process.env.API_KEY"),
                   ", timeout: 3000 };")
        if "stripe" in options:
            d.line("const stripe = require(\"stripe\")(\"", E("stripe_key", stripe_key(rng)),
                   "\");")
        if "openai" in options:
            d.line("const openai = new OpenAI({ apiKey: \"", E("openai_key", openai_key(rng)),
                   "\" });")
        if "image" in options:
            d.line("const placeholderLogo = \"", N("base64_image", base64_image(rng)), "\";")
        d.line("const requestId = \"", N("uuid", uuid4(rng)), "\";")
        d.line("fetch(\"https://api.example.com/v2/items\", {")
        d.line("  headers: { Authorization: `Bearer ${serviceToken}`, "
               "\"X-Request-Id\": requestId },")
        d.line("});")
    elif flavour == "go":
        d.line("package main")
        d.line()
        d.line("import \"database/sql\"")
        d.line()
        d.line(comment, " ", todo)
        d.line("const gitlabToken = \"", E("gitlab_token", gitlab_token(rng)), "\"")
        if rng.random() < 0.5:
            d.line("const awsKeyID = \"", E("aws_access_key", aws_key(rng)), "\"")
        d.line("const buildCommit = \"", N("git_sha", git_sha(rng)), "\"")
        d.line()
        d.line("func open() (*sql.DB, error) {")
        d.line("\treturn sql.Open(\"postgres\", \"host=", E("ip_address", ipv4(rng)),
               " user=shop password=", E("password", password_value(rng)),
               " dbname=shop sslmode=disable\")")
        d.line("}")
    elif flavour == "shell":
        d.line("#!/usr/bin/env bash")
        d.line("set -euo pipefail")
        d.line(comment, " ", todo)
        options = rng.sample(["github", "gitlab", "aws", "jwt", "mysql"], k=rng.randint(2, 4))
        if "github" in options:
            d.line("export GITHUB_TOKEN=", E("github_token", github_token(rng)))
        if "gitlab" in options:
            d.line("export GITLAB_TOKEN=", E("gitlab_token", gitlab_token(rng)))
        if "aws" in options:
            d.line("export AWS_ACCESS_KEY_ID=", E("aws_access_key", aws_key(rng)))
            d.line("export AWS_SECRET_ACCESS_KEY=", E("secret", aws_secret(rng)))
        if "jwt" in options:
            d.line("curl -sf -H \"Authorization: Bearer ", E("jwt", jwt(rng)),
                   "\" https://api.example.com/v1/me")
        if "mysql" in options:
            d.line("mysql -h ", E("ip_address", ipv4(rng)), " -u root --password=",
                   E("password", password_value(rng)), " shop < dump.sql")
        d.line("echo \"", N("sha256", rs(rng, HEX, 64)), "  release-",
               N("version", version(rng)), ".tar.gz\" | sha256sum -c")
        d.line("git checkout ", N("git_sha", git_sha(rng)))
    else:
        d.line(comment, " ", todo)
        d.line("provider \"aws\" {")
        d.line("  region     = \"eu-central-1\"")
        d.line("  access_key = \"", E("aws_access_key", aws_key(rng)), "\"")
        d.line("  secret_key = \"", E("secret", aws_secret(rng)), "\"")
        d.line("}")
        d.line()
        d.line("resource \"aws_db_instance\" \"main\" {")
        d.line("  engine_version = \"", N("version", "%d.%d" % (rng.randint(12, 16),
                                                                  rng.randint(1, 9))), "\"")
        if rng.random() < 0.6:
            d.line("  password       = \"", E("password", password_value(rng)), "\"")
        else:
            d.line("  password       = ", N("placeholder", "var.db_password"))
        d.line("  tags = { owner = \"", E("email", Person(rng, "en").email()), "\" }")
        d.line("}")
    return d


def config_file(rng, lang):
    flavour = rng.choice(["env", "yaml", "ini", "service_account", "ssh", "ci", "k8s"])
    d = Document("config", lang, {"service_account": "json", "ssh": "text", "ci": "yaml",
                                  "k8s": "yaml"}.get(flavour, flavour))
    if flavour == "ci":
        d.line("# .gitlab-ci.yml")
        d.line("variables:")
        d.line("  IMAGE_TAG: \"", N("version", version(rng)), "\"")
        d.line("  OPENAI_API_KEY: \"", E("openai_key", openai_key(rng)), "\"")
        d.line("  SLACK_TOKEN: \"", E("slack_token", slack_token(rng)), "\"")
        d.line("  REGISTRY_PASSWORD: ", N("placeholder", "$CI_REGISTRY_PASSWORD"))
        d.line()
        d.line("deploy:")
        d.line("  stage: deploy")
        d.line("  script:")
        d.line("    - echo \"$DEPLOY_KEY\" > ~/.ssh/id_ed25519")
        d.line("    - ssh deploy@", E("ip_address", ipv4(rng)), " 'systemctl restart shop'")
        if rng.random() < 0.6:
            d.line("  # deploy key, to be moved into a protected variable")
            d.line("  # ", E("private_key", private_key(rng, "\n  # ")))
        d.line("  only:")
        d.line("    - tags")
    elif flavour == "k8s":
        d.line("apiVersion: v1")
        d.line("kind: Secret")
        d.line("metadata:")
        d.line("  name: shop-credentials")
        d.line("  uid: ", N("uuid", uuid4(rng)))
        d.line("type: Opaque")
        d.line("stringData:")
        d.line("  database-password: \"", E("password", password_value(rng)), "\"")
        d.line("  stripe-key: \"", E("stripe_key", stripe_key(rng)), "\"")
        d.line("  slack-bot-token: \"", E("slack_token", slack_token(rng)), "\"")
        d.line("  api-key: \"", E("secret", secret_value(rng)), "\"")
        if rng.random() < 0.5:
            d.line("  tls.key: |")
            d.line("    ", E("private_key", private_key(rng, "\n    ")))
    elif flavour == "env":
        d.line("# ", rng.choice(["production", "staging"]), " settings")
        d.line("APP_VERSION=", N("version", version(rng)))
        d.line("DATABASE_HOST=", E("ip_address", ipv4(rng)))
        d.line(rng.choice(["DB_PASSWORD", "POSTGRES_PASSWORD", "MYSQL_ROOT_PASSWORD"]), "=",
               E("password", password_value(rng)))
        d.line("REDIS_PASSWORD=", N("placeholder", "${REDIS_PASSWORD}"))
        d.line("STRIPE_SECRET_KEY=", E("stripe_key", stripe_key(rng)))
        d.line("OPENAI_API_KEY=", E("openai_key", openai_key(rng)))
        if rng.random() < 0.8:
            d.line("SLACK_BOT_TOKEN=", E("slack_token", slack_token(rng)))
        d.line("SECRET_KEY=", E("secret", secret_value(rng)))
        d.line("API_KEY=", N("placeholder", "your-api-key-here"))
        d.line("SUPPORT_EMAIL=", E("email", company_email(rng, rng.choice(SUPPORT_DOMAINS))))
        d.line("PASSWORD_MIN_LENGTH=", str(rng.choice([8, 10, 12])))
        d.line("TOKEN_TTL_SECONDS=", str(rng.choice([900, 3600])))
    elif flavour == "yaml":
        d.line("# docker-compose.override.yml")
        d.line("services:")
        d.line("  db:")
        d.line("    image: postgres:", N("version", "%d.%d" % (rng.randint(12, 16),
                                                              rng.randint(1, 9))),
               "@sha256:", N("sha256", rs(rng, HEX, 64)))
        d.line("    environment:")
        d.line("      POSTGRES_USER: app")
        d.line("      POSTGRES_PASSWORD: \"", E("password", password_value(rng)), "\"")
        d.line("  api:")
        d.line("    environment:")
        d.line("      GITLAB_TOKEN: ", E("gitlab_token", gitlab_token(rng)))
        if rng.random() < 0.5:
            d.line("      SLACK_BOT_TOKEN: ", E("slack_token", slack_token(rng)))
        else:
            d.line("      STRIPE_API_KEY: ", E("stripe_key", stripe_key(rng)))
        d.line("      JWT_SIGNING_SECRET: ", E("secret", secret_value(rng)))
        d.line("      ADMIN_EMAIL: ", E("email", Person(rng, rng.choice(["en", "de"])).email()))
        d.line("      API_KEY: ", N("placeholder", "${API_KEY}"))
        if rng.random() < 0.5:
            d.line("    tls:")
            d.line("      key: |")
            d.line("        ", E("private_key", private_key(rng, "\n        ")))
    elif flavour == "ini":
        d.line("[database]")
        d.line("host = ", E("ip_address", ipv4(rng)))
        d.line("port = 5432")
        d.line("user = reporting")
        d.line("password = ", E("password", password_value(rng)))
        d.line()
        d.line("[mail]")
        d.line("smtp_host = smtp.example.com")
        d.line("smtp_user = ", E("email", company_email(rng, rng.choice(SUPPORT_DOMAINS))))
        d.line("smtp_password = ", E("password", password_value(rng)))
        d.line()
        d.line("[integrations]")
        d.line("github_token = ", E("github_token", github_token(rng)))
        d.line("api_key = ", E("secret", secret_value(rng)))
        d.line("webhook_id = ", N("uuid", uuid4(rng)))
        d.line("max_retries = 5")
    elif flavour == "service_account":
        project = rng.choice(["shop-prod-4821", "analytics-eu", "hearth-staging"])
        emit_json(d, {
            "type": "service_account",
            "project_id": project,
            "private_key": E("private_key", private_key(rng)),
            "client_email": E("email", "deployer@%s.iam.gserviceaccount.com" % project),
            "client_id": rdigits(rng, 21, True),
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": "https://oauth2.googleapis.com/token",
        })
        d.line()
    else:
        d.line("# ~/.ssh/authorized_keys")
        d.line("ssh-ed25519 ", N("public_key", "AAAAC3NzaC1lZDI1NTE5AAAAI" + rs(rng, BASE64, 43)),
               " ", N("ssh_comment", rng.choice(["anna@laptop", "deploy@ci-runner",
                                                  "root@build-01"])))
        d.line()
        d.line("# ~/.ssh/id_deploy (copied here by mistake)")
        d.line(E("private_key", private_key(rng)))
        d.line()
        d.line("# server certificate")
        d.line(N("certificate", certificate(rng)))
    return d


NOTES = {"en": "Prefers contact by email.", "de": "Bevorzugt Kontakt per E-Mail.",
         "fr": "Préfère être contacté par courriel.", "es": "Prefiere contacto por correo.",
         "zh": "客户希望通过邮件联系。", "ja": "メールでの連絡を希望。",
         "ar": "يفضل التواصل عبر البريد الإلكتروني.", "ru": "Предпочитает связь по почте."}


PAYMENT_NOTES = {"en": "Web shop order", "de": "Bestellung im Onlineshop",
                 "fr": "Commande en ligne", "es": "Pedido en la tienda online",
                 "zh": "网店订单", "ja": "オンラインショップのご注文", "ar": "طلب من المتجر الإلكتروني",
                 "ru": "Заказ в интернет-магазине"}


def json_record(rng, lang):
    d = Document("json_record", lang, "json")
    person = Person(rng, lang)
    country = person.country
    shape = rng.choice(["customer", "customer", "patient", "payment", "payment", "employee",
                        "kyc"] + (["patient", "employee"] if lang == "en" else []))
    if shape == "patient" and lang not in ("en", "zh"):
        shape = "customer"
    if shape == "employee" and lang != "en":
        shape = "kyc"
    if shape == "customer":
        street, city = rng.choice(STREETS[country]), rng.choice(CITIES[country])
        record = {
            "id": N("customer_id", "cus_" + rs(rng, ALNUM, 14)),
            "name": person.name,
            "email": E("email", person.email()),
            "phone": E("phone", phone(rng, country, "intl")),
            "address": {"line1": street, "city": city,
                        "postal_code": E("postal_code", postcode(rng, country)),
                        "country": country},
            "created_at": N("timestamp", timestamp(rng).strftime("%Y-%m-%dT%H:%M:%SZ")),
            "orders": [N("order_number", order_number(rng)) for _ in range(rng.randint(1, 3))],
            "notes": NOTES[lang],
        }
        if rng.random() < 0.5:
            record["payment_method"] = {"type": "sepa_debit",
                                        "iban": E("iban", iban(rng, IBAN_COUNTRY[country],
                                                               "compact"))}
        else:
            brand, number = card_number(rng, style="compact")
            record["payment_method"] = {"type": "card", "brand": brand,
                                        "number": E("card", number), "exp": expiry(rng)}
        record["app_version"] = N("version", version(rng))
    elif shape == "patient":
        uk = Person(rng, lang, "GB")
        record = {
            "resourceType": "Patient",
            "id": N("uuid", uuid4(rng)),
            "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number",
                            "value": E("nhs_number", nhs(rng, "compact"))}],
            "name": [{"text": uk.name}],
            "birthDate": E("date_of_birth", uk.dob.isoformat()),
            "telecom": [{"system": "phone", "value": E("phone", phone(rng, "GB"))},
                        {"system": "email", "value": E("email", uk.email())}],
            "address": [{"line": [rng.choice(STREETS["GB"])], "city": rng.choice(CITIES["GB"]),
                         "postalCode": E("postal_code", postcode(rng, "GB"))}],
            "meta": {"lastUpdated": N("timestamp", timestamp(rng).strftime(
                "%Y-%m-%dT%H:%M:%S+00:00")), "versionId": str(rng.randint(1, 30))},
        }
    elif shape == "payment":
        brand, number = card_number(rng, style="compact")
        record = {
            "event": "payment.succeeded",
            "id": N("uuid", uuid4(rng)),
            "amount": rng.randint(100, 99999),
            "currency": rng.choice(["eur", "gbp", "usd"]),
            "card": {"brand": brand.lower(), "number": E("card", number), "exp": expiry(rng),
                     "fingerprint": N("hex", rs(rng, ALNUM, 16))},
            "billing_name": person.name,
            "billing_email": E("email", person.email()),
            "description": PAYMENT_NOTES[lang],
            "client_ip": E("ip_address", ip_any(rng)),
            "invoice": N("invoice_number", invoice_number(rng)),
            "created": rng.randint(1700000000, 1720000000),
        }
    elif shape == "employee":
        us = Person(rng, "en", "US")
        record = {
            "employee_id": N("employee_id", "E-%05d" % rng.randint(0, 99999)),
            "name": us.name,
            "ssn": E("ssn", ssn(rng)),
            "date_of_birth": E("date_of_birth", us.dob.isoformat()),
            "email": E("email", us.email()),
            "home_address": {"street": rng.choice(STREETS["US"]), "city": rng.choice(CITIES["US"]),
                             "zip": E("postal_code", postcode(rng, "US"))},
            "payroll": {"routing_number": E("aba_routing", aba(rng)),
                        "account_last4": rdigits(rng, 4)},
            "start_date": N("date", other_date(rng, "en")),
        }
    else:
        if country in ("GB", "US", "DE", "AT", "CH", "FR", "ES", "CN"):
            context, value = id_number(rng, country, person)
            id_doc = {"type": "national_id", "label": context.rstrip(":： "),
                      "number": E("id_number", value)}
        else:
            id_doc = None
        record = {
            "applicant": person.name,
            "date_of_birth": E("date_of_birth", person.dob.isoformat()),
            "nationality": country,
            "documents": [{"type": "passport",
                           "number": E("passport", passport_number(rng, country)),
                           "expires": N("date", date_between(rng, 2026, 2034).isoformat())}],
            "email": E("email", person.email()),
            "submitted_at": N("timestamp", timestamp(rng).strftime("%Y-%m-%dT%H:%M:%SZ")),
            "reviewer_note": NOTES[lang],
        }
        if id_doc is not None:
            record["documents"].append(id_doc)
    emit_json(d, record)
    d.line()
    return d


CSV_HEADERS = {
    "en": ("customer_id", "name", "email", "phone", "city", "postcode", "date_of_birth",
           "signup_date", "lifetime_value", ","),
    "de": ("Kundennr", "Name", "E-Mail", "Telefon", "Ort", "PLZ", "Geburtsdatum",
           "Registriert", "Umsatz", ";"),
    "fr": ("id_client", "nom", "courriel", "téléphone", "ville", "code_postal",
           "date_de_naissance", "inscription", "ca_total", ";"),
    "es": ("id_cliente", "nombre", "correo", "teléfono", "ciudad", "codigo_postal",
           "fecha_nacimiento", "alta", "importe_total", ";"),
    "ru": ("id", "имя", "email", "телефон", "город", "индекс (postcode)", "дата рождения (dob)",
           "регистрация", "сумма", ","),
}


def patient_list(rng, d):
    d.line("nhs_number,name,date_of_birth,phone,next_appointment")
    for _ in range(rng.randint(2, 6)):
        patient = Person(rng, "en", "GB")
        d.line(E("nhs_number", nhs(rng, rng.choice(["compact", "space"]))), ",", patient.name,
               ",", E("date_of_birth", patient.dob.isoformat()), ",",
               E("phone", phone(rng, "GB")), ",",
               N("timestamp", timestamp(rng).strftime("%Y-%m-%d %H:%M")))
    return d


def csv_export(rng, lang):
    fmt = rng.choice(["csv", "csv", "markdown"])
    d = Document("csv_export", lang, fmt)
    if lang == "en" and fmt == "csv" and rng.random() < 0.5:
        return patient_list(rng, d)
    header = CSV_HEADERS[lang]
    sep = header[-1] if fmt == "csv" else " | "
    with_postcode = rng.random() < 0.4
    with_dob = rng.random() < 0.2
    columns = [0, 1, 2, 3, 4] + ([5] if with_postcode else []) + ([6] if with_dob else []) + [7,
                                                                                           8]
    rows = rng.randint(2, 4) if (with_postcode or with_dob) else rng.randint(3, 8)
    if fmt == "markdown":
        d.line("| ", " | ".join(header[c] for c in columns), " |")
        d.line("|", "---|" * len(columns))
    else:
        d.line(sep.join(header[c] for c in columns))
    for _ in range(rows):
        person = Person(rng, lang)
        cells = {
            0: N("customer_id", "C" + rdigits(rng, 6)),
            1: person.name,
            2: E("email", person.email()),
            3: E("phone", phone(rng, person.country)),
            4: rng.choice(CITIES[person.country]).replace(",", ""),
            5: E("postal_code", postcode(rng, person.country)),
            6: E("date_of_birth", person.dob.isoformat()),
            7: N("date", other_date(rng, "en")),
            8: ("%.2f" % (rng.randint(0, 500000) / 100)),
        }
        pieces = []
        for i, c in enumerate(columns):
            if i:
                pieces.append(sep)
            pieces.append(cells[c])
        if fmt == "markdown":
            d.line("| ", pieces, " |")
        else:
            d.line(pieces)
    return d


COMMIT_SUBJECTS = ["Fix race in worker shutdown", "Bump llama.cpp to b%d",
                   "Release v%d.%d.%d", "Add retry with jitter to cloud client",
                   "Refactor placement policy tests", "Update dependencies",
                   "docs: explain the queue limits", "ci: pin runner image"]


def commit_log(rng, lang):
    d = Document("commit_log", lang, "gitlog")
    when = timestamp(rng, 2024)
    for _ in range(rng.randint(2, 6)):
        author = Person(rng, rng.choice(["en", "de", "fr", "es"]))
        if rng.random() < 0.25:
            address_ = "%d+%s@users.noreply.github.com" % (rng.randint(100000, 99999999),
                                                         author.first_ascii + author.last_ascii)
        else:
            address_ = author.email(rng.choice(["example.com", "example.de", "acme-corp.com"]))
        d.line("commit ", N("git_sha", git_sha(rng)))
        if rng.random() < 0.2:
            d.line("Merge: ", N("git_sha", git_sha(rng, 7)), " ", N("git_sha", git_sha(rng, 7)))
        d.line("Author: ", author.name, " <", E("email", address_), ">")
        when -= datetime.timedelta(hours=rng.randint(1, 72), minutes=rng.randint(0, 59))
        d.line("Date:   ", N("timestamp", when.strftime("%a %b %d %H:%M:%S %Y +0100")))
        d.line()
        subject = rng.choice(COMMIT_SUBJECTS)
        if "%d.%d.%d" in subject:
            subject = subject % (rng.randint(1, 4), rng.randint(0, 20), rng.randint(0, 20))
        elif "%d" in subject:
            subject = subject % rng.randint(2000, 4000)
        d.line("    ", subject, " (#", str(rng.randint(100, 5000)), ")")
        d.line()
        if rng.random() < 0.4:
            d.line("    Reverts ", N("git_sha", git_sha(rng, 12)), "; see build ",
                   N("version", "%d.%d.%d" % (rng.randint(1, 3), rng.randint(0, 9),
                                              rng.randint(0, 99))), ".")
            d.line()
        if rng.random() < 0.5:
            reviewer = Person(rng, "en")
            d.line("    Signed-off-by: ", author.name, " <", E("email", address_), ">")
            d.line("    Reviewed-by: ", reviewer.name, " <",
                   E("email", reviewer.email("example.com")), ">")
            d.line()
    return d


INVOICE = {
    "en": ("INVOICE", "Invoice no.", "Invoice date", "Customer no.", "Order no.",
           "Description", "Qty", "Unit price", "Total due", "Please pay to", "Reference",
           "VAT Reg. No.", "Tracking number"),
    "de": ("RECHNUNG", "Rechnungsnr.", "Rechnungsdatum", "Kundennr.", "Bestellnr.",
           "Beschreibung", "Menge", "Einzelpreis", "Gesamtbetrag", "Bitte überweisen an",
           "Verwendungszweck", "USt-IdNr.", "Sendungsnummer"),
    "fr": ("FACTURE", "Facture n°", "Date de facture", "N° client", "N° de commande",
           "Désignation", "Qté", "Prix unitaire", "Total TTC", "Règlement par virement sur",
           "Référence", "N° TVA intracom.", "Numéro de suivi"),
    "es": ("FACTURA", "Factura n.º", "Fecha", "N.º cliente", "N.º pedido", "Descripción",
           "Cant.", "Precio unitario", "Total", "Transferencia a", "Referencia", "NIF-IVA",
           "Número de seguimiento"),
}
PRODUCTS = ["USB-C cable 2 m", "Office chair ErgoPro", "Coffee beans 1 kg",
            "Laptop stand aluminium", "Printer paper A4 (500)", "Noise-cancelling headphones"]


def vat_id(rng, country):
    """A company's VAT number (not personal data)."""
    if country == "ES":
        return "ES" + rng.choice("ABBB") + digit_run(rng, 7, False) + rs(rng, DIGITS + UPPER, 1)
    if country == "FR":
        return "FR" + rdigits(rng, 2) + digit_run(rng, 9)
    return country + digit_run(rng, 9)


def invoice(rng, lang):
    d = Document("invoice", lang, "text")
    (title, no_l, date_l, customer_l, order_l, desc_l, qty_l, unit_l, total_l, pay_l, ref_l,
     vat_l, track_l) = INVOICE[lang]
    company_country = {"en": "GB", "de": "DE", "fr": "FR", "es": "ES"}[lang]
    company = rng.choice(COMPANIES[lang])
    d.line(company)
    d.line(address(rng, company_country))
    d.line(labelled_phone(rng, lang, company_country, "intl"), " · ",
           E("email", company_email(rng, rng.choice(EMAIL_DOMAINS[company_country]))))
    d.line(vat_l, " ", N("vat_id", vat_id(rng, company_country)))
    d.line()
    d.line(title)
    d.line(no_l, " ", N("invoice_number", invoice_number(rng)), "    ", date_l, " ",
           N("date", other_date(rng, lang)))
    d.line(customer_l, " ", N("customer_id", digit_run(rng, rng.choice([6, 8]))), "    ",
           order_l, " ", N("order_number", order_number(rng)))
    d.line()
    d.line(desc_l, " | SKU | EAN | ", qty_l, " | ", unit_l)
    for _ in range(rng.randint(2, 5)):
        d.line(rng.choice(PRODUCTS), " | ", N("sku", sku(rng)), " | ", N("ean", ean13(rng)),
               " | ", str(rng.randint(1, 12)), " | ", N("price", price(rng, lang)))
    d.line()
    d.line(total_l, ": ", N("price", price(rng, lang)))
    d.line(pay_l, " IBAN ", E("iban", iban(rng, company_country)))
    d.line(ref_l, ": ", N("rf_reference", rf_reference(rng)))
    d.line(track_l, ": ", N("tracking_number", tracking_number(rng)))
    return d


def release_notes(rng, lang):
    d = Document("release_notes", lang, "markdown")
    release = "%d.%d.%d" % (rng.randint(1, 4), rng.randint(0, 30), rng.randint(0, 20))
    d.line("## ", N("version", "v" + release), " — ", N("date", other_date(rng, "en")))
    d.line()
    d.line("### Changes")
    for _ in range(rng.randint(3, 6)):
        change = rng.choice(["Fix crash when the model file is truncated",
                             "Upgrade OpenSSL to ", "Faster prompt processing on AVX2",
                             "Add --max-body-bytes option", "Bump base image to ",
                             "Support Unicode in filenames"])
        d.line("- ", change, N("version", version(rng)) if change.endswith(" ") else "", " (#",
               str(rng.randint(100, 5000)), ", ", N("git_sha", git_sha(rng, 7)), ")")
    d.line()
    d.line("### Checksums")
    d.line("```")
    for artefact in ["linux-x86_64.tar.gz", "linux-aarch64.tar.gz", "macos-arm64.zip"]:
        d.line(N("sha256", rs(rng, HEX, 64)), "  hearth-", release, "-", artefact)
    d.line("```")
    d.line()
    d.line("Container image: `ghcr.io/example/hearth:", release, "@sha256:",
           N("sha256", rs(rng, HEX, 64)), "`")
    d.line("Build ", N("build_number", "%d.%d" % (rng.randint(20240101, 20241231),
                                                   rng.randint(1, 9))),
           ", timestamp ", N("timestamp", str(rng.randint(1700000000, 1720000000))),
           ", thanks to @", rng.choice(["anna-dev", "jmueller", "lea_codes"]), "!")
    return d


CHAT = {
    "en": ["Hi, I need to update my card, the new one is {card}, exp {exp}.",
           "Can you send the refund to {iban}? My email is {email}.",
           "Why does this fail? OPENAI_API_KEY={openai} and the model returns 401.",
           "Call me at {phone} about order {order}, thanks!",
           "Here is the token from the logs: {github} — is it still valid?"],
    "de": ["Hallo, bitte die Rückzahlung auf {iban} überweisen. Meine Mail: {email}",
           "Meine neue Karte ist {card}, gültig bis {exp}.",
           "Rufen Sie mich bitte unter {phone} an, es geht um Bestellung {order}.",
           "Warum klappt das nicht? export GITHUB_TOKEN={github}"],
    "fr": ["Bonjour, merci de rembourser sur {iban}. Mon courriel : {email}",
           "Ma nouvelle carte est la {card}, expire {exp}.",
           "Pouvez-vous me rappeler au {phone} pour la commande {order} ?"],
    "es": ["Hola, el reembolso a {iban}, por favor. Mi correo es {email}",
           "Mi nueva tarjeta es {card}, caduca {exp}.",
           "Llámenme al {phone} por el pedido {order}, gracias."],
    "zh": ["你好，我的邮箱是{email}，手机号{phone}。请把退款打到 IBAN {iban}，谢谢！",
           "我的信用卡号是{card}，有效期{exp}，订单号{order}。",
           "这个配置为什么不行？OPENAI_API_KEY={openai}",
           "服务器地址是{ip}，版本{version}。"],
    "ja": ["こんにちは。カード番号{card}（有効期限{exp}）の請求について質問があります。",
           "返金先はIBAN {iban}です。メールは{email}にお願いします。",
           "このトークン{github}はまだ有効ですか？", "電話番号は{phone}です。注文番号は{order}です。"],
    "ar": ["مرحباً، بريدي الإلكتروني {email} ورقم هاتفي {phone}.",
           "أرجو تحويل المبلغ إلى الآيبان {iban} شكراً.",
           "رقم بطاقتي {card} وتنتهي في {exp}، رقم الطلب {order}."],
    "ru": ["Привет! Переведи, пожалуйста, на IBAN {iban}, мой email {email}.",
           "Номер карты {card}, срок действия {exp}. Заказ {order}.",
           "Почему не работает? OPENAI_API_KEY={openai}", "Позвоните мне: {phone}.",
           "Сервер {ip} отвечает с ошибкой, версия {version}."],
}
CHAT_REPLIES = {"en": "Thanks, I have noted that. Anything else?",
                "de": "Danke, ich habe das notiert. Noch etwas?",
                "fr": "Merci, c'est noté. Autre chose ?",
                "es": "Gracias, lo he anotado. ¿Algo más?",
                "zh": "好的，已记录。还有其他问题吗？", "ja": "承知しました。他にご質問はありますか？",
                "ar": "شكراً، تم التسجيل. هل هناك شيء آخر؟",
                "ru": "Спасибо, записал. Что-нибудь ещё?"}
CHAT_COUNTRY = {"en": "GB", "de": "DE", "fr": "FR", "es": "ES", "zh": "CN", "ja": "JP",
                "ar": "AE", "ru": "RU"}


def chat_message(rng, lang):
    d = Document("chat_message", lang, "text")
    person = Person(rng, lang, CHAT_COUNTRY[lang])
    for turn in range(rng.randint(1, 3)):
        if turn:
            d.line("Assistant: ", CHAT_REPLIES[lang])
        template = rng.choice(CHAT[lang])
        d.put("User: ")
        templated(d, template,
                  card=E("card", card_number(rng)[1]), exp=expiry(rng),
                  iban=E("iban", iban(rng, IBAN_COUNTRY[person.country])),
                  email=E("email", person.email()),
                  phone=E("phone", phone(rng, person.country)),
                  order=N("order_number", order_number(rng)),
                  openai=E("openai_key", openai_key(rng)),
                  github=E("github_token", github_token(rng)),
                  ip=E("ip_address", ip_any(rng)), version=N("version", version(rng)))
        d.line()
    return d


FORM_TITLES = {"en": "Customer onboarding form", "de": "Kundenstammblatt / KYC",
               "fr": "Fiche d'ouverture de compte", "es": "Formulario de alta de cliente",
               "zh": "客户开户表 / Account opening form", "ja": "口座開設申込書 / Application form",
               "ar": "نموذج فتح حساب / Account opening form",
               "ru": "Анкета клиента / Customer form"}
FORM_LABELS = {  # name, address, email, issued, expires, nationality
    "en": ("Full name:", "Address:", "Email:", "Issued:", "Expires:", "Nationality:"),
    "de": ("Name:", "Anschrift:", "E-Mail:", "Ausgestellt am:", "Gültig bis:",
           "Staatsangehörigkeit:"),
    "fr": ("Nom :", "Adresse :", "Courriel :", "Délivré le :", "Expire le :", "Nationalité :"),
    "es": ("Nombre:", "Dirección:", "Correo:", "Expedido:", "Caduca:", "Nacionalidad:"),
    "zh": ("姓名：", "地址：", "邮箱：", "签发日期：", "有效期至：", "国籍："),
    "ja": ("氏名：", "住所：", "メール：", "発行日：", "有効期限：", "国籍："),
    "ar": ("الاسم:", "العنوان:", "البريد الإلكتروني:", "تاريخ الإصدار:", "تاريخ الانتهاء:",
           "الجنسية:"),
    "ru": ("ФИО:", "Адрес:", "Email:", "Выдан:", "Действителен до:", "Гражданство:"),
}


def form(rng, lang):
    d = Document("form", lang, "text")
    person = Person(rng, lang)
    country = person.country
    name_l, address_l, email_l, issued_l, expires_l, nationality_l = FORM_LABELS[lang]
    d.line(FORM_TITLES[lang])
    d.line("=" * 32)
    d.line(name_l, " ", person.name)
    d.line(labelled_dob(rng, lang, person))
    d.line(nationality_l, " ", country)
    d.line(labelled_passport(rng, lang, country))
    d.line("  ", issued_l, " ", N("date", date_between(rng, 2016, 2023).isoformat()), "  ",
           expires_l, " ", N("date", date_between(rng, 2026, 2033).isoformat()))
    if country in ("GB", "US", "DE", "AT", "CH", "FR", "ES", "CN") and rng.random() < 0.7:
        context, value = id_number(rng, country, person)
        d.line(context, " ", E("id_number", value))
    if country == "US":
        d.line(rng.choice(["SSN:", "Social Security Number:", "SSN (last 4 shown on card):"]),
               " ", E("ssn", ssn(rng, rng.choice(["dash", "dash", "space"]))))
        if rng.random() < 0.6:
            d.line("Direct deposit — routing number: ", E("aba_routing", aba(rng)))
        d.line("Reference: ", N("invalid_ssn", invalid_ssn(rng)), " (internal case number)")
    d.line(address_l, " ", address(rng, country))
    d.line(labelled_phone(rng, lang, country))
    d.line(email_l, " ", E("email", person.email()))
    d.line({"en": "Customer ID:", "de": "Kundennummer:", "fr": "Identifiant client :",
            "es": "ID de cliente:"}.get(lang, "Customer ID:"), " ",
           N("customer_id", "CUST-%06d" % rng.randint(0, 999999)))
    d.line({"en": "Submitted:", "de": "Eingereicht:", "fr": "Soumis le :",
            "es": "Enviado:"}.get(lang, "Submitted:"), " ",
           N("timestamp", timestamp(rng).strftime("%Y-%m-%d %H:%M")))
    return d


HR_TITLES = ["Employee onboarding — payroll and direct deposit",
             "Form W-4 worksheet (internal copy)", "New hire record",
             "Direct deposit authorization"]


def hr_record(rng, lang):
    fmt = rng.choice(["text", "markdown"])
    d = Document("hr_record", lang, fmt)
    employee = Person(rng, "en", "US")
    bullet = "- " if fmt == "markdown" else ""
    d.line("# " if fmt == "markdown" else "", rng.choice(HR_TITLES))
    d.line()
    d.line(bullet, "Employee: ", employee.name, " (employee ID ",
           N("employee_id", "E-%05d" % rng.randint(0, 99999)), ")")
    d.line(bullet, rng.choice(["SSN:", "Social Security Number:", "SSN", "Social Security No."]),
           " ", E("ssn", ssn(rng, rng.choice(["dash", "dash", "dash", "space", "plain"]))))
    if rng.random() < 0.6:
        d.line(bullet, labelled_dob(rng, "en", employee))
    d.line(bullet, "Home address: ", address(rng, "US"))
    d.line(bullet, labelled_phone(rng, "en", "US"))
    d.line(bullet, "Personal email: ", E("email", employee.email()))
    d.line(bullet, "Bank: ", rng.choice(["Chase", "Wells Fargo", "Bank of America", "US Bank",
                                          "Citibank", "PNC"]))
    d.line(bullet, rng.choice(["Routing number:", "ABA routing number:", "Routing no.",
                               "ABA/RTN:", "Routing (ABA):"]), " ", E("aba_routing", aba(rng)))
    d.line(bullet, "Account: checking, ending in ", rdigits(rng, 4))
    if rng.random() < 0.4:
        d.line(bullet, "Second account (savings) routing number: ", E("aba_routing", aba(rng)),
               ", split 20%")
    d.line(bullet, "Start date: ", N("date", other_date(rng, "en")), "; salary ",
           N("price", price(rng, "en")), " per year")
    d.line(bullet, "Claim no. ", N("digits", digit_run(rng, 9)), " (benefits enrolment)")
    d.line(bullet, "Case ", N("invalid_ssn", invalid_ssn(rng)), " opened by HR on ",
           N("date", other_date(rng, "en")))
    return d


# --------------------------------------------------------------------------------------------
# The corpus

KINDS = {  # kind: (generator, languages, weight)
    "clinical_note": (clinical_note, ["en", "en", "en", "en", "de", "fr", "es", "zh", "ar"], 13),
    "support_ticket": (support_ticket, ["en", "de", "fr", "es", "ja", "ru"], 10),
    "contract": (contract, ["en", "en", "en", "de", "fr", "es"], 8),
    "bank_statement": (bank_statement, ["en", "de", "fr", "es"], 7),
    "hr_record": (hr_record, ["en"], 9),
    "log": (log_lines, ["en", "en", "ru", "zh"], 9),
    "code": (code_snippet, ["en", "en", "de", "ja", "zh"], 12),
    "config": (config_file, ["en"], 10),
    "json_record": (json_record, LANGUAGES, 10),
    "csv_export": (csv_export, ["en", "en", "en", "de", "fr", "es", "ru"], 6),
    "commit_log": (commit_log, ["en"], 3),
    "invoice": (invoice, ["en", "de", "fr", "es"], 5),
    "release_notes": (release_notes, ["en"], 3),
    "chat_message": (chat_message, LANGUAGES, 7),
    "form": (form, LANGUAGES, 9),
}


def generate_documents(seed=DEFAULT_SEED, count=DEFAULT_DOCUMENTS):
    rng = random.Random(seed)
    combos = []
    for kind, (_, languages, _) in KINDS.items():
        for lang in dict.fromkeys(languages):
            combos.append((kind, lang))
    names = list(KINDS)
    weights = [KINDS[k][2] for k in names]
    documents = []
    for i in range(count):
        if i < len(combos):
            kind, lang = combos[i]
        else:
            kind = rng.choices(names, weights)[0]
            lang = rng.choice(KINDS[kind][1])
        document = KINDS[kind][0](rng, lang)
        document.id = "doc-%05d" % (i + 1)
        documents.append(document)
    return documents


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--documents", type=int, default=DEFAULT_DOCUMENTS)
    parser.add_argument("--output", help="JSONL file to write (default: stdout)")
    args = parser.parse_args(argv)
    if args.documents < 1:
        parser.error("--documents must be at least 1")
    lines = [json.dumps(doc.record(), ensure_ascii=False) + "\n"
             for doc in generate_documents(args.seed, args.documents)]
    if args.output:
        with open(args.output, "w", encoding="utf-8", newline="\n") as out:
            out.writelines(lines)
    else:
        sys.stdout.writelines(lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
