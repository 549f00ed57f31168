#include "eval/runner.hpp"

// clang-format off
#include <utility>
// clang-format on

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <charconv>
#include <exception>

namespace hearth::eval {

namespace net = boost::asio;

namespace {

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

http::ClientOptions client_options(const RunnerOptions& options) {
  http::ClientOptions client;
  client.single_threaded = true;
  client.timeouts.first_byte = options.timeout;
  client.timeouts.idle = options.timeout;
  client.timeouts.total = options.timeout;
  client.tls.ca_file = options.ca_file;
  return client;
}

std::optional<double> parse_milliseconds(std::string_view text) {
  double value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < 0) return std::nullopt;
  return value;
}

http::ClientRequest make_request(const Job& job, const RunnerOptions& options) {
  nlohmann::json body = job.sample->body;
  body["model"] = job.target;
  http::ClientRequest request;
  request.method = "POST";
  request.target = std::string(route_of(job.sample->task));
  request.headers.emplace_back("content-type", "application/json");
  request.headers.emplace_back("x-hearth-workload", options.workload);
  if (!options.api_key.empty()) {
    request.headers.emplace_back("authorization", "Bearer " + options.api_key);
  }
  request.body = body.dump();
  return request;
}

void read_response(const Job& job, const http::ClientResponse& response, SampleResult& result) {
  result.status = response.status;
  result.placement = std::string(response.header("x-hearth-placement"));
  result.backend = std::string(response.header("x-hearth-backend"));
  result.served_by = std::string(response.header("x-hearth-target"));
  result.busy_ms = parse_milliseconds(response.header("x-hearth-busy-ms"));
  if (response.status != 200) {
    result.error = "HTTP " + std::to_string(response.status) + ": " + error_message(response.body);
    return;
  }
  if (!result.served_by.empty() && result.served_by != job.target) {
    const auto rule = response.header("x-hearth-rule");
    result.error = "answered by " + result.served_by + ", not " + job.target +
                   (rule.empty() ? std::string() : " (rule " + std::string(rule) + ")") +
                   ": give the eval workload a rule without targets";
    return;
  }
  auto answer = read_answer(response.body, job.sample->task, result);
  if (!answer) result.error = answer.error();
}

net::awaitable<SampleResult> send(http::HttpClient& client, const Job& job,
                                  const std::string& samples_hash, const RunnerOptions& options) {
  SampleResult result;
  result.samples_hash = samples_hash;
  result.sample = job.sample->key;
  result.line = job.sample->line;
  result.target = job.target;
  auto request = make_request(job, options);
  const auto started = std::chrono::steady_clock::now();
  auto response = co_await client.fetch(std::move(request));
  result.latency_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  result.time_us = now_us();
  if (!response) {
    result.error =
        std::string(http::to_string(response.error().kind)) + ": " + response.error().message;
  } else {
    read_response(job, *response, result);
  }
  co_return result;
}

// co_spawn's completion: an exception escaping a coroutine is a bug; it leaves io.run().
constexpr auto rethrow = [](const std::exception_ptr& error) {
  if (error) std::rethrow_exception(error);
};

}  // namespace

Expected<bool, std::string> probe_gateway(const RunnerOptions& options) {
  net::io_context io;
  auto probe_options = client_options(options);
  probe_options.timeouts.first_byte = std::chrono::seconds(10);
  probe_options.timeouts.total = std::chrono::seconds(15);
  http::HttpClient client(io.get_executor(), options.gateway, probe_options);
  Expected<bool, std::string> outcome = true;
  auto probe = [&]() -> net::awaitable<void> {
    http::ClientRequest request;
    request.method = "GET";
    request.target = "/healthz";
    auto response = co_await client.fetch(std::move(request));
    if (!response) {
      outcome = unexpected("cannot reach the gateway at " + options.gateway.to_string() + ": " +
                           response.error().message);
    }
  };
  net::co_spawn(io, probe(), rethrow);
  io.run();
  return outcome;
}

void run_jobs(const std::vector<Job>& jobs, const std::string& samples_hash,
              const RunnerOptions& options, const std::function<void(SampleResult)>& on_result) {
  if (jobs.empty()) return;
  net::io_context io;
  http::HttpClient client(io.get_executor(), options.gateway, client_options(options));
  std::size_t next = 0;
  // Each sender takes the next job when its previous answer is in: at most `concurrency` in
  // flight, and a slow target does not hold back the others.
  auto sender = [&]() -> net::awaitable<void> {
    while (next < jobs.size()) {
      const Job& job = jobs[next++];
      auto result = co_await send(client, job, samples_hash, options);
      on_result(std::move(result));
    }
  };
  const auto senders = std::min<std::size_t>(
      static_cast<std::size_t>(std::max(1, options.concurrency)), jobs.size());
  for (std::size_t i = 0; i < senders; ++i) net::co_spawn(io, sender(), rethrow);
  io.run();
}

}  // namespace hearth::eval
