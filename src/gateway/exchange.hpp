// What one request did, for the response headers, the access log and the metrics. Private to
// gateway_service.cpp and dispatch.cpp.
#pragma once

#include <string>
#include <vector>

#include "gateway/gateway_service.hpp"
#include "gateway/privacy_guard.hpp"

namespace hearth::gateway {

struct GatewayService::Exchange {
  Clock::time_point start = Clock::now();
  std::string route;
  std::string model;  // the model entry that answered (or was tried last)
  std::string backend;
  int status = 0;
  bool stream = false;
  Clock::duration upstream{};  // time waiting on backends (header and body), all attempts
  std::size_t bytes_out = 0;
  std::string error;
  bool client_gone = false;
  // Placement.
  std::string rule;
  std::string placement;               // "local" or "cloud" of the target that answered
  std::vector<std::string> fallbacks;  // "TARGET: REASON" for each target given up on
  std::string escalation;              // why a local answer was rejected, if one was
  // Privacy: types and counts only.
  std::string privacy_action;       // the action for the request's labels; "" when it has none
  privacy::FindingCounts findings;  // in the request
  privacy::FindingCounts redacted;  // replaced by placeholders for the cloud target that answered
  privacy::FindingCounts answer_secrets;  // secrets in a cloud answer
};

// x-hearth-fallback: "TARGET: REASON; TARGET: REASON", printable ASCII only.
inline std::string fallback_header(const std::vector<std::string>& fallbacks) {
  std::string text;
  for (const auto& item : fallbacks) {
    if (!text.empty()) {
      text += "; ";
    }
    for (char c : item) {
      text += (c >= 0x20 && c < 0x7f && c != ';') ? c : ' ';
    }
  }
  return text;
}

// x-hearth-privacy: "ACTION" or "ACTION; type=count, ..." (types and counts, never values).
inline std::string privacy_header(const std::string& action,
                                  const privacy::FindingCounts& findings) {
  return findings.empty() ? action : action + "; " + privacy::describe_counts(findings);
}

}  // namespace hearth::gateway
