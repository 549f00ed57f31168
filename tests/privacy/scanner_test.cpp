// The scanner: data-driven golden cases (tests/privacy/cases/*.txt, format below), then the
// interface contract: configuration errors, the entity table, spans in any script, invalid
// UTF-8, overlap resolution, several scanners and several threads at once.
//
// A case file holds settings lines, then cases:
//
//   # a comment
//   @disable email                       built-in entities not looked for, for the whole file
//   @custom name=matter pattern=M-\d{6} validator=luhn placeholder=MATTER labels=legal,pii
//   @custom name=client terms=Acme Corp|Globex
//   === case name                        [escaped] after the name: \xHH \n \t \\ in the text
//                                        and in the expected values
//   the text, one or more lines
//   ---
//   entity: exact substring              each expected finding, in order; none when empty
//   ! invalid 12                          or: the text is refused, first invalid byte at 12
#include "privacy/scanner.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace hearth::privacy {
namespace {

struct Expected {
  std::string entity;
  std::string value;
};

struct Case {
  std::string name;
  int line = 0;
  std::string text;
  std::vector<Expected> findings;
  bool invalid = false;
  std::size_t invalid_offset = 0;
};

struct CaseFile {
  std::string path;
  ScannerSettings settings;
  std::vector<Case> cases;
};

std::string unescape(const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\' || i + 1 >= text.size()) {
      out += text[i];
      continue;
    }
    const char c = text[++i];
    if (c == 'n') {
      out += '\n';
    } else if (c == 't') {
      out += '\t';
    } else if (c == '\\') {
      out += '\\';
    } else if (c == 'x' && i + 2 < text.size()) {
      out += static_cast<char>(std::stoi(text.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += '\\';
      out += c;
    }
  }
  return out;
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(text);
  while (std::getline(in, part, separator)) parts.push_back(part);
  return parts;
}

// "@custom name=x pattern=... validator=..." : values run to the next " key=" of a known key.
CustomEntity parse_custom(const std::string& line) {
  static const std::vector<std::string> kKeys = {"name",      "pattern", "terms",
                                                 "validator", "labels",  "placeholder"};
  CustomEntity custom;
  std::size_t pos = 0;
  while (pos < line.size()) {
    const std::size_t equals = line.find('=', pos);
    if (equals == std::string::npos) break;
    const std::string key = line.substr(pos, equals - pos);
    std::size_t next = std::string::npos;
    for (const std::string& candidate : kKeys) {
      const std::size_t at = line.find(" " + candidate + "=", equals + 1);
      if (at != std::string::npos && (next == std::string::npos || at < next)) next = at;
    }
    const std::string value =
        line.substr(equals + 1, next == std::string::npos ? std::string::npos : next - equals - 1);
    if (key == "name") custom.name = value;
    if (key == "pattern") custom.pattern = value;
    if (key == "terms") custom.terms = split(value, '|');
    if (key == "validator") custom.validator = value;
    if (key == "labels") custom.labels = split(value, ',');
    if (key == "placeholder") custom.placeholder = value;
    if (next == std::string::npos) break;
    pos = next + 1;
  }
  return custom;
}

CaseFile parse_case_file(const std::filesystem::path& path) {
  CaseFile file;
  file.path = path.filename().string();
  std::ifstream in(path, std::ios::binary);
  std::string line;
  int number = 0;
  enum { kHeader, kText, kFindings } state = kHeader;
  Case current;
  bool escaped = false;
  std::vector<std::string> text_lines;
  auto finish = [&] {
    if (current.name.empty()) return;
    std::string text;
    for (std::size_t i = 0; i < text_lines.size(); ++i) {
      if (i > 0) text += '\n';
      text += text_lines[i];
    }
    current.text = escaped ? unescape(text) : text;
    file.cases.push_back(current);
    current = Case{};
    text_lines.clear();
  };
  while (std::getline(in, line)) {
    ++number;
    if (line.rfind("=== ", 0) == 0) {
      finish();
      state = kText;
      std::string name = line.substr(4);
      escaped = name.size() >= 9 && name.substr(name.size() - 9) == "[escaped]";
      if (escaped) name = name.substr(0, name.size() - 10);
      current.name = name;
      current.line = number;
      continue;
    }
    if (state == kHeader) {
      if (line.rfind("@disable ", 0) == 0) file.settings.disabled.push_back(line.substr(9));
      if (line.rfind("@custom ", 0) == 0)
        file.settings.custom.push_back(parse_custom(line.substr(8)));
      continue;
    }
    if (state == kText) {
      if (line == "---") {
        state = kFindings;
      } else {
        text_lines.push_back(line);
      }
      continue;
    }
    if (line.empty() || line[0] == '#') continue;
    if (line.rfind("! invalid ", 0) == 0) {
      current.invalid = true;
      current.invalid_offset = std::stoul(line.substr(10));
      continue;
    }
    const std::size_t colon = line.find(": ");
    if (colon == std::string::npos) {
      ADD_FAILURE() << path << ":" << number << ": expected 'entity: value', got '" << line << "'";
      continue;
    }
    const std::string value = line.substr(colon + 2);
    current.findings.push_back({line.substr(0, colon), escaped ? unescape(value) : value});
  }
  finish();
  return file;
}

std::string describe(const std::string& text, const std::vector<std::string>& names,
                     const std::vector<std::pair<std::size_t, std::size_t>>& spans) {
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    out += "    " + names[i] + ": " +
           text.substr(spans[i].first, spans[i].second - spans[i].first) + "  [" +
           std::to_string(spans[i].first) + ", " + std::to_string(spans[i].second) + ")\n";
  }
  return out.empty() ? "    (none)\n" : out;
}

