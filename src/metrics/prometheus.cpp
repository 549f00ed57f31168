#include "metrics/prometheus.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace hearth::metrics {

namespace {

// Whole runs between the characters that need escaping are appended at once: label values are
// rendered for every sample a request records, and a character at a time cost ~8 instructions
// per character.
constexpr std::array<bool, 256> kEscapedInLabels = []() {
  std::array<bool, 256> escaped{};
  escaped['\\'] = escaped['"'] = escaped['\n'] = true;
  return escaped;
}();

void append_escaped_label(std::string& out, std::string_view value) {
  std::size_t run_start = 0;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (!kEscapedInLabels[static_cast<unsigned char>(c)]) continue;
    out.append(value.substr(run_start, i - run_start));
    run_start = i + 1;
    out += c == '\n'  ? std::string_view("\\n")
           : c == '"' ? std::string_view("\\\"")
                      : std::string_view("\\\\");
  }
  out.append(value.substr(run_start));
}

// The label pairs without braces: `a="x",b="y"`.
void append_label_pairs(std::string& out, Labels labels) {
  bool first = true;
  for (const auto& [name, value] : labels) {
    if (!first) {
      out += ',';
    }
    first = false;
    out += name;
    out += "=\"";
    append_escaped_label(out, value);
    out += '"';
  }
}

// A series' key, rendered into this thread's buffer: valid until the next call on the thread.
std::string_view series_key(Labels labels, bool braces) {
  thread_local std::string key;
  key.clear();
  if (labels.size() == 0) {
    return key;
  }
  if (braces) key += '{';
  append_label_pairs(key, labels);
  if (braces) key += '}';
  return key;
}

// The value of `key` in `series`, added when absent (the key is copied only then).
template <class Map>
typename Map::mapped_type& slot(Map& series, std::string_view key) {
  auto found = series.find(key);
  if (found == series.end()) {
    found = series.emplace(std::string(key), typename Map::mapped_type{}).first;
  }
  return found->second;
}

// The series of `labels` in `series`, found among the family's recent label sets or by its key
// (added when absent). Callers hold the family's mutex.
template <class Map>
typename Map::mapped_type& recent_slot(RecentSeries<typename Map::mapped_type>& recent, Map& series,
                                       Labels labels, bool braces) {
  if (auto* known = recent.find(labels)) return *known;
  auto& value = slot(series, series_key(labels, braces));
  recent.remember(labels, &value);
  return value;
}

void render_header(std::string& out, const std::string& name, const std::string& help,
                   const char* type) {
  out += "# HELP " + name + " " + help + "\n";
  out += "# TYPE " + name + " " + type + "\n";
}

}  // namespace

std::string format_value(double value) {
  if (std::isnan(value)) {
    return "NaN";
  }
  if (std::isinf(value)) {
    return value > 0 ? "+Inf" : "-Inf";
  }
  char buffer[64];
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    std::snprintf(buffer, sizeof(buffer), "%.0f", value);
    return buffer;
  }
  // Spend and energy totals are fractions that grow: rounding them to a few digits would make
  // increase() over them step.
  for (int precision = 6; precision <= 17; ++precision) {
    std::snprintf(buffer, sizeof(buffer), "%.*g", precision, value);
    if (std::strtod(buffer, nullptr) == value) {
      break;
    }
  }
  return buffer;
}

Family::Family(std::string name, std::string help, Kind kind)
    : name_(std::move(name)), help_(std::move(help)), kind_(kind) {}

void Family::add(Labels labels, double value) {
  std::lock_guard lock(mutex_);
  recent_slot(recent_, values_, labels, true) += value;
}

void Family::set(Labels labels, double value) {
  std::lock_guard lock(mutex_);
  recent_slot(recent_, values_, labels, true) = value;
}

double Family::value(Labels labels) const {
  const std::string_view key = series_key(labels, true);
  std::lock_guard lock(mutex_);
  auto it = values_.find(key);
  return it == values_.end() ? 0.0 : it->second;
}

void Family::render(std::string& out) const {
  render_header(out, name_, help_, kind_ == Kind::counter ? "counter" : "gauge");
  std::lock_guard lock(mutex_);
  if (values_.empty() && kind_ == Kind::counter) {
    out += name_ + " 0\n";
  }
  for (const auto& [labels, value] : values_) {
    out += name_ + labels + " " + format_value(value) + "\n";
  }
}

