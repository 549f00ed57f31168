// Placement policy: which rule a request matches and the chain of targets it may be sent to.
// Pure and synchronous: the same facts and configuration give the same decision, so
// `hearth route explain` and POST /admin/route/explain answer exactly what a real request gets
// (minus the live state — breakers, worker health — that dispatch applies on top).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "api/types.hpp"
#include "common/expected.hpp"
#include "config/config.hpp"

namespace hearth::policy {

// What the policy knows about a request, read at the edge from its headers and body.
struct RequestFacts {
  config::RequestTask task = config::RequestTask::chat;
  std::string model;  // as requested; "" : the default model
  std::string workload;
  std::string tenant;
  std::vector<std::string> sensitivity;
  std::int64_t estimated_prompt_tokens = 0;
  std::optional<std::int64_t> max_tokens;
  bool tools = false;
  bool images = false;
  config::Placement placement = config::Placement::automatic;  // x-hearth-placement
  int minute_of_day = 0;                                       // local time, 0..1439
};

struct ExcludedTarget {
  std::string target;
  std::string reason;
};

struct Decision {
  const config::Rule* rule = nullptr;  // nullptr: no rule matched
  std::string rule_name;               // the rule's name, or "default"
  // The targets to try, in order, with everything the policy forbids already removed.
  std::vector<const config::ModelEntry*> targets;
  std::vector<ExcludedTarget> excluded;
  bool never_cloud = false;
  bool placement_honoured = false;  // the x-hearth-placement preference narrowed the chain
  // The privacy guard's verdict: the strongest action among the request's sensitivity labels
  // (allow when it has none), and the labels that call for it. local_only has already removed
  // the cloud targets; block is for the caller to refuse (it knows the finding types to name).
  config::PrivacyAction privacy = config::PrivacyAction::allow;
  std::vector<std::string> privacy_labels;
  // One line per rule tried before the match (or all of them): why it did not match.
  std::vector<std::string> trace;
};

// The decision for a request, or the error the client gets when no target is allowed (503
// `no_allowed_target`, naming the policy), the placement header is refused (403
// `placement_not_allowed`) or the model does not exist (404 `model_not_found`).
Expected<Decision, api::ApiError> decide(const config::Config& config, const RequestFacts& facts);

// The privacy action for one label: the matched rule's override (rule may be nullptr), else
// privacy.actions, else privacy.actions.default.
config::PrivacyAction privacy_action(const config::PrivacySettings& privacy,
                                     const config::Rule* rule, std::string_view label);

// Why `rule` does not match the facts ("" when it does).
std::string mismatch(const config::Rule& rule, const RequestFacts& facts);

// The estimated price of the request on a cloud model, in US dollars (prompt tokens at the input
// price, max_tokens — or kAssumedOutputTokens when absent — at the output price).
inline constexpr std::int64_t kAssumedOutputTokens = 1024;
double estimated_cost(const config::CloudBackend& cloud, const RequestFacts& facts);
// The price of an answer on a cloud model from its usage, in US dollars (cached prompt tokens at
// the cached-input price when one is set).
double answer_cost(const config::CloudBackend& cloud, std::int64_t prompt_tokens,
                   std::int64_t cached_tokens, std::int64_t completion_tokens);

// x-hearth-placement values; nullopt for anything else.
std::optional<config::Placement> parse_placement(std::string_view text);
// A comma-separated list of labels (x-hearth-sensitivity), lower-cased, empties dropped.
std::vector<std::string> parse_labels(std::string_view text);
// The task a route serves ("/chat/completions" -> chat ...).
std::optional<config::RequestTask> task_of_route(const std::string& route);

// A described request, for route explain: {"task", "model", "workload", "tenant", "sensitivity"
// (a list or a comma-separated string), "prompt_tokens", "max_tokens", "tools", "images",
// "placement", "time" ("HH:MM", default `minute_of_day`)}, every key optional.
Expected<RequestFacts, api::ApiError> facts_from_json(std::string_view body, int minute_of_day);

// What only a running gateway knows about a target: its backend state and circuit.
struct TargetState {
  std::string backend_state;
  std::string circuit;
};

// The decision as JSON, for POST /admin/route/explain and `hearth route explain`; `live` (when
// given) adds each target's state.
std::string decision_to_json(
    const Decision& decision, const RequestFacts& facts,
    const std::function<TargetState(const std::string& model)>& live = nullptr);

}  // namespace hearth::policy