TEST(ScannerGolden, EveryCaseFile) {
  const std::filesystem::path directory = HEARTH_PRIVACY_CASES_DIR;
  std::vector<std::filesystem::path> paths;
  for (const auto& entry : std::filesystem::directory_iterator(directory)) {
    if (entry.path().extension() == ".txt") paths.push_back(entry.path());
  }
  std::sort(paths.begin(), paths.end());
  ASSERT_GE(paths.size(), 10u) << "case files missing in " << directory;
  std::size_t total = 0;
  std::size_t positives = 0;
  for (const auto& path : paths) {
    const CaseFile file = parse_case_file(path);
    EXPECT_FALSE(file.cases.empty()) << file.path;
    auto created = Scanner::create(file.settings);
    ASSERT_TRUE(created) << file.path << ": " << created.error();
    const Scanner& scanner = **created;
    for (const Case& test : file.cases) {
      ++total;
      positives += test.findings.size();
      SCOPED_TRACE(file.path + ":" + std::to_string(test.line) + " (" + test.name + ")");
      const auto scanned = scanner.scan(test.text);
      if (test.invalid) {
        ASSERT_FALSE(scanned) << "invalid UTF-8 accepted";
        EXPECT_EQ(scanned.error().offset, test.invalid_offset);
        EXPECT_FALSE(scanned.error().message.empty());
        continue;
      }
      ASSERT_TRUE(scanned) << "refused at byte " << scanned.error().offset;
      std::vector<std::string> expected_names;
      std::vector<std::pair<std::size_t, std::size_t>> expected_spans;
      std::size_t cursor = 0;
      bool located = true;
      for (const auto& finding : test.findings) {
        const std::size_t at = test.text.find(finding.value, cursor);
        if (at == std::string::npos) {
          ADD_FAILURE() << "expected value '" << finding.value << "' is not in the text";
          located = false;
          break;
        }
        expected_names.push_back(finding.entity);
        expected_spans.emplace_back(at, at + finding.value.size());
        cursor = at + finding.value.size();
      }
      if (!located) continue;
      std::vector<std::string> actual_names;
      std::vector<std::pair<std::size_t, std::size_t>> actual_spans;
      for (const Finding& finding : *scanned) {
        actual_names.push_back(scanner.entity(finding).name);
        actual_spans.emplace_back(finding.begin, finding.end);
      }
      EXPECT_TRUE(actual_names == expected_names && actual_spans == expected_spans)
          << "expected:\n"
          << describe(test.text, expected_names, expected_spans) << "found:\n"
          << describe(test.text, actual_names, actual_spans);
    }
  }
  // The suites must stay substantial: a parser bug that drops cases must not pass silently.
  EXPECT_GE(total, 200u);
  EXPECT_GE(positives, 200u);
}

