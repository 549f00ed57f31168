#include "metrics/prometheus.hpp"

#include <cmath>
#include <cstdio>

namespace hearth::metrics {

namespace {

std::string format_value(double value) {
  if (std::isnan(value)) {
    return "NaN";
  }
  char buffer[64];
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    std::snprintf(buffer, sizeof(buffer), "%.0f", value);
  } else {
    std::snprintf(buffer, sizeof(buffer), "%.6g", value);
  }
  return buffer;
}

std::string escape_label(const std::string& value) {
  std::string escaped;
  for (char c : value) {
    if (c == '\\' || c == '"') {
      escaped += '\\';
      escaped += c;
    } else if (c == '\n') {
      escaped += "\\n";
    } else {
      escaped += c;
    }
  }
  return escaped;
}

}  // namespace

std::string render_labels(const Labels& labels) {
  if (labels.empty()) {
    return {};
  }
  std::string out = "{";
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (i > 0) {
      out += ',';
    }
    out += labels[i].first + "=\"" + escape_label(labels[i].second) + "\"";
  }
  out += '}';
  return out;
}

Family::Family(std::string name, std::string help, Kind kind)
    : name_(std::move(name)), help_(std::move(help)), kind_(kind) {}

void Family::add(const Labels& labels, double value) {
  std::lock_guard lock(mutex_);
  values_[render_labels(labels)] += value;
}

void Family::set(const Labels& labels, double value) {
  std::lock_guard lock(mutex_);
  values_[render_labels(labels)] = value;
}

double Family::value(const Labels& labels) const {
  std::lock_guard lock(mutex_);
  auto it = values_.find(render_labels(labels));
  return it == values_.end() ? 0.0 : it->second;
}

void Family::render(std::string& out) const {
  out += "# HELP " + name_ + " " + help_ + "\n";
  out += "# TYPE " + name_ + (kind_ == Kind::counter ? " counter\n" : " gauge\n");
  std::lock_guard lock(mutex_);
  if (values_.empty() && kind_ == Kind::counter) {
    out += name_ + " 0\n";
  }
  for (const auto& [labels, value] : values_) {
    out += name_ + labels + " " + format_value(value) + "\n";
  }
}

Family& Registry::counter(std::string name, std::string help) {
  std::lock_guard lock(mutex_);
  families_.push_back(
      std::make_unique<Family>(std::move(name), std::move(help), Family::Kind::counter));
  return *families_.back();
}

Family& Registry::gauge(std::string name, std::string help) {
  std::lock_guard lock(mutex_);
  families_.push_back(
      std::make_unique<Family>(std::move(name), std::move(help), Family::Kind::gauge));
  return *families_.back();
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
    out += "# HELP " + callback.name + " " + callback.help + "\n";
    out += "# TYPE " + callback.name +
           (callback.kind == Family::Kind::counter ? " counter\n" : " gauge\n");
    out += callback.name + " " + format_value(callback.read()) + "\n";
  }
  return out;
}

}  // namespace hearth::metrics
