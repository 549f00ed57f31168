// What one request did, for the response headers, the access log and the metrics. Private to
// gateway_service.cpp and dispatch.cpp.
#pragma once

#include <string>
#include <vector>

#include "gateway/gateway_service.hpp"

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

}  // namespace hearth::gateway