// --- configuration ---

TEST(Scanner, BuiltinEntitiesInFixedOrderWithLabels) {
  const std::vector<std::string> expected = {
      "card",         "iban",        "ssn",         "aba_routing",    "nhs_number",
      "email",        "phone",       "ip_address",  "date_of_birth",  "postal_code",
      "passport",     "id_number",   "private_key", "aws_access_key", "github_token",
      "gitlab_token", "slack_token", "stripe_key",  "openai_key",     "jwt",
      "password",     "secret"};
  EXPECT_EQ(Scanner::builtin_entities(), expected);
  auto scanner = Scanner::create({});
  ASSERT_TRUE(scanner);
  const auto& entities = (*scanner)->entities();
  ASSERT_EQ(entities.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(entities[i].name, expected[i]);
  EXPECT_EQ(entities[0].placeholder, "CARD");
  EXPECT_EQ(entities[0].labels, std::vector<std::string>{"financial"});
  EXPECT_EQ(entities[4].placeholder, "NHS");
  EXPECT_EQ(entities[4].labels, (std::vector<std::string>{"health", "pii"}));
  EXPECT_EQ(entities[5].placeholder, "EMAIL");
  EXPECT_EQ(entities[5].labels, std::vector<std::string>{"pii"});
  EXPECT_EQ(entities[13].placeholder, "AWS_KEY");
  EXPECT_EQ(entities[21].labels, std::vector<std::string>{"secret"});
  EXPECT_EQ(Scanner::validator_names(),
            (std::vector<std::string>{"luhn", "mod97", "mod11", "aba", "verhoeff"}));
}

TEST(Scanner, CustomEntityDefaultsAndExplicitSettings) {
  ScannerSettings settings;
  settings.custom.push_back({"matter-no", R"(\bM-\d{6}\b)", {}, "", {}, ""});
  settings.custom.push_back({"client", "", {"Acme"}, "", {"legal", "pii"}, "CLIENT_NAME"});
  auto scanner = Scanner::create(settings);
  ASSERT_TRUE(scanner) << scanner.error();
  const auto& entities = (*scanner)->entities();
  ASSERT_EQ(entities.size(), Scanner::builtin_entities().size() + 2);
  const EntityInfo& matter = entities[entities.size() - 2];
  EXPECT_EQ(matter.name, "custom:matter-no");
  EXPECT_EQ(matter.placeholder, "MATTER_NO");
  EXPECT_EQ(matter.labels, std::vector<std::string>{"custom:matter-no"});
  const EntityInfo& client = entities.back();
  EXPECT_EQ(client.name, "custom:client");
  EXPECT_EQ(client.placeholder, "CLIENT_NAME");
  EXPECT_EQ(client.labels, (std::vector<std::string>{"legal", "pii"}));
  const auto found = (*scanner)->scan("Matter M-123456 for Acme.");
  ASSERT_TRUE(found);
  ASSERT_EQ(found->size(), 2u);
  EXPECT_EQ((*scanner)->entity((*found)[0]).name, "custom:matter-no");
  EXPECT_EQ((*scanner)->entity((*found)[1]).name, "custom:client");
}

std::string create_error(const ScannerSettings& settings) {
  auto scanner = Scanner::create(settings);
  return scanner ? std::string() : scanner.error();
}

TEST(Scanner, ConfigurationErrorsNameTheEntity) {
  ScannerSettings unknown_disabled;
  unknown_disabled.disabled = {"emails"};
  EXPECT_NE(create_error(unknown_disabled).find("emails"), std::string::npos);

  ScannerSettings bad_regex;
  bad_regex.custom.push_back({"broken", "(unclosed", {}, "", {}, ""});
  EXPECT_NE(create_error(bad_regex).find("'broken'"), std::string::npos);

  ScannerSettings lookbehind;  // not supported by Vectorscan
  lookbehind.custom.push_back({"behind", "(?<=a)b", {}, "", {}, ""});
  EXPECT_NE(create_error(lookbehind).find("'behind'"), std::string::npos);

  ScannerSettings matches_empty;
  matches_empty.custom.push_back({"empty-match", "a*", {}, "", {}, ""});
  EXPECT_NE(create_error(matches_empty).find("'empty-match'"), std::string::npos);

  ScannerSettings neither;
  neither.custom.push_back({"nothing", "", {}, "", {}, ""});
  EXPECT_NE(create_error(neither).find("'nothing'"), std::string::npos);

  ScannerSettings both;
  both.custom.push_back({"both", "x", {"y"}, "", {}, ""});
  EXPECT_NE(create_error(both).find("'both'"), std::string::npos);

  ScannerSettings unknown_validator;
  unknown_validator.custom.push_back({"v", R"(\d+)", {}, "crc32", {}, ""});
  EXPECT_NE(create_error(unknown_validator).find("crc32"), std::string::npos);

  ScannerSettings validator_on_terms;
  validator_on_terms.custom.push_back({"t", "", {"x"}, "luhn", {}, ""});
  EXPECT_NE(create_error(validator_on_terms).find("'t'"), std::string::npos);

  ScannerSettings empty_term;
  empty_term.custom.push_back({"terms", "", {"ok", "  "}, "", {}, ""});
  EXPECT_NE(create_error(empty_term).find("'terms'"), std::string::npos);

  ScannerSettings twice;
  twice.custom.push_back({"dup", "x", {}, "", {}, ""});
  twice.custom.push_back({"dup", "y", {}, "", {}, ""});
  EXPECT_NE(create_error(twice).find("'dup'"), std::string::npos);

  ScannerSettings invalid_utf8;
  invalid_utf8.custom.push_back({"bytes", "a\xFF", {}, "", {}, ""});
  EXPECT_NE(create_error(invalid_utf8).find("'bytes'"), std::string::npos);
}

TEST(Scanner, DisabledEntitiesAreNotLookedForButKeepTheirIndex) {
  ScannerSettings settings;
  settings.disabled = {"email", "card"};
  auto scanner = Scanner::create(settings);
  ASSERT_TRUE(scanner);
  EXPECT_EQ((*scanner)->entities().size(), Scanner::builtin_entities().size());
  const auto found = (*scanner)->scan("jane@example.com 4111 1111 1111 1111 SSN 123-45-6789");
  ASSERT_TRUE(found);
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*scanner)->entity((*found)[0]).name, "ssn");
  EXPECT_EQ((*found)[0].entity, 2u);
}

