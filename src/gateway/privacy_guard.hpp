// The privacy guard's part of a request's path, between api parse and policy: the request's texts
// are scanned (privacy/request_scan.hpp), the finding labels join the request's sensitivity labels
// (which the policy acts on), and a cloud target gets the redacted body while the answer is
// restored. Only finding types and counts ever leave this file, never the values.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/types.hpp"
#include "common/expected.hpp"
#include "config/config.hpp"
#include "privacy/redaction.hpp"
#include "privacy/request_scan.hpp"
#include "privacy/scanner.hpp"

namespace hearth::gateway {

// The scanner a configuration asks for (its custom entities, its disabled types); an error
// names the setting at fault.
Expected<std::shared_ptr<const privacy::Scanner>, std::string> build_scanner(
    const config::PrivacySettings& settings);

// The finding types that the decided action applies to, for the refusal message and the logs:
// the counts of the findings with any label in `labels`.
privacy::FindingCounts counts_with_labels(const privacy::Scanner& scanner,
                                          const privacy::ScannedRequest& scanned,
                                          const std::vector<std::string>& labels);

// The body a cloud target gets: every finding whose labels call for `redact` (under the matched
// rule) replaced by its placeholder. nullopt when nothing is to be redacted.
struct RedactedBody {
  std::string body;
  std::shared_ptr<privacy::Redaction> redaction;
  privacy::FindingCounts counts;  // what was replaced
};
std::optional<RedactedBody> redact_for_cloud(const privacy::Scanner& scanner,
                                             privacy::ScannedRequest& scanned,
                                             const config::PrivacySettings& settings,
                                             const config::Rule* rule);

// Secrets found in a cloud answer's texts (non-streamed body, or the texts a stream carried).
privacy::FindingCounts secrets_in_texts(const privacy::Scanner& scanner,
                                        const std::vector<std::string>& texts);

// A non-streamed answer body with its secrets replaced by "[REDACTED_<PLACEHOLDER>]" (never a
// restorable placeholder), and what was replaced; the body unchanged when none.
std::string redact_answer_secrets(const privacy::Scanner& scanner, const std::string& body,
                                  privacy::FindingCounts& found);

}  // namespace hearth::gateway
