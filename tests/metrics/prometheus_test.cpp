#include "metrics/prometheus.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace hearth::metrics {
namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream stream(text);
  for (std::string line; std::getline(stream, line);) {
    lines.push_back(line);
  }
  return lines;
}

TEST(FormatValue, IntegersHaveNoFraction) {
  EXPECT_EQ(format_value(0), "0");
  EXPECT_EQ(format_value(42), "42");
  EXPECT_EQ(format_value(-3), "-3");
}

TEST(FormatValue, FractionsReadBackExactly) {
  for (double value : {0.1, 0.005, 2.5, 1.0 / 3.0, 123456.789012345, 1e-9, 0.30000000000000004}) {
    const auto text = format_value(value);
    EXPECT_EQ(std::strtod(text.c_str(), nullptr), value) << text;
  }
  EXPECT_EQ(format_value(0.1), "0.1");
  EXPECT_EQ(format_value(2.5), "2.5");
}

TEST(FormatValue, SpecialValuesUsePrometheusSpelling) {
  EXPECT_EQ(format_value(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(format_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_value(-std::numeric_limits<double>::infinity()), "-Inf");
}

TEST(Histogram, RendersCumulativeBucketsSumAndCount) {
  Histogram histogram("x_seconds", "Some latency", {0.1, 1, 10});
  histogram.observe({}, 0.05);
  histogram.observe({}, 0.1);  // `le` is inclusive
  histogram.observe({}, 0.5);
  histogram.observe({}, 20);  // above every bound: +Inf only
  std::string out;
  histogram.render(out);
  EXPECT_EQ(out,
            "# HELP x_seconds Some latency\n"
            "# TYPE x_seconds histogram\n"
            "x_seconds_bucket{le=\"0.1\"} 2\n"
            "x_seconds_bucket{le=\"1\"} 3\n"
            "x_seconds_bucket{le=\"10\"} 3\n"
            "x_seconds_bucket{le=\"+Inf\"} 4\n"
            "x_seconds_sum 20.65\n"
            "x_seconds_count 4\n");
}

TEST(Histogram, EachLabelSetIsItsOwnSeriesWithLeLast) {
  Histogram histogram("req_seconds", "Latency", {1, 2});
  histogram.observe({{"workload", "chat"}, {"placement", "local"}}, 1.5);
  histogram.observe({{"workload", "chat"}, {"placement", "cloud"}}, 0.5);
  histogram.observe({{"workload", "chat"}, {"placement", "cloud"}}, 3);
  std::string out;
  histogram.render(out);
  EXPECT_EQ(out,
            "# HELP req_seconds Latency\n"
            "# TYPE req_seconds histogram\n"
            "req_seconds_bucket{workload=\"chat\",placement=\"cloud\",le=\"1\"} 1\n"
            "req_seconds_bucket{workload=\"chat\",placement=\"cloud\",le=\"2\"} 1\n"
            "req_seconds_bucket{workload=\"chat\",placement=\"cloud\",le=\"+Inf\"} 2\n"
            "req_seconds_sum{workload=\"chat\",placement=\"cloud\"} 3.5\n"
            "req_seconds_count{workload=\"chat\",placement=\"cloud\"} 2\n"
            "req_seconds_bucket{workload=\"chat\",placement=\"local\",le=\"1\"} 0\n"
            "req_seconds_bucket{workload=\"chat\",placement=\"local\",le=\"2\"} 1\n"
            "req_seconds_bucket{workload=\"chat\",placement=\"local\",le=\"+Inf\"} 1\n"
            "req_seconds_sum{workload=\"chat\",placement=\"local\"} 1.5\n"
            "req_seconds_count{workload=\"chat\",placement=\"local\"} 1\n");
}

TEST(Histogram, LabelValuesAreEscaped) {
  Histogram histogram("h", "Help", {1});
  histogram.observe({{"name", "a\"b\\c\nd"}}, 0);
  std::string out;
  histogram.render(out);
  EXPECT_NE(out.find("h_bucket{name=\"a\\\"b\\\\c\\nd\",le=\"1\"} 1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("h_count{name=\"a\\\"b\\\\c\\nd\"} 1\n"), std::string::npos) << out;
}

TEST(Family, LabelValuesAreEscapedAtEitherEndAndKeptApartByValue) {
  Registry registry;
  auto& requests = registry.counter("r_total", "Requests");
  requests.add({{"a", "\"start"}, {"b", "end\\"}}, 1);
  requests.add({{"a", "\n"}, {"b", ""}}, 2);
  requests.add({{"a", "plain"}, {"b", "x"}}, 3);
  requests.add({{"a", "plain"}, {"b", "x"}}, 4);
  const std::string out = registry.render();
  EXPECT_NE(out.find("r_total{a=\"\\\"start\",b=\"end\\\\\"} 1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("r_total{a=\"\\n\",b=\"\"} 2\n"), std::string::npos) << out;
  EXPECT_NE(out.find("r_total{a=\"plain\",b=\"x\"} 7\n"), std::string::npos) << out;
}

TEST(Family, ManyLabelSetsInTurnEachKeepTheirOwnValue) {
  // More label sets than a family remembers, recorded in turn, and sets that differ only in a
  // label's name, in the number of labels or in a value's prefix.
  Registry registry;
  auto& requests = registry.counter("r_total", "Requests");
  auto& seconds = registry.histogram("s", "Seconds", {1});
  const std::vector<std::string> models = {"a", "b", "c", "d", "e", "f", "ab"};
  for (int round = 0; round < 3; ++round) {
    for (std::size_t i = 0; i < models.size(); ++i) {
      requests.add({{"model", models[i]}}, static_cast<double>(i + 1));
      seconds.observe({{"model", models[i]}}, static_cast<double>(i));
    }
    requests.add({{"backend", "a"}}, 100);
    requests.add({{"model", "a"}, {"status", "200"}}, 1000);
  }
  for (std::size_t i = 0; i < models.size(); ++i) {
    EXPECT_EQ(requests.value({{"model", models[i]}}), 3.0 * static_cast<double>(i + 1))
        << models[i];
    const auto snapshot = seconds.snapshot({{"model", models[i]}});
    EXPECT_EQ(snapshot.count, 3u) << models[i];
    EXPECT_EQ(snapshot.sum, 3.0 * static_cast<double>(i)) << models[i];
  }
  EXPECT_EQ(requests.value({{"backend", "a"}}), 300);
  EXPECT_EQ(requests.value({{"model", "a"}, {"status", "200"}}), 3000);
  requests.set({{"model", "b"}}, 42);
  EXPECT_EQ(requests.value({{"model", "b"}}), 42);
  const std::string out = registry.render();
  EXPECT_NE(out.find("r_total{model=\"ab\"} 21\n"), std::string::npos) << out;
}

TEST(Histogram, WithoutObservationsRendersNoSeries) {
  Histogram histogram("h", "Help", {1, 2});
  std::string out;
  histogram.render(out);
  EXPECT_EQ(out, "# HELP h Help\n# TYPE h histogram\n");
}

TEST(Histogram, SnapshotIsCumulative) {
  Histogram histogram("h", "Help", {1, 5, 10});
  for (double value : {0.0, 1.0, 3.0, 5.0, 7.0, 11.0, -2.0}) {
    histogram.observe({{"k", "v"}}, value);
  }
  const auto snapshot = histogram.snapshot({{"k", "v"}});
  EXPECT_EQ(snapshot.cumulative, (std::vector<std::uint64_t>{3, 5, 6, 7}));
  EXPECT_EQ(snapshot.count, 7u);
  EXPECT_DOUBLE_EQ(snapshot.sum, 25.0);
  const auto missing = histogram.snapshot({{"k", "other"}});
  EXPECT_EQ(missing.count, 0u);
  EXPECT_EQ(missing.cumulative, (std::vector<std::uint64_t>{0, 0, 0, 0}));
}

TEST(Histogram, NaNIsIgnoredInfinityCountsInInf) {
  Histogram histogram("h", "Help", {1});
  histogram.observe({}, std::numeric_limits<double>::quiet_NaN());
  EXPECT_EQ(histogram.snapshot({}).count, 0u);
  histogram.observe({}, std::numeric_limits<double>::infinity());
  const auto snapshot = histogram.snapshot({});
  EXPECT_EQ(snapshot.cumulative, (std::vector<std::uint64_t>{0, 1}));
}

TEST(Histogram, FractionalBoundsAreSpelledShortest) {
  Histogram histogram("h", "Help", {0.0005, 0.025, 2.5, 120});
  histogram.observe({}, 1);
  std::string out;
  histogram.render(out);
  for (const char* bound : {"0.0005", "0.025", "2.5", "120", "+Inf"}) {
    EXPECT_NE(out.find(std::string("le=\"") + bound + "\"}"), std::string::npos) << out;
  }
}

TEST(Histogram, ConcurrentObservationsAreAllCounted) {
  Histogram histogram("h", "Help", {0.5});
  constexpr int kThreads = 4;
  constexpr int kEach = 5000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&histogram, t] {
      for (int i = 0; i < kEach; ++i) {
        histogram.observe({{"thread", t % 2 == 0 ? "even" : "odd"}}, (i % 2 == 0) ? 0.0 : 1.0);
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  for (const char* label : {"even", "odd"}) {
    const auto snapshot = histogram.snapshot({{"thread", label}});
    EXPECT_EQ(snapshot.count, 2u * kEach);
    EXPECT_EQ(snapshot.cumulative[0], static_cast<std::uint64_t>(kEach));
    EXPECT_DOUBLE_EQ(snapshot.sum, kEach);
  }
}

// Every sample line belongs to the family declared by the nearest TYPE line above it, with the
// suffixes its type allows; histogram buckets never decrease and +Inf equals _count.
void expect_well_formed(const std::string& text) {
  std::string family;
  std::string type;
  std::map<std::string, std::uint64_t> last_bucket;  // series (without le) -> count so far
  std::map<std::string, std::uint64_t> inf_bucket;
  for (const auto& line : lines_of(text)) {
    ASSERT_FALSE(line.empty());
    if (line.starts_with("# HELP ")) {
      continue;
    }
    if (line.starts_with("# TYPE ")) {
      const auto rest = line.substr(7);
      family = rest.substr(0, rest.find(' '));
      type = rest.substr(rest.find(' ') + 1);
      continue;
    }
    const auto name_end = line.find_first_of("{ ");
    ASSERT_NE(name_end, std::string::npos) << line;
    const auto name = line.substr(0, name_end);
    const auto value_text = line.substr(line.rfind(' ') + 1);
    char* end = nullptr;
    const double value = std::strtod(value_text.c_str(), &end);
    ASSERT_EQ(*end, '\0') << line;
    if (type != "histogram") {
      EXPECT_EQ(name, family) << line;
      continue;
    }
    const auto labels = line.substr(name_end, line.rfind(' ') - name_end);
    if (name == family + "_bucket") {
      const auto le = labels.rfind("le=\"");
      ASSERT_NE(le, std::string::npos) << line;
      EXPECT_EQ(labels.substr(labels.size() - 2), "\"}") << "le must be the last label: " << line;
      const auto series = labels.substr(0, le);
      const auto count = static_cast<std::uint64_t>(value);
      EXPECT_GE(count, last_bucket[series]) << line;
      last_bucket[series] = count;
      if (labels.find("le=\"+Inf\"") != std::string::npos) {
        inf_bucket[series] = count;
      }
    } else if (name == family + "_count") {
      const auto series =
          labels.empty() ? std::string("{") : labels.substr(0, labels.size() - 1) + ",";
      ASSERT_TRUE(inf_bucket.contains(series)) << line;
      EXPECT_EQ(static_cast<std::uint64_t>(value), inf_bucket[series]) << line;
    } else {
      EXPECT_EQ(name, family + "_sum") << line;
    }
  }
}

TEST(Registry, RendersFamiliesInDeclarationOrderWellFormed) {
  Registry registry;
  auto& requests = registry.counter("a_total", "Requests");
  auto& latency = registry.histogram("b_seconds", "Latency", {0.1, 1});
  auto& depth = registry.gauge("c_depth", "Depth");
  registry.gauge_callback("d_slots", "Slots", [] { return 4.0; });
  requests.add({{"status", "200"}}, 2);
  latency.observe({{"placement", "local"}}, 0.3);
  latency.observe({{"placement", "cloud"}}, 3);
  latency.observe({}, 0.05);
  depth.set({}, 1.5);
  const auto text = registry.render();
  expect_well_formed(text);
  const auto a = text.find("# TYPE a_total counter");
  const auto b = text.find("# TYPE b_seconds histogram");
  const auto c = text.find("# TYPE c_depth gauge");
  const auto d = text.find("# TYPE d_slots gauge");
  ASSERT_NE(a, std::string::npos);
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  EXPECT_LT(c, d);
  EXPECT_NE(text.find("b_seconds_bucket{placement=\"local\",le=\"1\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("b_seconds_bucket{le=\"0.1\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("b_seconds_count{placement=\"cloud\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("c_depth 1.5\n"), std::string::npos);
  EXPECT_NE(text.find("d_slots 4\n"), std::string::npos);
}

TEST(Registry, EmptyCounterRendersZero) {
  Registry registry;
  registry.counter("n_total", "Help");
  EXPECT_EQ(registry.render(), "# HELP n_total Help\n# TYPE n_total counter\nn_total 0\n");
}

}  // namespace
}  // namespace hearth::metrics
