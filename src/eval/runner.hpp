// Sends the samples to a running gateway, each with "model" set to a target, at most
// `concurrency` requests at a time, and hands every answer back as a SampleResult as it arrives.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "common/expected.hpp"
#include "eval/results.hpp"
#include "eval/samples.hpp"
#include "http/client.hpp"

namespace hearth::eval {

struct RunnerOptions {
  http::Endpoint gateway;
  std::string workload = "hearth-eval";  // x-hearth-workload
  std::string api_key;                   // "" : no Authorization header
  std::string ca_file;                   // https gateways: "" trusts the system store
  int concurrency = 4;
  std::chrono::milliseconds timeout{600'000};  // per request, whole answer
};

struct Job {
  const Sample* sample = nullptr;
  std::string target;
};

// GET /healthz: whether a gateway answers at all, so that a wrong --url is one clear error
// instead of one per sample.
Expected<bool, std::string> probe_gateway(const RunnerOptions& options);

// Runs every job and calls `on_result` for each, on the calling thread, one at a time, in the
// order the answers arrive. A failure is a result with `error` set: an HTTP error status, no
// answer (connection, timeout), an unreadable body, or an answer from another model entry than
// the target (a policy rule or a fallback chose it).
void run_jobs(const std::vector<Job>& jobs, const std::string& samples_hash,
              const RunnerOptions& options, const std::function<void(SampleResult)>& on_result);

}  // namespace hearth::eval
