// Writes usage records into a SQLite ledger through the real store (ledger::SqliteStore::append,
// so the schema and its migrations are the product's), for `bench/run --only advise` and the
// `hearth advise` CLI test.
//
//   bench_ledger_fill --db PATH --synthetic N --since-us T --days D [--seed S]
//       N synthetic records spread evenly over D days from T: six workloads, both placements,
//       sensitivity labels, fallbacks and escalations, in time order.
//   bench_ledger_fill --db PATH --csv FILE --since-us T
//       the records of a golden-case file (tests/advisor/cases/*/records.csv): each line is
//       `count` identical records at T + day days + hour hours.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "ledger/sqlite_store.hpp"

namespace {

using hearth::ledger::UsageRecord;

constexpr std::int64_t kMicrosPerHour = 3'600'000'000;
constexpr std::int64_t kMicrosPerDay = 24 * kMicrosPerHour;
constexpr std::size_t kBatch = 50'000;

int usage() {
  std::fprintf(stderr,
               "usage: bench_ledger_fill --db PATH (--synthetic N --days D | --csv FILE) "
               "--since-us T [--seed S]\n");
  return 2;
}

// xorshift64*: fast, and the same records for the same seed everywhere.
struct Random {
  std::uint64_t state;
  std::uint64_t next() {
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 2685821657736338717ULL;
  }
  // 0 <= value < bound
  std::uint64_t below(std::uint64_t bound) { return next() % bound; }
};

struct Workload {
  const char* name;
  int weight;               // share of the traffic
  int local_percent;        // answered locally
  int sensitive_per_mille;  // with sensitivity labels
  int escalation_per_mille;
  double cloud_price_per_token;
};

constexpr Workload kWorkloads[] = {
    {"support-chat", 35, 20, 30, 0, 0.000002}, {"triage", 20, 95, 150, 10, 0.000003},
    {"extract", 15, 85, 5, 80, 0.000004},      {"summarise", 15, 60, 0, 20, 0.000002},
    {"code-review", 10, 5, 2, 0, 0.00001},     {"embeddings", 5, 100, 0, 0, 0.0000001},
};

class Writer {
 public:
  explicit Writer(std::unique_ptr<hearth::ledger::Store> store) : store_(std::move(store)) {
    batch_.reserve(kBatch);
  }
  bool add(UsageRecord record) {
    batch_.push_back(std::move(record));
    return batch_.size() < kBatch || flush();
  }
  bool flush() {
    if (batch_.empty()) return true;
    auto appended = store_->append(batch_, {});
    if (!appended) {
      std::fprintf(stderr, "bench_ledger_fill: %s\n", appended.error().c_str());
      return false;
    }
    written_ += static_cast<std::int64_t>(batch_.size());
    batch_.clear();
    return true;
  }
  std::int64_t written() const { return written_; }

 private:
  std::unique_ptr<hearth::ledger::Store> store_;
  std::vector<UsageRecord> batch_;
  std::int64_t written_ = 0;
};

bool fill_synthetic(Writer& writer, std::int64_t count, std::int64_t since_us, std::int64_t days,
                    std::uint64_t seed) {
  Random random{seed * 0x9E3779B97F4A7C15ULL + 1};
  int total_weight = 0;
  for (const auto& workload : kWorkloads) total_weight += workload.weight;
  const std::int64_t span_us = days * kMicrosPerDay;
  for (std::int64_t i = 0; i < count; ++i) {
    int pick = static_cast<int>(random.below(static_cast<std::uint64_t>(total_weight)));
    const Workload* workload = &kWorkloads[0];
    for (const auto& candidate : kWorkloads) {
      if (pick < candidate.weight) {
        workload = &candidate;
        break;
      }
      pick -= candidate.weight;
    }
    UsageRecord record;
    record.time_us =
        since_us + static_cast<std::int64_t>(static_cast<double>(span_us) * static_cast<double>(i) /
                                             static_cast<double>(count));
    record.request_id = "bench-" + std::to_string(i);
    record.key_id = "hk_00000000000000" + std::to_string(10 + random.below(90));
    record.tenant = random.below(4) == 0 ? "globex" : "acme";
    record.workload = workload->name;
    record.task = workload->name == std::string_view("embeddings") ? "embedding" : "chat";
    record.route = "/v1/chat/completions";
    record.rule = std::string(workload->name) + "-rule";
    const bool local = random.below(100) < static_cast<std::uint64_t>(workload->local_percent);
    const bool escalated =
        local && random.below(1000) < static_cast<std::uint64_t>(workload->escalation_per_mille);
    record.prompt_tokens = 50 + static_cast<std::int64_t>(random.below(2000));
    record.completion_tokens = 10 + static_cast<std::int64_t>(random.below(500));
    const double tokens = static_cast<double>(record.prompt_tokens + record.completion_tokens);
    const double cloud_cost = tokens * workload->cloud_price_per_token;
    record.status = random.below(200) == 0 ? 502 : 200;
    if (local && !escalated) {
      record.placement = "local";
      record.backend = "local:llama-8b";
      record.model = "llama-8b";
      record.busy_ms = tokens * (2.0 + static_cast<double>(random.below(100)) / 100);
      record.latency_ms = record.busy_ms * 1.3 + static_cast<double>(random.below(50));
      record.avoided_cost_usd = cloud_cost;
    } else {
      record.placement = "cloud";
      record.backend = "cloud:acme";
      record.model = "gpt-big";
      record.latency_ms = 300 + static_cast<double>(random.below(3000));
      record.cloud_cost_usd = record.status < 400 ? cloud_cost : 0;
      if (escalated) record.escalation = "llama-8b: empty";
    }
    record.time_to_first_token_ms = record.latency_ms / 4;
    record.overhead_ms = 0.3;
    if (random.below(100) == 0) record.fallbacks = "llama-8b: timeout";
    if (random.below(1000) < static_cast<std::uint64_t>(workload->sensitive_per_mille)) {
      record.sensitivity = "pii=1";
      record.privacy_action = local ? "local_only" : "redact";
    }
    if (!writer.add(std::move(record))) return false;
  }
  return writer.flush();
}

std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> fields;
  std::string field;
  std::istringstream in(line);
  while (std::getline(in, field, ',')) fields.push_back(field);
  if (!line.empty() && line.back() == ',') fields.emplace_back();
  return fields;
}

