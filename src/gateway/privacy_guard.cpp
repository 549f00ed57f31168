#include "gateway/privacy_guard.hpp"

#include <algorithm>

#include "api/serialize.hpp"
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

privacy::FindingCounts counts_with_labels(const privacy::Scanner& scanner,
                                          const privacy::ScannedRequest& scanned,
                                          const std::vector<std::string>& labels) {
  privacy::FindingCounts counts;
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
                                             privacy::ScannedRequest& scanned,
                                             const config::PrivacySettings& settings,
                                             const config::Rule* rule) {
  RedactedBody result;
  result.redaction = std::make_shared<privacy::Redaction>();
  auto body = privacy::redact_request(
      scanner, scanned, *result.redaction,
      [&](const privacy::EntityInfo& entity) {
        return action_of(entity, settings, rule) == config::PrivacyAction::redact;
      },
      result.counts);
  if (!body) {
    return std::nullopt;
  }
  result.body = std::move(*body);
  return result;
}

privacy::FindingCounts secrets_in_texts(const privacy::Scanner& scanner,
                                        const std::vector<std::string>& texts) {
  privacy::FindingCounts counts;
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
                                  privacy::FindingCounts& found) {
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
      if (!texts->prepare_replacements()) {
        // Never expected; the secret must not go out all the same.
        return api::error_body(500, "The answer held a secret and could not be redacted",
                               "redaction_failed");
      }
      rewritten.append(text, copied);
      texts->replace(index, std::move(rewritten));
      changed = true;
    }
  }
  return changed ? texts->serialize() : body;
}

}  // namespace hearth::gateway
