// `hearth privacy eval` and `hearth privacy scan`: the privacy scanner run locally, against the
// labelled corpus of tools/privacy_corpus (docs/PRIVACY.md) or on any text. Both are developer
// tools on the machine that holds the data; `scan` prints types and spans, never the values.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "cli/commands.hpp"
#include "privacy/scanner.hpp"

namespace hearth::cli {

namespace {

constexpr int kExitPass = 0;
constexpr int kExitMiss = 1;
constexpr int kExitInputError = 2;

struct LabelledSpan {
  std::string type;
  std::size_t begin = 0;
  std::size_t end = 0;
};

struct CorpusDocument {
  std::string id;
  std::size_t line = 0;
  std::string text;
  std::vector<LabelledSpan> labels;
};

bool is_continuation_byte(char byte) { return (static_cast<unsigned char>(byte) & 0xC0) == 0x80; }

bool on_character_boundary(std::string_view text, std::size_t offset) {
  return offset == text.size() || !is_continuation_byte(text[offset]);
}

Expected<std::size_t, std::string> read_offset(const nlohmann::json& entity, const char* key) {
  auto found = entity.find(key);
  if (found == entity.end()) return unexpected(std::string("has no \"") + key + "\"");
  if (!found->is_number_unsigned()) {
    return unexpected(std::string("\"") + key + "\" is not a non-negative integer");
  }
  return found->get<std::size_t>();
}

// One corpus line: an object with "text" and "entities" ({"type", "start", "end"}, UTF-8 byte
// offsets into text, end exclusive).
Expected<CorpusDocument, std::string> parse_document(const std::string& line,
                                                     std::size_t line_number) {
  auto record = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (record.is_discarded()) return unexpected(std::string("not valid JSON"));
  if (!record.is_object()) return unexpected(std::string("not a JSON object"));
  CorpusDocument document;
  document.line = line_number;
  auto id = record.find("id");
  document.id = id != record.end() && id->is_string() ? id->get<std::string>()
                                                      : "line " + std::to_string(line_number);
  auto text = record.find("text");
  if (text == record.end() || !text->is_string()) {
    return unexpected(std::string("\"text\" is missing or not a string"));
  }
  document.text = text->get<std::string>();
  auto entities = record.find("entities");
  if (entities == record.end() || !entities->is_array()) {
    return unexpected(std::string("\"entities\" is missing or not an array"));
  }
  for (std::size_t i = 0; i < entities->size(); ++i) {
    const auto& entity = (*entities)[i];
    const std::string where = "entity " + std::to_string(i) + " ";
    if (!entity.is_object()) return unexpected(where + "is not an object");
    auto type = entity.find("type");
    if (type == entity.end() || !type->is_string() || type->get<std::string>().empty()) {
      return unexpected(where + "has no \"type\" string");
    }
    auto begin = read_offset(entity, "start");
    if (!begin) return unexpected(where + begin.error());
    auto end = read_offset(entity, "end");
    if (!end) return unexpected(where + end.error());
    if (begin.value() >= end.value() || end.value() > document.text.size()) {
      return unexpected(where + "offsets [" + std::to_string(begin.value()) + ", " +
                        std::to_string(end.value()) + ") are out of range for a text of " +
                        std::to_string(document.text.size()) + " bytes");
    }
    if (!on_character_boundary(document.text, begin.value()) ||
        !on_character_boundary(document.text, end.value())) {
      return unexpected(where + "offsets [" + std::to_string(begin.value()) + ", " +
                        std::to_string(end.value()) + ") split a UTF-8 character");
    }
    document.labels.push_back({type->get<std::string>(), begin.value(), end.value()});
  }
  return document;
}

Expected<std::vector<CorpusDocument>, std::string> read_corpus(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return unexpected("cannot read the corpus " + path + ": " + std::strerror(errno));
  std::vector<CorpusDocument> documents;
  std::string line;
  std::size_t line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    auto document = parse_document(line, line_number);
    if (!document) {
      return unexpected(path + ":" + std::to_string(line_number) + ": " + document.error());
    }
    documents.push_back(std::move(document.value()));
  }
  if (in.bad()) return unexpected("cannot read the corpus " + path + ": read error");
  if (documents.empty()) return unexpected(path + ": no documents");
  return documents;
}

bool is_checksum_type(const std::string& type) {
  return type == "card" || type == "iban" || type == "aba_routing" || type == "nhs_number";
}

struct Target {
  double precision = 0;
  double recall = 0;
};

// The targets of issue 5: checksum-validated types must be nearly perfect, the others (which
// depend on formats and context words) get some slack.
Target target_for(const std::string& type) {
  return is_checksum_type(type) ? Target{0.95, 0.99} : Target{0.90, 0.95};
}

struct ErrorExample {
  std::string document_id;
  std::size_t line = 0;
  std::size_t begin = 0;
  std::size_t end = 0;
  std::optional<double> confidence;  // false positives only
  std::string context;
};

struct TypeResult {
  std::size_t labelled = 0;
  std::size_t found = 0;
  std::size_t true_positives = 0;
  std::vector<ErrorExample> false_positive_examples;
  std::vector<ErrorExample> false_negative_examples;
  std::size_t false_positives = 0;
  std::size_t false_negatives = 0;
};

std::optional<double> ratio(std::size_t numerator, std::size_t denominator) {
  if (denominator == 0) return std::nullopt;
  return static_cast<double>(numerator) / static_cast<double>(denominator);
}

enum class Status { kPass, kMiss, kNotEvaluated };

Status status_of(const std::string& type, const TypeResult& result) {
  const Target target = target_for(type);
  const auto precision = ratio(result.true_positives, result.found);
  if (result.labelled == 0) {
    // Nothing to find: any finding is a false positive.
    return result.false_positives > 0 ? Status::kMiss : Status::kNotEvaluated;
  }
  const double recall = *ratio(result.true_positives, result.labelled);
  const bool precision_ok = !precision || *precision >= target.precision;
  return precision_ok && recall >= target.recall ? Status::kPass : Status::kMiss;
}

const char* status_name(Status status) {
  switch (status) {
    case Status::kPass:
      return "PASS";
    case Status::kMiss:
      return "MISS";
    case Status::kNotEvaluated:
      break;
  }
  return "-";
}

// A one-line window of the text around [begin, end), the span between » and «, control
// characters shown as escapes.
std::string excerpt(std::string_view text, std::size_t begin, std::size_t end) {
  constexpr std::size_t kWindow = 40;
  std::size_t from = begin > kWindow ? begin - kWindow : 0;
  std::size_t to = std::min(text.size(), end + kWindow);
  while (from > 0 && is_continuation_byte(text[from])) --from;
  while (to < text.size() && is_continuation_byte(text[to])) ++to;
  std::string out = from > 0 ? "…" : "";
  auto append = [&out](std::string_view piece) {
    for (char c : piece) {
      if (c == '\n') {
        out += "\\n";
      } else if (c == '\r') {
        out += "\\r";
      } else if (c == '\t') {
        out += "\\t";
      } else {
        out += c;
      }
    }
  };
  append(text.substr(from, begin - from));
  out += "»";
  append(text.substr(begin, end - begin));
  out += "«";
  append(text.substr(end, to - end));
  if (to < text.size()) out += "…";
  return out;
}

bool overlaps(std::size_t a_begin, std::size_t a_end, std::size_t b_begin, std::size_t b_end) {
  return a_begin < b_end && b_begin < a_end;
}

struct Evaluation {
  std::map<std::string, TypeResult> by_type;
  std::size_t documents = 0;
  std::size_t bytes = 0;
  double scan_seconds = 0;
};

// Matches one document's findings to its labels: a true positive is a finding of the label's
// type whose span overlaps the label's; each label and each finding counts at most once.
void match_document(const privacy::Scanner& scanner, const CorpusDocument& document,
                    const std::vector<privacy::Finding>& findings, std::size_t max_examples,
                    Evaluation& evaluation) {
  std::vector<bool> finding_used(findings.size(), false);
  std::vector<std::size_t> label_order(document.labels.size());
  for (std::size_t i = 0; i < label_order.size(); ++i) label_order[i] = i;
  std::stable_sort(label_order.begin(), label_order.end(), [&](std::size_t a, std::size_t b) {
    return document.labels[a].begin < document.labels[b].begin;
  });
  for (std::size_t index : label_order) {
    const auto& label = document.labels[index];
    auto& result = evaluation.by_type[label.type];
    ++result.labelled;
    bool matched = false;
    for (std::size_t f = 0; f < findings.size(); ++f) {
      if (finding_used[f]) continue;
      const auto& finding = findings[f];
      if (scanner.entity(finding).name != label.type) continue;
      if (!overlaps(finding.begin, finding.end, label.begin, label.end)) continue;
      finding_used[f] = true;
      matched = true;
      break;
    }
    if (matched) {
      ++result.true_positives;
      continue;
    }
    ++result.false_negatives;
    if (result.false_negative_examples.size() < max_examples) {
      result.false_negative_examples.push_back({document.id, document.line, label.begin, label.end,
                                                std::nullopt,
                                                excerpt(document.text, label.begin, label.end)});
    }
  }
  for (std::size_t f = 0; f < findings.size(); ++f) {
    const auto& finding = findings[f];
    auto& result = evaluation.by_type[scanner.entity(finding).name];
    ++result.found;
    if (finding_used[f]) continue;
    ++result.false_positives;
    if (result.false_positive_examples.size() < max_examples) {
      result.false_positive_examples.push_back(
          {document.id, document.line, finding.begin, finding.end, finding.confidence,
           excerpt(document.text, finding.begin, finding.end)});
    }
  }
}

// Built-in types first, in the scanner's order, then any other type the corpus or the scanner
// named.
std::vector<std::string> report_order(const Evaluation& evaluation) {
  std::vector<std::string> order = privacy::Scanner::builtin_entities();
  std::set<std::string> listed(order.begin(), order.end());
  for (const auto& [type, result] : evaluation.by_type) {
    if (listed.insert(type).second) order.push_back(type);
  }
  return order;
}

nlohmann::json optional_json(std::optional<double> value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

nlohmann::json examples_json(const std::vector<ErrorExample>& examples) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& example : examples) {
    nlohmann::json item = {{"id", example.document_id},
                           {"line", example.line},
                           {"start", example.begin},
                           {"end", example.end},
                           {"context", example.context}};
    if (example.confidence) item["confidence"] = *example.confidence;
    out.push_back(std::move(item));
  }
  return out;
}

