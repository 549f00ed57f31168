// `hearth route explain`: which rule and target chain a described request would get, and why,
// without sending anything. Uses the same policy code as the gateway; live state (circuit
// breakers, worker health) is only known to a running gateway: POST /admin/route/explain.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "config/config.hpp"
#include "policy/policy.hpp"

namespace hearth::cli {

int route_explain_command(const RouteExplainOptions& options) {
  auto config = options.config_path.empty()
                    ? Expected<config::Config, config::ConfigError>(
                          config::default_config(config::default_models_dir()))
                    : config::load_config_file(options.config_path);
  if (!config) {
    std::fprintf(stderr, "%s\n", config.error().to_string().c_str());
    return 1;
  }
  // The described request goes through the same reader as POST /admin/route/explain.
  nlohmann::json described = nlohmann::json::object();
  described["task"] = options.task;
  described["placement"] = options.placement;
  if (!options.model.empty()) described["model"] = options.model;
  if (!options.workload.empty()) described["workload"] = options.workload;
  if (!options.tenant.empty()) described["tenant"] = options.tenant;
  if (!options.sensitivity.empty()) described["sensitivity"] = options.sensitivity;
  if (options.prompt_tokens >= 0) described["prompt_tokens"] = options.prompt_tokens;
  if (options.max_tokens >= 0) described["max_tokens"] = options.max_tokens;
  if (!options.time.empty()) described["time"] = options.time;
  described["tools"] = options.tools;
  described["images"] = options.images;
  auto facts = policy::facts_from_json(described.dump(), 12 * 60);
  if (!facts) {
    std::fprintf(stderr, "hearth route explain: %s\n", facts.error().message.c_str());
    return 2;
  }
  auto decision = policy::decide(config.value(), facts.value());
  if (!decision) {
    // The answer a real request would get, in the OpenAI error shape.
    nlohmann::json error{
        {"status", decision.error().status},
        {"error",
         {{"message", decision.error().message}, {"code", decision.error().code.value_or("")}}}};
    std::printf("%s\n", error.dump(2).c_str());
    return 3;
  }
  std::printf("%s\n", policy::decision_to_json(decision.value(), facts.value()).c_str());
  return 0;
}

}  // namespace hearth::cli