TEST(Scanner, EverythingDisabledStillValidatesText) {
  ScannerSettings settings;
  settings.disabled = Scanner::builtin_entities();
  auto scanner = Scanner::create(settings);
  ASSERT_TRUE(scanner);
  const auto found = (*scanner)->scan("jane@example.com");
  ASSERT_TRUE(found);
  EXPECT_TRUE(found->empty());
  EXPECT_FALSE((*scanner)->scan("bad \xC3"));
}

// Cards and IP addresses come only from the anchors C++ finds (class_anchors): with every other
// built-in disabled the Vectorscan database is empty, and they must still be found.
TEST(Scanner, OnlyTheClassAnchorsLeftStillFindTheirEntities) {
  ScannerSettings settings;
  for (const std::string& name : Scanner::builtin_entities()) {
    if (name != "card" && name != "ip_address") settings.disabled.push_back(name);
  }
  auto scanner = Scanner::create(settings);
  ASSERT_TRUE(scanner);
  const std::string text =
      "jane@example.com paid with 4111 1111 1111 1111 from 2001:db8:85a3:1:2:8a2e:370:7334";
  const auto found = (*scanner)->scan(text);
  ASSERT_TRUE(found);
  ASSERT_EQ(found->size(), 2u);
  EXPECT_EQ((*scanner)->entity((*found)[0]).name, "card");
  EXPECT_EQ(text.substr((*found)[0].begin, (*found)[0].end - (*found)[0].begin),
            "4111 1111 1111 1111");
  EXPECT_EQ((*scanner)->entity((*found)[1]).name, "ip_address");
  EXPECT_EQ(text.substr((*found)[1].begin), "2001:db8:85a3:1:2:8a2e:370:7334");

  // And a configured pattern joins them in the database.
  settings.custom.push_back({"matter", R"(\bM-\d{6}\b)", {}, "", {}, ""});
  auto with_custom = Scanner::create(settings);
  ASSERT_TRUE(with_custom);
  const auto also = (*with_custom)->scan(text + " M-123456");
  ASSERT_TRUE(also);
  ASSERT_EQ(also->size(), 3u);
  EXPECT_EQ((*with_custom)->entity((*also)[2]).name, "custom:matter");
}

