// A small Prometheus text-format registry. Each service declares all its metrics in one place
// (see worker/worker_metrics.hpp) and renders them at /metrics.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace hearth::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

// A counter or gauge with any number of label sets, each created on first use.
class Family {
 public:
  enum class Kind { counter, gauge };
  Family(std::string name, std::string help, Kind kind);

  void add(const Labels& labels, double value);
  void set(const Labels& labels, double value);
  double value(const Labels& labels) const;
  void render(std::string& out) const;

 private:
  std::string name_;
  std::string help_;
  Kind kind_;
  mutable std::mutex mutex_;
  std::map<std::string, double> values_;  // rendered label set -> value
};

class Registry {
 public:
  Family& counter(std::string name, std::string help);
  Family& gauge(std::string name, std::string help);
  // A value read at render time (queue depth, busy slots...).
  void gauge_callback(std::string name, std::string help, std::function<double()> read);
  // A monotonic total kept elsewhere (the engine's atomics), read at render time.
  void counter_callback(std::string name, std::string help, std::function<double()> read);
  std::string render() const;

 private:
  struct Callback {
    Family::Kind kind;
    std::string name;
    std::string help;
    std::function<double()> read;
  };
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Family>> families_;
  std::vector<Callback> callbacks_;
};

std::string render_labels(const Labels& labels);

}  // namespace hearth::metrics