std::string format_ratio(std::optional<double> value) {
  if (!value) return "-";
  char buffer[16];
  std::snprintf(buffer, sizeof(buffer), "%.3f", *value);
  return buffer;
}

double throughput_mb_per_s(const Evaluation& evaluation) {
  return evaluation.scan_seconds > 0
             ? static_cast<double>(evaluation.bytes) / 1e6 / evaluation.scan_seconds
             : 0.0;
}

int report(const PrivacyEvalOptions& options, const Evaluation& evaluation) {
  const auto order = report_order(evaluation);
  TypeResult total;
  std::vector<std::string> missed;
  std::size_t evaluated = 0;
  const TypeResult empty;
  for (const auto& type : order) {
    auto found = evaluation.by_type.find(type);
    const TypeResult& result = found == evaluation.by_type.end() ? empty : found->second;
    total.labelled += result.labelled;
    total.found += result.found;
    total.true_positives += result.true_positives;
    total.false_positives += result.false_positives;
    total.false_negatives += result.false_negatives;
    const Status status = status_of(type, result);
    if (status != Status::kNotEvaluated) ++evaluated;
    if (status == Status::kMiss) missed.push_back(type);
  }
  const bool pass = missed.empty();

  if (options.json) {
    nlohmann::json types = nlohmann::json::array();
    nlohmann::json errors = nlohmann::json::object();
    for (const auto& type : order) {
      auto found = evaluation.by_type.find(type);
      const TypeResult& result = found == evaluation.by_type.end() ? empty : found->second;
      const Target target = target_for(type);
      types.push_back({{"type", type},
                       {"labelled", result.labelled},
                       {"found", result.found},
                       {"tp", result.true_positives},
                       {"fp", result.false_positives},
                       {"fn", result.false_negatives},
                       {"precision", optional_json(ratio(result.true_positives, result.found))},
                       {"recall", optional_json(ratio(result.true_positives, result.labelled))},
                       {"target_precision", target.precision},
                       {"target_recall", target.recall},
                       {"status", status_name(status_of(type, result))}});
      if (options.show_errors > 0 &&
          (!result.false_positive_examples.empty() || !result.false_negative_examples.empty())) {
        errors[type] = {{"false_positives", examples_json(result.false_positive_examples)},
                        {"false_negatives", examples_json(result.false_negative_examples)}};
      }
    }
    nlohmann::json out = {
        {"corpus", options.corpus_path},
        {"documents", evaluation.documents},
        {"bytes", evaluation.bytes},
        {"scan_seconds", evaluation.scan_seconds},
        {"throughput_mb_per_s", throughput_mb_per_s(evaluation)},
        {"types", types},
        {"total",
         {{"labelled", total.labelled},
          {"found", total.found},
          {"tp", total.true_positives},
          {"fp", total.false_positives},
          {"fn", total.false_negatives},
          {"precision", optional_json(ratio(total.true_positives, total.found))},
          {"recall", optional_json(ratio(total.true_positives, total.labelled))}}},
        {"missed", missed},
        {"pass", pass}};
    if (options.show_errors > 0) out["errors"] = errors;
    std::printf("%s\n", out.dump(2).c_str());
    return pass ? kExitPass : kExitMiss;
  }

  std::printf("privacy eval: %zu documents, %.2f MB, corpus %s\n\n", evaluation.documents,
              static_cast<double>(evaluation.bytes) / 1e6, options.corpus_path.c_str());
  std::printf("%-16s %8s %6s %6s %5s %5s %9s %7s %11s  %s\n", "type", "labelled", "found", "TP",
              "FP", "FN", "precision", "recall", "target P/R", "status");
  for (const auto& type : order) {
    auto found = evaluation.by_type.find(type);
    const TypeResult& result = found == evaluation.by_type.end() ? empty : found->second;
    const Target target = target_for(type);
    char target_text[16];
    std::snprintf(target_text, sizeof(target_text), "%.2f/%.2f", target.precision, target.recall);
    std::printf("%-16s %8zu %6zu %6zu %5zu %5zu %9s %7s %11s  %s\n", type.c_str(), result.labelled,
                result.found, result.true_positives, result.false_positives, result.false_negatives,
                format_ratio(ratio(result.true_positives, result.found)).c_str(),
                format_ratio(ratio(result.true_positives, result.labelled)).c_str(), target_text,
                status_name(status_of(type, result)));
  }
  std::printf("%-16s %8zu %6zu %6zu %5zu %5zu %9s %7s\n", "total", total.labelled, total.found,
              total.true_positives, total.false_positives, total.false_negatives,
              format_ratio(ratio(total.true_positives, total.found)).c_str(),
              format_ratio(ratio(total.true_positives, total.labelled)).c_str());
  std::printf("\nscan: %.2f MB in %.1f ms, %.1f MB/s (one thread, scan calls only)\n",
              static_cast<double>(evaluation.bytes) / 1e6, evaluation.scan_seconds * 1e3,
              throughput_mb_per_s(evaluation));

  if (options.show_errors > 0) {
    for (const auto& type : order) {
      auto found = evaluation.by_type.find(type);
      if (found == evaluation.by_type.end()) continue;
      const TypeResult& result = found->second;
      if (result.false_positive_examples.empty() && result.false_negative_examples.empty()) {
        continue;
      }
      std::printf("\n%s: %zu false positives, %zu false negatives\n", type.c_str(),
                  result.false_positives, result.false_negatives);
      for (const auto& example : result.false_positive_examples) {
        std::printf("  FP %s (line %zu) [%zu,%zu) conf %.2f  %s\n", example.document_id.c_str(),
                    example.line, example.begin, example.end, example.confidence.value_or(0),
                    example.context.c_str());
      }
      for (const auto& example : result.false_negative_examples) {
        std::printf("  FN %s (line %zu) [%zu,%zu)  %s\n", example.document_id.c_str(), example.line,
                    example.begin, example.end, example.context.c_str());
      }
    }
  }

  std::string missed_list;
  for (const auto& type : missed) missed_list += (missed_list.empty() ? "" : ", ") + type;
  if (pass) {
    std::printf("\nresult: PASS (%zu types evaluated, all meet their targets)\n", evaluated);
  } else {
    std::printf("\nresult: MISS (%zu of %zu evaluated types miss their targets: %s)\n",
                missed.size(), evaluated, missed_list.c_str());
  }
  return pass ? kExitPass : kExitMiss;
}