// --- spans and texts ---

TEST(Scanner, InvalidUtf8IsAnInputErrorWithItsOffset) {
  auto scanner = Scanner::create({});
  ASSERT_TRUE(scanner);
  const auto refused = (*scanner)->scan("mail jane@example.com \xED\xA0\x80 tail");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().offset, 22u);
  EXPECT_NE(refused.error().message.find("22"), std::string::npos);
  const auto empty = (*scanner)->scan("");
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
}

TEST(Scanner, ConfidenceReflectsHowAFindingWasValidated) {
  auto scanner = Scanner::create({});
  ASSERT_TRUE(scanner);
  auto confidence = [&](const std::string& text) {
    const auto found = (*scanner)->scan(text);
    return found && found->size() == 1 ? (*found)[0].confidence : -1.0;
  };
  EXPECT_GE(confidence("card 4111 1111 1111 1111"), 0.95);       // checksum
  EXPECT_GE(confidence("IBAN DE89370400440532013000"), 0.95);    // checksum
  const double labelled = confidence("Passport No. C01X00T47");  // context word
  EXPECT_GE(labelled, 0.8);
  EXPECT_LE(labelled, 0.9);
  const double heuristic = confidence("phone 0171-1234567 or later");  // shape and context
  EXPECT_GE(heuristic, 0.6);
  EXPECT_LT(confidence("the secret is 8f7a9c2b1d4e6f80a1b2c3d4e5f6a7b8"), 0.8);  // entropy
}

