// A whole request through the scanner: every text of its body (RequestTexts) scanned, the
// findings kept per text, and the body written again with chosen findings replaced by
// placeholders. What the gateway's privacy guard does per request, and what the benchmark times.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/types.hpp"
#include "common/expected.hpp"
#include "privacy/redaction.hpp"
#include "privacy/request_texts.hpp"
#include "privacy/scanner.hpp"

namespace hearth::privacy {

// Finding counts by entity name ("email" -> 2), ordered for stable logs and headers.
using FindingCounts = std::map<std::string, int, std::less<>>;

// "email=2, card=1" (no values, ever).
std::string describe_counts(const FindingCounts& counts);

struct ScannedRequest {
  std::optional<RequestTexts> texts;
  std::vector<std::vector<Finding>> findings;  // per text
  FindingCounts counts;
  std::vector<std::string> labels;  // of every finding, each once, in order of first finding

  bool empty() const { return counts.empty(); }
};

// Scans every text of a request body. 400 for a body that is not a JSON object or holds text that
// is not valid UTF-8 (naming where).
Expected<ScannedRequest, api::ApiError> scan_request(const Scanner& scanner, std::string_view body);

// The body with every finding whose entity `chosen` accepts replaced by its placeholder from
// `redaction` (the scanned texts are rewritten in place), and what was replaced added to
// `replaced`; nullopt when nothing was chosen.
std::optional<std::string> redact_request(const Scanner& scanner, ScannedRequest& scanned,
                                          Redaction& redaction,
                                          const std::function<bool(const EntityInfo&)>& chosen,
                                          FindingCounts& replaced);

}  // namespace hearth::privacy
