// A small Prometheus text-format registry (exposition format 0.0.4). Each service declares all
// its metrics in one place (see worker/worker_metrics.hpp, gateway/gateway_metrics.hpp) and
// renders them at /metrics.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace hearth::metrics {

// Label names and values, read during the call only: a series' key is rendered from them into a
// reused buffer, so recording a sample allocates nothing once its series exists.
using Label = std::pair<std::string_view, std::string_view>;
using Labels = std::initializer_list<Label>;

// One metric family in the registry's rendering order.
class Metric {
 public:
  virtual ~Metric() = default;
  virtual void render(std::string& out) const = 0;
};

// A counter or gauge with any number of label sets, each created on first use.
class Family : public Metric {
 public:
  enum class Kind { counter, gauge };
  Family(std::string name, std::string help, Kind kind);

  void add(Labels labels, double value);
  void set(Labels labels, double value);
  double value(Labels labels) const;
  void render(std::string& out) const override;

 private:
  std::string name_;
  std::string help_;
  Kind kind_;
  mutable std::mutex mutex_;
  std::map<std::string, double, std::less<>> values_;  // rendered label set -> value
};

// A histogram with fixed bucket upper bounds (inclusive, as Prometheus' `le`), the same for every
// label set. Renders NAME_bucket{...,le="B"} cumulatively up to le="+Inf", NAME_sum and
// NAME_count per label set; a family with no observation yet renders no series.
class Histogram : public Metric {
 public:
  // `bounds`: finite and strictly increasing; +Inf is implicit.
  Histogram(std::string name, std::string help, std::vector<double> bounds);

  // NaN is ignored (it would poison the sum); values above the last bound count in +Inf only.
  void observe(Labels labels, double value);
  void render(std::string& out) const override;

  struct Snapshot {
    std::vector<std::uint64_t> cumulative;  // per bound, then +Inf (== count)
    double sum = 0;
    std::uint64_t count = 0;
  };
  // Zeroes for a label set never observed.
  Snapshot snapshot(Labels labels) const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  struct Series {
    std::vector<std::uint64_t> counts;  // per bucket, not cumulative; the last is +Inf
    double sum = 0;
  };
  std::string name_;
  std::string help_;
  std::vector<double> bounds_;
  std::vector<std::string> bound_texts_;  // the `le` values, "+Inf" last
  mutable std::mutex mutex_;
  std::map<std::string, Series, std::less<>> series_;  // label pairs without braces -> series
};

class Registry {
 public:
  Family& counter(std::string name, std::string help);
  Family& gauge(std::string name, std::string help);
  Histogram& histogram(std::string name, std::string help, std::vector<double> bounds);
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
  std::vector<std::unique_ptr<Metric>> families_;
  std::vector<Callback> callbacks_;
};

// A sample value: integers without a fraction, others with the fewest digits that read back
// exactly; NaN, +Inf, -Inf as Prometheus spells them.
std::string format_value(double value);

}  // namespace hearth::metrics