Histogram::Histogram(std::string name, std::string help, std::vector<double> bounds)
    : name_(std::move(name)), help_(std::move(help)), bounds_(std::move(bounds)) {
  assert(!bounds_.empty() && "a histogram needs at least one bucket bound");
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    assert(std::isfinite(bounds_[i]) && "bucket bounds are finite; +Inf is implicit");
    assert((i == 0 || bounds_[i - 1] < bounds_[i]) && "bucket bounds must strictly increase");
    bound_texts_.push_back(format_value(bounds_[i]));
  }
  bound_texts_.push_back("+Inf");
}

void Histogram::observe(Labels labels, double value) {
  if (std::isnan(value)) {
    return;
  }
  for ([[maybe_unused]] const auto& [key, unused] : labels) {
    assert(key != "le" && "`le` is the histogram's own bucket label");
  }
  // `le` is inclusive: the first bound not below the value.
  const auto bucket = static_cast<std::size_t>(
      std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
  std::lock_guard lock(mutex_);
  Series& series = recent_slot(recent_, series_, labels, false);
  if (series.counts.empty()) {
    series.counts.assign(bounds_.size() + 1, 0);
  }
  ++series.counts[bucket];
  series.sum += value;
}

Histogram::Snapshot Histogram::snapshot(Labels labels) const {
  Snapshot snapshot;
  snapshot.cumulative.assign(bounds_.size() + 1, 0);
  const std::string_view key = series_key(labels, false);
  std::lock_guard lock(mutex_);
  auto found = series_.find(key);
  if (found == series_.end()) {
    return snapshot;
  }
  std::uint64_t running = 0;
  for (std::size_t i = 0; i < found->second.counts.size(); ++i) {
    running += found->second.counts[i];
    snapshot.cumulative[i] = running;
  }
  snapshot.count = running;
  snapshot.sum = found->second.sum;
  return snapshot;
}

void Histogram::render(std::string& out) const {
  render_header(out, name_, help_, "histogram");
  std::lock_guard lock(mutex_);
  for (const auto& [pairs, series] : series_) {
    std::string prefix = "{";
    prefix += pairs;
    prefix += pairs.empty() ? "le=\"" : ",le=\"";
    std::uint64_t running = 0;
    for (std::size_t i = 0; i < series.counts.size(); ++i) {
      running += series.counts[i];
      out += name_ + "_bucket" + prefix + bound_texts_[i] + "\"} " + std::to_string(running) + "\n";
    }
    std::string braced;
    if (!pairs.empty()) {
      braced += '{';
      braced += pairs;
      braced += '}';
    }
    out += name_ + "_sum" + braced + " " + format_value(series.sum) + "\n";
    out += name_ + "_count" + braced + " " + std::to_string(running) + "\n";
  }
}

Family& Registry::counter(std::string name, std::string help) {
  auto family = std::make_unique<Family>(std::move(name), std::move(help), Family::Kind::counter);
  auto& result = *family;
  std::lock_guard lock(mutex_);
  families_.push_back(std::move(family));
  return result;
}

Family& Registry::gauge(std::string name, std::string help) {
  auto family = std::make_unique<Family>(std::move(name), std::move(help), Family::Kind::gauge);
  auto& result = *family;
  std::lock_guard lock(mutex_);
  families_.push_back(std::move(family));
  return result;
}

Histogram& Registry::histogram(std::string name, std::string help, std::vector<double> bounds) {
  auto histogram = std::make_unique<Histogram>(std::move(name), std::move(help), std::move(bounds));
  auto& result = *histogram;
  std::lock_guard lock(mutex_);
  families_.push_back(std::move(histogram));
  return result;
}

void Registry::gauge_callback(std::string name, std::string help, std::function<double()> read) {
  std::lock_guard lock(mutex_);
  callbacks_.push_back({Family::Kind::gauge, std::move(name), std::move(help), std::move(read)});
}

void Registry::counter_callback(std::string name, std::string help, std::function<double()> read) {
  std::lock_guard lock(mutex_);
  callbacks_.push_back({Family::Kind::counter, std::move(name), std::move(help), std::move(read)});
}

std::string Registry::render() const {
  std::string out;
  std::lock_guard lock(mutex_);
  for (const auto& family : families_) {
    family->render(out);
  }
  for (const auto& callback : callbacks_) {
    render_header(out, callback.name, callback.help,
                  callback.kind == Family::Kind::counter ? "counter" : "gauge");
    out += callback.name + " " + format_value(callback.read()) + "\n";
  }
  return out;
}

}  // namespace hearth::metrics