// Random text in many scripts with values spliced in: no crash, every span on character
// boundaries, sorted, not overlapping, and the spliced values found.
TEST(Scanner, SpansStayOnCharacterBoundariesInAnyScript) {
  auto scanner = Scanner::create({});
  ASSERT_TRUE(scanner);
  const std::vector<std::string> pieces = {"中文",
                                           "日本語です",
                                           "한국어",
                                           "العربية",
                                           "עברית",
                                           "Ελληνικά",
                                           "русский",
                                           "हिन्दी",
                                           "ไทย",
                                           "😀",
                                           "👩‍⚕️",
                                           "e\u0301",
                                           "ß",
                                           " ",
                                           "\n",
                                           ".",
                                           ",",
                                           "@",
                                           "+",
                                           "-",
                                           "0",
                                           "7",
                                           "12",
                                           ":",
                                           "::",
                                           "\u00A0",
                                           "«",
                                           "»",
                                           "x",
                                           "AB",
                                           "\t"};
  const std::vector<std::pair<std::string, std::string>> values = {
      {"email", "jane.doe@example.com"},
      {"card", "4111 1111 1111 1111"},
      {"iban", "DE89 3704 0044 0532 0130 00"},
      {"github_token", "ghp_abcdefghijklmnopqrstuvwxyz0123456789"},
      {"ip_address", "192.168.10.24"}};
  std::mt19937 random(42);
  for (int round = 0; round < 400; ++round) {
    std::string text;
    std::vector<std::string> inserted;
    const int length = 5 + static_cast<int>(random() % 60);
    for (int i = 0; i < length; ++i) {
      if (random() % 12 == 0) {
        const auto& value = values[random() % values.size()];
        text += ", " + value.second + ", ";
        inserted.push_back(value.first);
      } else {
        text += pieces[random() % pieces.size()];
      }
    }
    const auto found = (*scanner)->scan(text);
    ASSERT_TRUE(found) << text;
    std::size_t previous_end = 0;
    for (const Finding& finding : *found) {
      ASSERT_LT(finding.begin, finding.end);
      ASSERT_LE(finding.end, text.size());
      ASSERT_GE(finding.begin, previous_end) << "overlap or unsorted in: " << text;
      previous_end = finding.end;
      EXPECT_NE(static_cast<unsigned char>(text[finding.begin]) & 0xC0, 0x80) << text;
      if (finding.end < text.size()) {
        EXPECT_NE(static_cast<unsigned char>(text[finding.end]) & 0xC0, 0x80) << text;
      }
    }
    for (const std::string& name : inserted) {
      const bool present = std::any_of(found->begin(), found->end(), [&](const Finding& f) {
        return (*scanner)->entity(f).name == name;
      });
      EXPECT_TRUE(present) << name << " not found in: " << text;
    }
  }
}

// Arbitrary valid UTF-8 (random code points, including the characters patterns anchor on)
// never crashes and never yields spans off character boundaries.
TEST(Scanner, RandomValidUtf8NeverBreaksSpans) {
  auto scanner = Scanner::create({});
  ASSERT_TRUE(scanner);
  std::mt19937 random(7);
  const std::string anchors = "0123456789 .-+@:/=\"'()[]{}#_ABCDEFabcdefxyzXYZ\n";
  for (int round = 0; round < 300; ++round) {
    std::string text;
    const int length = static_cast<int>(random() % 400);
    for (int i = 0; i < length; ++i) {
      const unsigned kind = random() % 10;
      char32_t c;
      if (kind < 7) {
        text += anchors[random() % anchors.size()];
        continue;
      }
      if (kind == 7) {
        c = 0x80 + random() % 0x780;
      } else if (kind == 8) {
        c = 0x800 + random() % 0xF000;
        if (c >= 0xD800 && c <= 0xDFFF) c = 0x4E2D;
      } else {
        c = 0x10000 + random() % 0x100000;
      }
      if (c < 0x800) {
        text += static_cast<char>(0xC0 | (c >> 6));
        text += static_cast<char>(0x80 | (c & 0x3F));
      } else if (c < 0x10000) {
        text += static_cast<char>(0xE0 | (c >> 12));
        text += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        text += static_cast<char>(0x80 | (c & 0x3F));
      } else {
        text += static_cast<char>(0xF0 | (c >> 18));
        text += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
        text += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        text += static_cast<char>(0x80 | (c & 0x3F));
      }
    }
    ASSERT_EQ(first_invalid_utf8(text), std::string_view::npos);
    const auto found = (*scanner)->scan(text);
    ASSERT_TRUE(found);
    std::size_t previous_end = 0;
    for (const Finding& finding : *found) {
      ASSERT_LT(finding.begin, finding.end);
      ASSERT_LE(finding.end, text.size());
      ASSERT_GE(finding.begin, previous_end);
      previous_end = finding.end;
      ASSERT_NE(static_cast<unsigned char>(text[finding.begin]) & 0xC0, 0x80);
      if (finding.end < text.size()) {
        ASSERT_NE(static_cast<unsigned char>(text[finding.end]) & 0xC0, 0x80);
      }
    }
  }
}