bool fill_csv(Writer& writer, const std::string& path, std::int64_t since_us) {
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "bench_ledger_fill: cannot read %s\n", path.c_str());
    return false;
  }
  std::string line;
  bool header = true;
  std::int64_t n = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (header) {
      header = false;
      continue;
    }
    const auto f = split(line);
    if (f.size() != 16) {
      std::fprintf(stderr, "bench_ledger_fill: %s: expected 16 fields: %s\n", path.c_str(),
                   line.c_str());
      return false;
    }
    UsageRecord record;
    record.time_us =
        since_us + std::stoll(f[0]) * kMicrosPerDay + std::stoll(f[1]) * kMicrosPerHour;
    const int repeat = std::stoi(f[2]);
    record.workload = f[3];
    record.placement = f[4];
    record.model = f[5];
    record.status = std::stoi(f[6]);
    record.prompt_tokens = std::stoll(f[7]);
    record.completion_tokens = std::stoll(f[8]);
    record.latency_ms = std::stod(f[9]);
    record.busy_ms = std::stod(f[10]);
    record.fallbacks = f[11];
    record.escalation = f[12];
    record.sensitivity = f[13];
    record.cloud_cost_usd = std::stod(f[14]);
    record.avoided_cost_usd = std::stod(f[15]);
    record.task = "chat";
    for (int i = 0; i < repeat; ++i) {
      record.request_id = "csv-" + std::to_string(n++);
      if (!writer.add(record)) return false;
    }
  }
  return writer.flush();
}

}  // namespace

int main(int argc, char** argv) {
  std::string db;
  std::string csv;
  std::int64_t synthetic = -1;
  std::int64_t since_us = -1;
  std::int64_t days = 30;
  std::uint64_t seed = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--db") {
      db = value;
    } else if (flag == "--csv") {
      csv = value;
    } else if (flag == "--synthetic") {
      synthetic = std::stoll(value);
    } else if (flag == "--since-us") {
      since_us = std::stoll(value);
    } else if (flag == "--days") {
      days = std::stoll(value);
    } else if (flag == "--seed") {
      seed = std::stoull(value);
    } else {
      return usage();
    }
  }
  if (argc % 2 == 0 || db.empty() || since_us < 0 || (synthetic < 0) == csv.empty() || days < 1) {
    return usage();
  }
  auto store = hearth::ledger::SqliteStore::open(db, 256);
  if (!store) {
    std::fprintf(stderr, "bench_ledger_fill: %s\n", store.error().c_str());
    return 1;
  }
  Writer writer(std::move(store.value()));
  const auto start = std::chrono::steady_clock::now();
  const bool ok = csv.empty() ? fill_synthetic(writer, synthetic, since_us, days, seed)
                              : fill_csv(writer, csv, since_us);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fprintf(stderr, "bench_ledger_fill: %lld records in %.1f s\n",
               static_cast<long long>(writer.written()), seconds);
  return ok ? 0 : 1;
}
