#include "policy/policy.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <iterator>
#include <nlohmann/json.hpp>
#include <utility>

namespace hearth::policy {

namespace {

using config::Placement;

std::string join(const std::vector<std::string>& items) {
  std::string text;
  for (const auto& item : items) {
    text += text.empty() ? "" : ", ";
    text += item;
  }
  return text;
}

template <class T>
bool contains(const std::vector<T>& items, const T& item) {
  return std::find(items.begin(), items.end(), item) != items.end();
}

std::string list_of(const std::vector<std::string>& items) {
  std::string text(1, '[');
  text += join(items);
  text += ']';
  return text;
}

template <class Enum>
std::string list_of(const std::vector<Enum>& items) {
  std::vector<std::string> names;
  for (auto item : items) {
    names.emplace_back(config::to_string(item));
  }
  return list_of(names);
}

std::string describe_range(const config::IntegerRange& range) {
  return fmt::format("[{}, {}]", range.min ? std::to_string(*range.min) : "",
                     range.max ? std::to_string(*range.max) : "");
}

bool in_range(const config::IntegerRange& range, std::int64_t value) {
  return (!range.min || value >= *range.min) && (!range.max || value <= *range.max);
}

bool in_window(const config::TimeWindow& window, int minute) {
  if (window.start_minute <= window.end_minute) {
    return minute >= window.start_minute && minute < window.end_minute;
  }
  return minute >= window.start_minute || minute < window.end_minute;  // wraps midnight
}

std::string clock_text(int minute) {
  return fmt::format("{:02d}:{:02d}", minute / 60, minute % 60);
}

std::string quoted_or_none(const std::string& value) {
  return value.empty() ? std::string("none") : "'" + value + "'";
}

api::ApiError policy_error(int status, std::string message, std::string code) {
  return api::api_error(status, std::move(message), std::move(code));
}

}  // namespace

std::string mismatch(const config::Rule& rule, const RequestFacts& facts) {
  const auto& match = rule.match;
  if (!match.workloads.empty() && !contains(match.workloads, facts.workload)) {
    return "workload " + quoted_or_none(facts.workload) + " not in " + list_of(match.workloads);
  }
  if (!match.tenants.empty() && !contains(match.tenants, facts.tenant)) {
    return "tenant " + quoted_or_none(facts.tenant) + " not in " + list_of(match.tenants);
  }
  if (!match.tasks.empty() && !contains(match.tasks, facts.task)) {
    return "task '" + std::string(config::to_string(facts.task)) + "' not in " +
           list_of(match.tasks);
  }
  if (!match.models.empty() && !contains(match.models, facts.model)) {
    return "model " + quoted_or_none(facts.model) + " not in " + list_of(match.models);
  }
  if (!match.sensitivity.empty()) {
    const bool any =
        std::any_of(facts.sensitivity.begin(), facts.sensitivity.end(),
                    [&](const auto& label) { return contains(match.sensitivity, label); });
    if (!any) {
      return "sensitivity " + list_of(facts.sensitivity) + " has none of " +
             list_of(match.sensitivity);
    }
  }
  if (match.prompt_tokens && !in_range(*match.prompt_tokens, facts.estimated_prompt_tokens)) {
    return fmt::format("estimated prompt tokens {} outside {}", facts.estimated_prompt_tokens,
                       describe_range(*match.prompt_tokens));
  }
  if (match.max_tokens) {
    if (!facts.max_tokens) {
      return "no max_tokens requested (the rule needs " + describe_range(*match.max_tokens) + ")";
    }
    if (!in_range(*match.max_tokens, *facts.max_tokens)) {
      return fmt::format("max_tokens {} outside {}", *facts.max_tokens,
                         describe_range(*match.max_tokens));
    }
  }
  if (match.tools && *match.tools != facts.tools) {
    return facts.tools ? "the request has tools" : "the request has no tools";
  }
  if (match.images && *match.images != facts.images) {
    return facts.images ? "the request has images" : "the request has no images";
  }
  if (!match.time_of_day.empty()) {
    const bool any =
        std::any_of(match.time_of_day.begin(), match.time_of_day.end(),
                    [&](const auto& window) { return in_window(window, facts.minute_of_day); });
    if (!any) {
      std::vector<std::string> windows;
      for (const auto& window : match.time_of_day) {
        windows.push_back(clock_text(window.start_minute) + "-" + clock_text(window.end_minute));
      }
      return "time " + clock_text(facts.minute_of_day) + " outside " + list_of(windows);
    }
  }
  if (!match.placement.empty() && !contains(match.placement, facts.placement)) {
    return "placement '" + std::string(config::to_string(facts.placement)) + "' not in " +
           list_of(match.placement);
  }
  return "";
}

config::PrivacyAction privacy_action(const config::PrivacySettings& privacy,
                                     const config::Rule* rule, std::string_view label) {
  if (rule != nullptr) {
    if (auto found = rule->privacy.find(label); found != rule->privacy.end()) {
      return found->second;
    }
  }
  if (auto found = privacy.actions.find(label); found != privacy.actions.end()) {
    return found->second;
  }
  return privacy.default_action;
}

double estimated_cost(const config::CloudBackend& cloud, const RequestFacts& facts) {
  const auto output =
      facts.task == config::RequestTask::chat || facts.task == config::RequestTask::completion
          ? facts.max_tokens.value_or(kAssumedOutputTokens)
          : 0;
  return (static_cast<double>(facts.estimated_prompt_tokens) * cloud.price.input +
          static_cast<double>(output) * cloud.price.output) /
         1e6;
}

double answer_cost(const config::CloudBackend& cloud, std::int64_t prompt_tokens,
                   std::int64_t cached_tokens, std::int64_t completion_tokens) {
  const double cached_price =
      cloud.price.cached_input > 0 ? cloud.price.cached_input : cloud.price.input;
  const auto cached = std::min(cached_tokens, prompt_tokens);
  return (static_cast<double>(prompt_tokens - cached) * cloud.price.input +
          static_cast<double>(cached) * cached_price +
          static_cast<double>(completion_tokens) * cloud.price.output) /
         1e6;
}

Expected<Decision, api::ApiError> decide(const config::Config& config, const RequestFacts& facts) {
  Decision decision;
  for (const auto& rule : config.policy.rules) {
    auto why = mismatch(rule, facts);
    if (why.empty()) {
      decision.rule = &rule;
      break;
    }
    decision.trace.push_back("rule '" + rule.name + "': " + why);
  }
  decision.rule_name = decision.rule ? decision.rule->name : std::string("default");
  decision.never_cloud = decision.rule && decision.rule->never_cloud;
  for (const auto& label : facts.sensitivity) {
    const auto action = privacy_action(config.privacy, decision.rule, label);
    if (action > decision.privacy) {
      decision.privacy = action;
      decision.privacy_labels.clear();
    }
    if (action == decision.privacy && action != config::PrivacyAction::allow) {
      decision.privacy_labels.push_back(label);
    }
  }
  const bool privacy_local_only = decision.privacy == config::PrivacyAction::local_only;

  // The placement header narrows the chain only where the rule allows it; a rule that matches on
  // the preference has been written for it and takes it as it is.
  if (facts.placement != Placement::automatic) {
    const bool allowed = decision.rule && decision.rule->allow_placement;
    const bool matched_on_it = decision.rule && !decision.rule->match.placement.empty();
    if (!allowed && !matched_on_it) {
      auto error =
          policy_error(403,
                       "x-hearth-placement: " + std::string(config::to_string(facts.placement)) +
                           " is not allowed by policy rule '" + decision.rule_name +
                           "' (the rule needs allow_placement: true)",
                       "placement_not_allowed");
      error.param = "x-hearth-placement";
      return unexpected(std::move(error));
    }
    decision.placement_honoured = allowed;
    if (allowed && facts.placement == Placement::cloud && decision.never_cloud) {
      auto error = policy_error(403,
                                "x-hearth-placement: cloud is refused: policy rule '" +
                                    decision.rule_name + "' is never_cloud",
                                "placement_not_allowed");
      error.param = "x-hearth-placement";
      return unexpected(std::move(error));
    }
  }

  std::vector<std::string> names;
  if (decision.rule && !decision.rule->targets.empty()) {
    names = decision.rule->targets;
  } else {
    names.push_back(facts.model.empty() ? config.default_model : facts.model);
    if (names.back().empty() && !config.models.empty()) {
      names.back() = config.models.front().name;
    }
  }
  for (const auto& name : names) {
    const config::ModelEntry* entry = config.find_model(name);
    if (entry == nullptr) {
      if (decision.rule && !decision.rule->targets.empty()) {
        decision.excluded.push_back({name, "not configured"});
        continue;
      }
      std::vector<std::string> known;
      for (const auto& model : config.models) {
        known.push_back(model.name);
      }
      auto error = policy_error(
          404,
          name.empty() ? std::string("No model given and no default model is configured")
                       : "The model '" + name + "' does not exist (models: " +
                             (known.empty() ? std::string("none") : join(known)) + ")",
          "model_not_found");
      error.param = "model";
      return unexpected(std::move(error));
    }
    const auto placement = config::placement_of(*entry);
    if (placement == Placement::cloud && decision.never_cloud) {
      decision.excluded.push_back({entry->name, "never_cloud"});
      continue;
    }
    if (placement == Placement::cloud && privacy_local_only) {
      decision.excluded.push_back(
          {entry->name, "privacy policy: local_only for " + list_of(decision.privacy_labels)});
      continue;
    }
    if (decision.placement_honoured && placement != facts.placement) {
      decision.excluded.push_back(
          {entry->name, "x-hearth-placement: " + std::string(config::to_string(facts.placement))});
      continue;
    }
    if (const auto* cloud = std::get_if<config::CloudBackend>(&entry->backend);
        cloud && decision.rule && decision.rule->max_cost_per_request) {
      const double cost = estimated_cost(*cloud, facts);
      if (cost > *decision.rule->max_cost_per_request) {
        decision.excluded.push_back(
            {entry->name, fmt::format("estimated cost ${:.6f} over max_cost_per_request ${:.6f}",
                                      cost, *decision.rule->max_cost_per_request)});
        continue;
      }
    }
    decision.targets.push_back(entry);
  }
  if (decision.targets.empty()) {
    std::vector<std::string> reasons;
    for (const auto& excluded : decision.excluded) {
      reasons.push_back(excluded.target + ": " + excluded.reason);
    }
    auto error = policy_error(503,
                              "Policy rule '" + decision.rule_name +
                                  "' leaves no target this request may use (" + join(reasons) + ")",
                              "no_allowed_target");
    return unexpected(std::move(error));
  }
  return decision;
}

std::optional<config::Placement> parse_placement(std::string_view text) {
  if (text == "local") return Placement::local;
  if (text == "cloud") return Placement::cloud;
  if (text == "auto") return Placement::automatic;
  return std::nullopt;
}

std::vector<std::string> parse_labels(std::string_view text) {
  std::vector<std::string> labels;
  std::string current;
  auto flush = [&] {
    if (!current.empty() && !contains(labels, current)) {
      labels.push_back(current);
    }
    current.clear();
  };
  for (char c : text) {
    if (c == ',') {
      flush();
    } else if (!std::isspace(static_cast<unsigned char>(c))) {
      current += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  flush();
  return labels;
}

std::optional<config::RequestTask> task_of_route(const std::string& route) {
  if (route == "/chat/completions") return config::RequestTask::chat;
  if (route == "/completions") return config::RequestTask::completion;
  if (route == "/embeddings" || route == "/embedding") return config::RequestTask::embedding;
  if (route == "/rerank" || route == "/reranking") return config::RequestTask::rerank;
  return std::nullopt;
}

Expected<RequestFacts, api::ApiError> facts_from_json(std::string_view body, int minute_of_day) {
  RequestFacts facts;
  facts.minute_of_day = minute_of_day;
  auto fail = [](const std::string& message, const std::string& param) {
    return unexpected(api::invalid_request(message, param, "invalid_value"));
  };
  const auto document = nlohmann::json::parse(body, nullptr, false);
  if (document.is_discarded() || !document.is_object()) {
    return fail("The body must be a JSON object describing the request", "body");
  }
  static constexpr std::string_view kKeys[] = {
      "task",       "model", "workload", "tenant",    "sensitivity", "prompt_tokens",
      "max_tokens", "tools", "images",   "placement", "time"};
  for (const auto& [key, value] : document.items()) {
    if (std::find(std::begin(kKeys), std::end(kKeys), key) == std::end(kKeys)) {
      return fail("Unknown key '" + key +
                      "' (task, model, workload, tenant, sensitivity, prompt_tokens, "
                      "max_tokens, tools, images, placement, time)",
                  key);
    }
    (void)value;
  }
  auto text = [&](const char* key, std::string& out) -> bool {
    auto found = document.find(key);
    if (found == document.end() || found->is_null()) return true;
    if (!found->is_string()) return false;
    out = found->get<std::string>();
    return true;
  };
  std::string task = "chat";
  std::string placement = "auto";
  std::string time;
  for (auto [key, out] : {std::pair<const char*, std::string*>{"task", &task},
                          {"model", &facts.model},
                          {"workload", &facts.workload},
                          {"tenant", &facts.tenant},
                          {"placement", &placement},
                          {"time", &time}}) {
    if (!text(key, *out)) {
      return fail(std::string("'") + key + "' must be a string", key);
    }
  }
  if (task == "chat") {
    facts.task = config::RequestTask::chat;
  } else if (task == "completion") {
    facts.task = config::RequestTask::completion;
  } else if (task == "embedding") {
    facts.task = config::RequestTask::embedding;
  } else if (task == "rerank") {
    facts.task = config::RequestTask::rerank;
  } else {
    return fail("'task' must be chat, completion, embedding or rerank, got '" + task + "'", "task");
  }
  auto parsed = parse_placement(placement);
  if (!parsed) {
    return fail("'placement' must be local, cloud or auto, got '" + placement + "'", "placement");
  }
  facts.placement = *parsed;
  if (!time.empty()) {
    // Exactly HH:MM: a lenient reader would take "01:30pm" for 01:30.
    const auto digit = [&](std::size_t i) { return time[i] >= '0' && time[i] <= '9'; };
    const bool shaped =
        time.size() == 5 && digit(0) && digit(1) && time[2] == ':' && digit(3) && digit(4);
    const int hours = shaped ? (time[0] - '0') * 10 + (time[1] - '0') : -1;
    const int minutes = shaped ? (time[3] - '0') * 10 + (time[4] - '0') : -1;
    if (!shaped || hours > 23 || minutes > 59) {
      return fail("'time' must be HH:MM, got '" + time + "'", "time");
    }
    facts.minute_of_day = hours * 60 + minutes;
  }
  if (auto found = document.find("sensitivity"); found != document.end() && !found->is_null()) {
    if (found->is_string()) {
      facts.sensitivity = parse_labels(found->get<std::string>());
    } else if (found->is_array()) {
      std::string joined;
      for (const auto& label : *found) {
        if (!label.is_string()) {
          return fail("'sensitivity' must be a list of strings", "sensitivity");
        }
        joined += label.get<std::string>() + ",";
      }
      facts.sensitivity = parse_labels(joined);
    } else {
      return fail("'sensitivity' must be a list of strings", "sensitivity");
    }
  }
  for (auto [key, out] :
       {std::pair<const char*, std::int64_t*>{"prompt_tokens", &facts.estimated_prompt_tokens}}) {
    if (auto found = document.find(key); found != document.end() && !found->is_null()) {
      if (!found->is_number_integer() || found->get<std::int64_t>() < 0) {
        return fail(std::string("'") + key + "' must be a non-negative integer", key);
      }
      *out = found->get<std::int64_t>();
    }
  }
  if (auto found = document.find("max_tokens"); found != document.end() && !found->is_null()) {
    if (!found->is_number_integer() || found->get<std::int64_t>() < 0) {
      return fail("'max_tokens' must be a non-negative integer", "max_tokens");
    }
    facts.max_tokens = found->get<std::int64_t>();
  }
  for (auto [key, out] :
       {std::pair<const char*, bool*>{"tools", &facts.tools}, {"images", &facts.images}}) {
    if (auto found = document.find(key); found != document.end() && !found->is_null()) {
      if (!found->is_boolean()) {
        return fail(std::string("'") + key + "' must be true or false", key);
      }
      *out = found->get<bool>();
    }
  }
  return facts;
}

std::string decision_to_json(const Decision& decision, const RequestFacts& facts,
                             const std::function<TargetState(const std::string& model)>& live) {
  nlohmann::json targets = nlohmann::json::array();
  for (const auto* entry : decision.targets) {
    nlohmann::json target{{"model", entry->name},
                          {"placement", config::to_string(config::placement_of(*entry))}};
    if (const auto* cloud = std::get_if<config::CloudBackend>(&entry->backend)) {
      target["provider"] = cloud->provider;
      target["estimated_cost_usd"] = estimated_cost(*cloud, facts);
    }
    if (live) {
      auto state = live(entry->name);
      target["backend_state"] = std::move(state.backend_state);
      target["circuit"] = std::move(state.circuit);
    }
    targets.push_back(std::move(target));
  }
  nlohmann::json excluded = nlohmann::json::array();
  for (const auto& item : decision.excluded) {
    excluded.push_back({{"model", item.target}, {"reason", item.reason}});
  }
  nlohmann::json request{{"task", config::to_string(facts.task)},
                         {"model", facts.model},
                         {"workload", facts.workload},
                         {"tenant", facts.tenant},
                         {"sensitivity", facts.sensitivity},
                         {"estimated_prompt_tokens", facts.estimated_prompt_tokens},
                         {"tools", facts.tools},
                         {"images", facts.images},
                         {"placement", config::to_string(facts.placement)},
                         {"time", clock_text(facts.minute_of_day)}};
  request["max_tokens"] = facts.max_tokens ? nlohmann::json(*facts.max_tokens) : nlohmann::json();
  nlohmann::json answer{
      {"rule", decision.rule_name},          {"matched", decision.rule != nullptr},
      {"targets", std::move(targets)},       {"excluded", std::move(excluded)},
      {"never_cloud", decision.never_cloud}, {"placement_honoured", decision.placement_honoured},
      {"not_matched", decision.trace},       {"request", std::move(request)}};
  answer["privacy"] = {{"action", config::to_string(decision.privacy)},
                       {"labels", decision.privacy_labels}};
  if (decision.rule) {
    answer["rule_line"] = decision.rule->line;
    if (decision.rule->latency_slo) {
      answer["latency_slo_ms"] = decision.rule->latency_slo->count();
    }
    if (decision.rule->max_cost_per_request) {
      answer["max_cost_per_request"] = *decision.rule->max_cost_per_request;
    }
    answer["escalate"] = decision.rule->escalate.has_value();
  }
  return answer.dump(2);
}

}  // namespace hearth::policy