// --- overlaps ---

TEST(Scanner, OverlapsGoToTheMoreConfidentThenTheLonger) {
  ScannerSettings settings;
  // Checksum-validated custom match (0.97) against the built-in card (0.97): same confidence,
  // the longer wins.
  settings.custom.push_back({"account", R"(ACCT 4111 1111 1111 1111)", {}, "luhn", {}, ""});
  // A plain custom regex (0.9) overlapping an e-mail address (0.95): the e-mail wins.
  settings.custom.push_back({"mailbox", R"(jane\.doe@example)", {}, "", {}, ""});
  // A term (0.9) overlapping a heuristic phone number (0.75): the term wins.
  settings.custom.push_back({"hotline", "", {"hotline 020 7946 0958"}, "", {}, ""});
  auto scanner = Scanner::create(settings);
  ASSERT_TRUE(scanner) << scanner.error();
  const std::string text = "ACCT 4111 1111 1111 1111; jane.doe@example.com; hotline 020 7946 0958.";
  const auto found = (*scanner)->scan(text);
  ASSERT_TRUE(found);
  ASSERT_EQ(found->size(), 3u);
  EXPECT_EQ((*scanner)->entity((*found)[0]).name, "custom:account");
  EXPECT_EQ(text.substr((*found)[0].begin, (*found)[0].end - (*found)[0].begin),
            "ACCT 4111 1111 1111 1111");
  EXPECT_EQ((*scanner)->entity((*found)[1]).name, "email");
  EXPECT_EQ(text.substr((*found)[1].begin, (*found)[1].end - (*found)[1].begin),
            "jane.doe@example.com");
  EXPECT_EQ((*scanner)->entity((*found)[2]).name, "custom:hotline");
}

TEST(Scanner, ManyFindingsInOneText) {
  auto scanner = Scanner::create({});
  ASSERT_TRUE(scanner);
  std::string text;
  for (int i = 0; i < 2000; ++i) text += "user" + std::to_string(i) + "@example.com, 10.0.0.1; ";
  const auto found = (*scanner)->scan(text);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->size(), 4000u);
  for (std::size_t i = 1; i < found->size(); ++i) {
    EXPECT_LE((*found)[i - 1].end, (*found)[i].begin);
  }
}

