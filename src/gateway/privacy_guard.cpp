#include "gateway/privacy_guard.hpp"

#include <algorithm>

#include "policy/policy.hpp"

namespace hearth::gateway {

namespace {

bool has_label(const privacy::EntityInfo& entity, std::string_view label) {
  return std::find(entity.labels.begin(), entity.labels.end(), label) != entity.labels.end();
}

// The strongest action any of the finding's labels calls for.
config::PrivacyAction action_of(const privacy::EntityInfo& entity,
                                const config::PrivacySettings& settings, const config::Rule* rule) {
  auto strongest = config::PrivacyAction::allow;
  for (const auto& label : entity.labels) {
    strongest = std::max(strongest, policy::privacy_action(settings, rule, label));
  }
  return strongest;
}

}  // namespace

Expected<std::shared_ptr<const privacy::Scanner>, std::string> build_scanner(
    const config::PrivacySettings& settings) {
  privacy::ScannerSettings scanner_settings;
  scanner_settings.disabled = settings.disabled;
  for (const auto& entity : settings.entities) {
    privacy::CustomEntity custom;
    custom.name = entity.name;
    custom.pattern = entity.pattern;
    custom.terms = entity.terms;
    custom.validator = entity.validator;
    custom.labels = entity.labels;
    scanner_settings.custom.push_back(std::move(custom));
  }
  auto scanner = privacy::Scanner::create(scanner_settings);
  if (!scanner) {
    return unexpected("privacy: " + scanner.error());
  }
  return std::move(scanner.value());
}

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

Expected<ScannedRequest, api::ApiError> scan_request(const privacy::Scanner& scanner,
                                                     std::string_view body) {
  auto texts = privacy::RequestTexts::parse(body);
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
  return scanned;
}

FindingCounts counts_with_labels(const privacy::Scanner& scanner, const ScannedRequest& scanned,
                                 const std::vector<std::string>& labels) {
  FindingCounts counts;
  for (const auto& findings : scanned.findings) {
    for (const auto& finding : findings) {
      const auto& entity = scanner.entity(finding);
      const bool wanted = std::any_of(labels.begin(), labels.end(), [&](const std::string& label) {
        return has_label(entity, label);
      });
      if (wanted) {
        ++counts[entity.name];
      }
    }
  }
  return counts;
}

std::optional<RedactedBody> redact_for_cloud(const privacy::Scanner& scanner,
                                             ScannedRequest& scanned,
                                             const config::PrivacySettings& settings,
                                             const config::Rule* rule) {
  if (!scanned.texts || scanned.empty()) {
    return std::nullopt;
  }
  RedactedBody result;
  result.redaction = std::make_shared<privacy::Redaction>();
  std::vector<privacy::Finding> chosen;
  for (std::size_t index = 0; index < scanned.findings.size(); ++index) {
    chosen.clear();
    for (const auto& finding : scanned.findings[index]) {
      const auto& entity = scanner.entity(finding);
      if (action_of(entity, settings, rule) == config::PrivacyAction::redact) {
        chosen.push_back(finding);
        ++result.counts[entity.name];
      }
    }
    if (!chosen.empty()) {
      const std::string& text = scanned.texts->texts()[index];
      scanned.texts->replace(index, result.redaction->redact(text, chosen, scanner.entities()));
    }
  }
  if (result.counts.empty()) {
    return std::nullopt;
  }
  result.body = scanned.texts->serialize();
  return result;
}

FindingCounts secrets_in_texts(const privacy::Scanner& scanner,
                               const std::vector<std::string>& texts) {
  FindingCounts counts;
  for (const auto& text : texts) {
    auto findings = scanner.scan(text);
    if (!findings) {
      continue;  // an answer that is not UTF-8 is the client's to see; nothing to find in it
    }
    for (const auto& finding : findings.value()) {
      const auto& entity = scanner.entity(finding);
      if (has_label(entity, "secret")) {
        ++counts[entity.name];
      }
    }
  }
  return counts;
}

std::string redact_answer_secrets(const privacy::Scanner& scanner, const std::string& body,
                                  FindingCounts& found) {
  auto texts = privacy::RequestTexts::parse(body);
  if (!texts) {
    return body;
  }
  bool changed = false;
  for (std::size_t index = 0; index < texts->texts().size(); ++index) {
    const std::string& text = texts->texts()[index];
    auto findings = scanner.scan(text);
    if (!findings) {
      continue;
    }
    std::string rewritten;
    std::size_t copied = 0;
    for (const auto& finding : findings.value()) {
      const auto& entity = scanner.entity(finding);
      if (!has_label(entity, "secret")) {
        continue;
      }
      rewritten.append(text, copied, finding.begin - copied);
      rewritten += "[REDACTED_" + entity.placeholder + "]";
      copied = finding.end;
      ++found[entity.name];
    }
    if (copied > 0) {
      rewritten.append(text, copied);
      texts->replace(index, std::move(rewritten));
      changed = true;
    }
  }
  return changed ? texts->serialize() : body;
}

}  // namespace hearth::gateway
