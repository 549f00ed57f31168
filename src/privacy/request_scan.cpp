#include "privacy/request_scan.hpp"

#include <algorithm>

namespace hearth::privacy {

std::string describe_counts(const FindingCounts& counts) {
  std::string text;
  for (const auto& [name, count] : counts) {
    if (!text.empty()) {
      text += ", ";
    }
    text += name + "=" + std::to_string(count);
  }
  return text;
}

Expected<ScannedRequest, api::ApiError> scan_request(const Scanner& scanner,
                                                     std::string_view body) {
  auto texts = RequestTexts::parse(body);
  if (!texts) {
    return unexpected(texts.error());
  }
  ScannedRequest scanned;
  scanned.texts.emplace(std::move(texts.value()));
  const auto& all = scanned.texts->texts();
  scanned.findings.reserve(all.size());
  for (const auto& text : all) {
    auto findings = scanner.scan(text);
    if (!findings) {
      return unexpected(api::invalid_request(
          "The request holds text that is not valid UTF-8 (" + findings.error().message +
              " at byte " + std::to_string(findings.error().offset) + " of a string)",
          std::nullopt, "invalid_utf8"));
    }
    for (const auto& finding : findings.value()) {
      const auto& entity = scanner.entity(finding);
      ++scanned.counts[entity.name];
      for (const auto& label : entity.labels) {
        if (std::find(scanned.labels.begin(), scanned.labels.end(), label) ==
            scanned.labels.end()) {
          scanned.labels.push_back(label);
        }
      }
    }
    scanned.findings.push_back(std::move(findings.value()));
  }
  if (!scanned.empty() && !scanned.texts->prepare_replacements()) {
    // Never expected (the texts were read from this very body); refusing is what keeps a
    // finding from leaving unredacted.
    return unexpected(
        api::invalid_request("The request body could not be read consistently for redaction",
                             std::nullopt, "invalid_json"));
  }
  return scanned;
}

std::optional<std::string> redact_request(const Scanner& scanner, ScannedRequest& scanned,
                                          Redaction& redaction,
                                          const std::function<bool(const EntityInfo&)>& chosen,
                                          FindingCounts& replaced) {
  if (!scanned.texts || scanned.empty()) {
    return std::nullopt;
  }
  bool any = false;
  std::vector<Finding> picked;
  for (std::size_t index = 0; index < scanned.findings.size(); ++index) {
    picked.clear();
    for (const auto& finding : scanned.findings[index]) {
      const auto& entity = scanner.entity(finding);
      if (chosen(entity)) {
        picked.push_back(finding);
        ++replaced[entity.name];
      }
    }
    if (!picked.empty()) {
      const std::string& text = scanned.texts->texts()[index];
      scanned.texts->replace(index, redaction.redact(text, picked, scanner.entities()));
      any = true;
    }
  }
  if (!any) {
    return std::nullopt;
  }
  return scanned.texts->serialize();
}

}  // namespace hearth::privacy