// A long table whose rows all hold a context word ("call back") in a short cell: each row must
// not be taken for a header and re-read the rest of the table. Ten times the rows must take
// about ten times as long, not a hundred.
TEST(Scanner, ContextWordsInEveryRowOfALongTableStayLinear) {
  auto scanner = Scanner::create({});
  ASSERT_TRUE(scanner);
  auto table = [](int rows) {
    std::string text = "name,notes,phone\n";
    for (int i = 0; i < rows; ++i) text += "Ana,call back,020 7946 0958\n";
    return text;
  };
  auto seconds = [&](const std::string& text, std::size_t expected) {
    double best = 1e9;
    for (int round = 0; round < 3; ++round) {
      const auto start = std::chrono::steady_clock::now();
      const auto found = (*scanner)->scan(text);
      best = std::min(
          best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      EXPECT_TRUE(found && found->size() == expected);
    }
    return best;
  };
  const double small = seconds(table(3000), 3000);
  const double large = seconds(table(30000), 30000);
  EXPECT_LT(large, 35 * small + 0.02) << "3000 rows: " << small << " s, 30000 rows: " << large;
}

// Term lists of customer names run into thousands: they must compile in well under a second
// (as literals; patterns with repeats took over a minute for 5,000) and match each term.
TEST(Scanner, ThousandsOfTermsCompileAndMatch) {
  ScannerSettings settings;
  CustomEntity clients{"clients", "", {}, "", {}, ""};
  for (int i = 0; i < 5000; ++i) {
    clients.terms.push_back("Client Name " + std::to_string(i * 7919 % 100000) + " Ltd");
  }
  settings.custom.push_back(clients);
  const auto start = std::chrono::steady_clock::now();
  auto scanner = Scanner::create(settings);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(scanner) << scanner.error();
  EXPECT_LT(seconds, 20.0);
  const std::string text =
      "met CLIENT NAME 7919 LTD and client  name 15838\nltd, not Client Name 7919 Limited";
  const auto found = (*scanner)->scan(text);
  ASSERT_TRUE(found);
  ASSERT_EQ(found->size(), 2u);
  EXPECT_EQ(text.substr((*found)[0].begin, (*found)[0].end - (*found)[0].begin),
            "CLIENT NAME 7919 LTD");
  EXPECT_EQ(text.substr((*found)[1].begin, (*found)[1].end - (*found)[1].begin),
            "client  name 15838\nltd");
}

// --- scanners and threads ---

TEST(Scanner, SeveralScannersOnOneThread) {
  ScannerSettings only_terms;
  only_terms.disabled = Scanner::builtin_entities();
  only_terms.custom.push_back({"code", "", {"Project Bluebird"}, "", {}, ""});
  auto first = Scanner::create({});
  auto second = Scanner::create(only_terms);
  ASSERT_TRUE(first);
  ASSERT_TRUE(second);
  const std::string text = "Project Bluebird: mail jane@example.com";
  for (int i = 0; i < 3; ++i) {
    const auto a = (*first)->scan(text);
    const auto b = (*second)->scan(text);
    ASSERT_TRUE(a);
    ASSERT_TRUE(b);
    ASSERT_EQ(a->size(), 1u);
    EXPECT_EQ((*first)->entity((*a)[0]).name, "email");
    ASSERT_EQ(b->size(), 1u);
    EXPECT_EQ((*second)->entity((*b)[0]).name, "custom:code");
  }
  // A scanner destroyed and another built: the thread's scratch serves the new one.
  first = Scanner::create({});
  ASSERT_TRUE(first);
  const auto again = (*first)->scan(text);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->size(), 1u);
}

TEST(Scanner, FourThreadsScanAtOnce) {
  ScannerSettings settings;
  settings.custom.push_back({"client", "", {"Acme Corp", "Globex"}, "", {}, ""});
  auto created = Scanner::create(settings);
  ASSERT_TRUE(created);
  const std::shared_ptr<const Scanner> scanner = *created;
  const std::vector<std::string> texts = {
      "Card 4111 1111 1111 1111, mail jane@example.com, IBAN DE89 3704 0044 0532 0130 00",
      "Acme Corp and Globex: SSN 123-45-6789, NHS number 943 476 5919, DOB: 1985-03-15",
      "password=hunter22 token ghp_abcdefghijklmnopqrstuvwxyz0123456789 from 10.1.2.3",
      "中文 +44 20 7946 0958 🙂 eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLXZhbHVl",
      "nothing sensitive at all in this one, just words and 12 numbers"};
  std::vector<std::vector<Finding>> reference;
  for (const std::string& text : texts) {
    auto found = scanner->scan(text);
    ASSERT_TRUE(found);
    reference.push_back(*found);
  }
  ASSERT_FALSE(reference[0].empty());
  std::atomic<int> mismatches{0};
  std::atomic<bool> start{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      while (!start.load()) std::this_thread::yield();
      for (int i = 0; i < 500; ++i) {
        const std::size_t which = static_cast<std::size_t>(i + t) % texts.size();
        const auto found = scanner->scan(texts[which]);
        if (!found || *found != reference[which]) ++mismatches;
      }
    });
  }
  start = true;
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(mismatches.load(), 0);
}

}  // namespace
}  // namespace hearth::privacy