Expected<std::string, std::string> read_all(const std::string& path) {
  if (path.empty() || path == "-") {
    std::string text{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
    if (std::cin.bad()) return unexpected(std::string("cannot read standard input"));
    return text;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return unexpected("cannot read " + path + ": " + std::strerror(errno));
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad()) return unexpected("cannot read " + path + ": read error");
  return text;
}

}  // namespace

int privacy_eval_command(const PrivacyEvalOptions& options) {
  if (options.corpus_path.empty()) {
    std::fprintf(stderr, "hearth privacy eval: --corpus FILE is required\n");
    return kExitInputError;
  }
  if (options.show_errors < 0) {
    std::fprintf(stderr, "hearth privacy eval: --show-errors must not be negative\n");
    return kExitInputError;
  }
  auto documents = read_corpus(options.corpus_path);
  if (!documents) {
    std::fprintf(stderr, "hearth privacy eval: %s\n", documents.error().c_str());
    return kExitInputError;
  }
  auto scanner = privacy::Scanner::create(privacy::ScannerSettings{});
  if (!scanner) {
    std::fprintf(stderr, "hearth privacy eval: cannot build the scanner: %s\n",
                 scanner.error().c_str());
    return kExitInputError;
  }
  const privacy::Scanner& scan = *scanner.value();
  std::set<std::string> known;
  for (const auto& entity : scan.entities()) known.insert(entity.name);

  Evaluation evaluation;
  std::set<std::string> unknown_types;
  const auto max_examples = static_cast<std::size_t>(options.show_errors);
  for (const auto& document : documents.value()) {
    const auto started = std::chrono::steady_clock::now();
    auto findings = scan.scan(document.text);
    evaluation.scan_seconds +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (!findings) {
      std::fprintf(stderr, "hearth privacy eval: %s:%zu: text is not valid UTF-8 at byte %zu: %s\n",
                   options.corpus_path.c_str(), document.line, findings.error().offset,
                   findings.error().message.c_str());
      return kExitInputError;
    }
    ++evaluation.documents;
    evaluation.bytes += document.text.size();
    for (const auto& label : document.labels) {
      if (!known.count(label.type)) unknown_types.insert(label.type);
    }
    match_document(scan, document, findings.value(), max_examples, evaluation);
  }
  for (const auto& type : unknown_types) {
    std::fprintf(stderr, "hearth privacy eval: note: corpus type \"%s\" is not a scanner entity\n",
                 type.c_str());
  }
  return report(options, evaluation);
}

int privacy_scan_command(const std::string& path) {
  auto text = read_all(path);
  if (!text) {
    std::fprintf(stderr, "hearth privacy scan: %s\n", text.error().c_str());
    return kExitInputError;
  }
  auto scanner = privacy::Scanner::create(privacy::ScannerSettings{});
  if (!scanner) {
    std::fprintf(stderr, "hearth privacy scan: cannot build the scanner: %s\n",
                 scanner.error().c_str());
    return kExitInputError;
  }
  auto findings = scanner.value()->scan(text.value());
  if (!findings) {
    std::fprintf(stderr, "hearth privacy scan: invalid UTF-8 at byte offset %zu: %s\n",
                 findings.error().offset, findings.error().message.c_str());
    return 1;
  }
  for (const auto& finding : findings.value()) {
    const auto& entity = scanner.value()->entity(finding);
    nlohmann::json line = {{"type", entity.name},
                           {"labels", entity.labels},
                           {"start", finding.begin},
                           {"end", finding.end},
                           {"confidence", finding.confidence}};
    std::printf("%s\n", line.dump().c_str());
  }
  return 0;
}

}  // namespace hearth::cli
