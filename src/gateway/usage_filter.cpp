#include "gateway/usage_filter.hpp"

#include <charconv>
#include <cmath>

namespace hearth::gateway {

namespace {

constexpr std::string_view kBusyComment = "hearth-busy-ms";

bool is_json_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// `"choices"`, then `:`, `[` and `]` with any JSON whitespace between them.
bool has_empty_choices(std::string_view event) {
  constexpr std::string_view kKey = "\"choices\"";
  for (auto at = event.find(kKey); at != std::string_view::npos; at = event.find(kKey, at + 1)) {
    std::size_t position = at + kKey.size();
    bool matched = true;
    for (char expected : {':', '[', ']'}) {
      while (position < event.size() && is_json_space(event[position])) {
        ++position;
      }
      if (position >= event.size() || event[position] != expected) {
        matched = false;
        break;
      }
      ++position;
    }
    if (matched) {
      return true;
    }
  }
  return false;
}

// A usage-only chunk: `data: {...,"choices":[],...,"usage":{...}}` (llama.cpp, vLLM, hearth
// workers and OpenAI write it compact; other servers put spaces in).
bool is_usage_event(std::string_view event) {
  return event.starts_with("data:") && event.find("\"usage\"") != std::string_view::npos &&
         has_empty_choices(event);
}

// `: hearth-busy-ms 12.345` (worker/service.cpp): its value (0 when unreadable: the comment is
// still removed), or nullopt for any other event.
std::optional<double> busy_comment_value(std::string_view event) {
  if (!event.starts_with(':')) {
    return std::nullopt;
  }
  event.remove_prefix(1);
  while (!event.empty() && event.front() == ' ') {
    event.remove_prefix(1);
  }
  if (!event.starts_with(kBusyComment)) {
    return std::nullopt;
  }
  event.remove_prefix(kBusyComment.size());
  while (!event.empty() && event.front() == ' ') {
    event.remove_prefix(1);
  }
  double value = 0;
  const auto [end, error] = std::from_chars(event.data(), event.data() + event.size(), value);
  if (error != std::errc() || end != event.data() + event.size() || !std::isfinite(value) ||
      value < 0) {
    return 0.0;
  }
  return value;
}

}  // namespace

std::string StreamUsageFilter::feed(std::string_view piece) {
  if (pending_.empty() && piece.find("\"usage\"") == std::string_view::npos &&
      piece.find(kBusyComment) == std::string_view::npos) {
    // The common case: no usage here. Pass on up to the last complete event; keep the rest in
    // case the usage key is split across pieces.
    const auto end = piece.rfind("\n\n");
    if (end == std::string_view::npos) {
      pending_.assign(piece);
      return {};
    }
    pending_.assign(piece.substr(end + 2));
    return std::string(piece.substr(0, end + 2));
  }
  pending_.append(piece);
  std::string out;
  std::size_t start = 0;
  while (true) {
    const auto end = pending_.find("\n\n", start);
    if (end == std::string::npos) {
      break;
    }
    const std::string_view event(pending_.data() + start, end - start);
    if (const auto busy = busy_comment_value(event)) {
      busy_ms_ += *busy;
    } else if (is_usage_event(event)) {
      auto payload = event.substr(5);
      while (!payload.empty() && payload.front() == ' ') {
        payload.remove_prefix(1);
      }
      auto summary = api::summarize_answer(payload);
      if (summary) {
        usage_ = std::move(summary.value());
      }
      if (keep_usage_chunk_ || !summary) {
        out.append(event);
        out.append("\n\n");
      }
    } else {
      out.append(event);
      out.append("\n\n");
    }
    start = end + 2;
  }
  pending_.erase(0, start);
  return out;
}

std::string StreamUsageFilter::finish() {
  std::string rest = std::move(pending_);
  pending_.clear();
  return rest;
}

}  // namespace hearth::gateway
