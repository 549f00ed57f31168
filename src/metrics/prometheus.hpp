// A small Prometheus text-format registry (exposition format 0.0.4). Each service declares all
// its metrics in one place (see worker/worker_metrics.hpp, gateway/gateway_metrics.hpp) and
// renders them at /metrics.
#pragma once

#include <array>
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

// The last few label sets a family recorded, each with its series' value: a request records the
// same label sets as the one before, and comparing them is far cheaper than rendering a key and
// looking it up. Guarded by the family's mutex; a family's series are never removed, so the
// pointers stay valid.
template <class Value>
class RecentSeries {
 public:
  Value* find(Labels labels) const {
    for (const Entry& entry : entries_) {
      if (entry.value != nullptr && same_labels(entry, labels)) return entry.value;
    }
    return nullptr;
  }
  void remember(Labels labels, Value* value) {
    Entry& entry = entries_[next_];
    next_ = (next_ + 1) % entries_.size();
    entry.labels.assign(labels.begin(), labels.end());
    entry.value = value;
  }

 private:
  struct Entry {
    std::vector<std::pair<std::string, std::string>> labels;
    Value* value = nullptr;
  };
  static bool same_labels(const Entry& entry, Labels labels) {
    if (entry.labels.size() != labels.size()) return false;
    auto given = labels.begin();
    for (const auto& [name, value] : entry.labels) {
      if (name != given->first || value != given->second) return false;
      ++given;
    }
    return true;
  }
  std::array<Entry, 4> entries_;
  std::size_t next_ = 0;
};

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
  RecentSeries<double> recent_;
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
  RecentSeries<Series> recent_;
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
