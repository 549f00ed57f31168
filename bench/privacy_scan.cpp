// Privacy scanner throughput, single thread (issue 5): scans a corpus document by document, as
// the gateway scans request texts, for at least --seconds, and prints one JSON line with MB/s and
// findings per MB, plus the p50/p99 latency of scanning one 4 KB chat-like message, and of the
// privacy guard's whole work on a 4 KB chat request body (privacy::scan_request and, for a cloud
// target, privacy::redact_request: the functions the gateway calls).
//
//   bench_privacy_scan [CORPUS.jsonl] [--seconds 2] [--breakdown]
//
// CORPUS.jsonl holds one JSON object per line with a "text" field. Without it a mixed corpus of
// about 20 MB is synthesised deterministically: prose in several languages and scripts, log
// lines, JSON documents, source code and tables, with sparse PII and secrets. --breakdown adds
// the throughput of each kind of synthesised text. Run it pinned: taskset -c 1 bench_privacy_scan
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/utf8.hpp"
#include "privacy/class_anchors.hpp"
#include "privacy/request_scan.hpp"
#include "privacy/scanner.hpp"

namespace {

using Clock = std::chrono::steady_clock;

// splitmix64: deterministic and good enough to pick words.
class Random {
 public:
  explicit Random(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }
  template <class T>
  const T& pick(const std::vector<T>& items) {
    return items[below(items.size())];
  }
  std::string digits(std::size_t n) {
    std::string out;
    for (std::size_t i = 0; i < n; ++i) out += static_cast<char>('0' + below(10));
    return out;
  }
  std::string chars(std::string_view alphabet, std::size_t n) {
    std::string out;
    for (std::size_t i = 0; i < n; ++i) out += alphabet[below(alphabet.size())];
    return out;
  }

 private:
  std::uint64_t state_;
};

const std::vector<std::vector<std::string>> kVocabulary = {
    // English
    {"the",      "patient",    "reported", "mild",     "pain",     "after",   "the",     "meeting",
     "contract", "party",      "shall",    "deliver",  "services", "within",  "thirty",  "days",
     "of",       "notice",     "customer", "asked",    "about",    "refund",  "for",     "order",
     "we",       "will",       "review",   "update",   "release",  "notes",   "version", "support",
     "team",     "account",    "please",   "confirm",  "schedule", "follow",  "up",      "with",
     "doctor",   "medication", "dosage",   "increase", "report",   "quarter", "revenue", "growth"},
    // German
    {"der",        "Patient", "berichtet", "über",     "leichte", "Schmerzen",  "nach",
     "dem",        "Termin",  "Vertrag",   "Parteien", "müssen",  "Leistungen", "innerhalb",
     "von",        "dreißig", "Tagen",     "Kunde",    "fragt",   "nach",       "Rückerstattung",
     "Bestellung", "wir",     "werden",    "prüfen",   "und",     "melden",     "uns"},
    // French
    {"le",       "patient", "signale", "une",      "douleur", "légère",  "après",
     "la",       "réunion", "contrat", "les",      "parties", "doivent", "livrer",
     "services", "dans",    "trente",  "jours",    "client",  "demande", "remboursement",
     "commande", "nous",    "allons",  "vérifier", "équipe",  "à",       "être"},
    // Spanish
    {"el",     "paciente", "informa",  "dolor",   "leve",     "después",  "de",
     "la",     "reunión",  "contrato", "partes",  "deberán",  "entregar", "servicios",
     "dentro", "treinta",  "días",     "cliente", "pregunta", "por",      "reembolso",
     "pedido", "vamos",    "revisar",  "niño",    "año",      "señal"},
    // Chinese (no spaces in real text; words joined below)
    {"患者", "报告", "轻微", "疼痛", "会议", "之后", "合同", "双方", "应当", "在",   "三十",
     "天内", "交付", "服务", "客户", "询问", "退款", "订单", "我们", "将",   "审核", "更新"},
    // Japanese
    {"患者", "は",   "軽い", "痛み",     "を",   "訴え", "ました", "契約",   "当事者",   "サービス",
     "提供", "顧客", "返金", "について", "質問", "注文", "確認",   "します", "よろしく", "お願い"},
    // Arabic
    {"المريض", "أبلغ", "عن", "ألم", "خفيف", "بعد", "الاجتماع", "العقد", "الأطراف", "يجب", "تسليم",
     "الخدمات", "خلال", "ثلاثين", "يوما", "العميل", "طلب", "استرداد", "الطلب"},
    // Russian
    {"пациент", "сообщил", "о",       "лёгкой", "боли", "после",   "встречи",  "договор",
     "стороны", "должны",  "оказать", "услуги", "в",    "течение", "тридцати", "дней",
     "клиент",  "просит",  "возврат", "заказа", "мы",   "проверим"},
};

std::string sentence(Random& random, std::size_t language) {
  const auto& words = kVocabulary[language];
  const bool spaced = language != 4 && language != 5;
  std::string out;
  const std::size_t count = 6 + random.below(14);
  for (std::size_t i = 0; i < count; ++i) {
    if (spaced && i > 0) out += ' ';
    out += random.pick(words);
    if (spaced && random.below(12) == 0) out += ',';
  }
  out += language == 4 || language == 5 ? "。" : ". ";
  if (random.below(20) == 0) out += "🙂 ";
  return out;
}

// Sparse sensitive values, each valid for its type.
std::string pii(Random& random) {
  static const std::vector<std::string> kValues = {
      "Contact me at jane.doe@example.com tomorrow. ",
      "Call +44 20 7946 0958 or (555) 123-4567. ",
      "Card: 4111 1111 1111 1111 exp 12/27. ",
      "IBAN DE89 3704 0044 0532 0130 00 for the transfer. ",
      "SSN: 123-45-6789. ",
      "NHS number 943 476 5919. ",
      "DOB: 03/15/1985. ",
      "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n",
      "token: ghp_abcdefghijklmnopqrstuvwxyz0123456789\n",
      "password=Sup3r-S3cret!\n",
      "server at 192.168.10.24 and 2001:db8::8a2e:370:7334. ",
      "Routing number 011000015, account 12345678. ",
  };
  return random.pick(kValues);
}

std::string prose(Random& random, std::size_t bytes) {
  std::string out;
  const std::size_t language = random.below(kVocabulary.size());
  while (out.size() < bytes) {
    out += sentence(random, language);
    if (random.below(40) == 0) out += pii(random);
    if (random.below(8) == 0) out += "\n\n";
  }
  return out;
}

std::string logs(Random& random, std::size_t bytes) {
  static const std::vector<std::string> kLevels = {"INFO", "INFO",  "INFO",
                                                   "WARN", "DEBUG", "ERROR"};
  static const std::vector<std::string> kPaths = {"/api/v1/users", "/api/v1/orders", "/health",
                                                  "/v1/chat/completions", "/static/app.js"};
  std::string out;
  while (out.size() < bytes) {
    char line[512];
    std::snprintf(line, sizeof line,
                  "2024-%02zu-%02zuT%02zu:%02zu:%02zu.%03zuZ %s [worker-%zu] request_id=%s "
                  "GET %s/%zu status=%d latency_ms=%zu.%zu bytes=%zu ts=17%s version=1.%zu.%zu "
                  "ip=10.%zu.%zu.%zu sha=%s\n",
                  1 + random.below(12), 1 + random.below(28), random.below(24), random.below(60),
                  random.below(60), random.below(1000), random.pick(kLevels).c_str(),
                  random.below(16), random.chars("0123456789abcdef", 16).c_str(),
                  random.pick(kPaths).c_str(), random.below(100000),
                  200 + 100 * (int)random.below(4), random.below(900), random.below(10),
                  random.below(100000), random.digits(8).c_str(), random.below(20),
                  random.below(40), random.below(256), random.below(256), random.below(256),
                  random.chars("0123456789abcdef", 40).c_str());
    out += line;
    if (random.below(60) == 0) out += "user login from " + pii(random) + "\n";
  }
  return out;
}

std::string json_documents(Random& random, std::size_t bytes) {
  std::string out;
  while (out.size() < bytes) {
    out += "{\"id\": " + random.digits(9) + ", \"uuid\": \"" + random.chars("0123456789abcdef", 8) +
           "-" + random.chars("0123456789abcdef", 4) + "-4" + random.chars("0123456789abcdef", 3) +
           "-a" + random.chars("0123456789abcdef", 3) + "-" + random.chars("0123456789abcdef", 12) +
           "\", \"created_at\": \"2024-03-1" + random.digits(1) + "T0" + random.digits(1) + ":1" +
           random.digits(1) + ":00Z\", \"order_number\": \"ORD-" + random.digits(10) +
           "\", \"total\": " + random.digits(3) + "." + random.digits(2) +
           ", \"items\": [{\"sku\": \"SKU" + random.digits(6) + "\", \"qty\": " + random.digits(1) +
           ", \"price\": " + random.digits(2) + ".99}], \"note\": \"" +
           sentence(random, random.below(4)) + "\", \"max_tokens\": 256}\n";
    if (random.below(30) == 0) out += "{\"note\": \"" + pii(random) + "\"}\n";
  }
  return out;
}

std::string code(Random& random, std::size_t bytes) {
  static const std::vector<std::string> kLines = {
      "  for (std::size_t i = 0; i < items.size(); ++i) total += items[i].price * items[i].qty;\n",
      "  std::vector<std::string> names = load_names(path, /*limit=*/1024);\n",
      "def handler(event, context):\n    return {\"statusCode\": 200, \"body\": "
      "json.dumps(event)}\n",
      "    if key in cache and cache[key].expires_at > now:\n        return cache[key].value\n",
      "const password = process.env.DB_PASSWORD;\nconst user = req.body.user;\n",
      "  auto result = std::make_unique<Impl>(std::move(options), 0x7fff, 3.14159);\n",
      "  let token = localStorage.getItem('token');\n  if (!token) return redirect('/login');\n",
      "SELECT id, email, created_at FROM users WHERE id = 42 AND status = 'active';\n",
      "  x = np.linspace(0, 1, 100)[::2]\n  y = a[1::3] + b[::4]\n",
      "# version 2.4.1 released 2023-11-05, see docs/CHANGELOG.md\n",
      "  img.src = "
      "'data:image/"
      "png;base64,"
      "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJg"
      "gg==';\n",
      "| 2023 | 1,234 | 5,678 | 91.2% | 10 234 567 |\n",
  };
  std::string out;
  while (out.size() < bytes) {
    out += random.pick(kLines);
    if (random.below(80) == 0)
      out += "api_key = \"" + random.chars("ABCDEFabcdef0123456789", 32) + "\"\n";
  }
  return out;
}

struct Document {
  std::string kind;
  std::string text;
};

std::vector<Document> synthesise(std::size_t total_bytes) {
  Random random(20240601);
  std::vector<Document> documents;
  std::size_t size = 0;
  while (size < total_bytes) {
    const std::size_t bytes = 512 + random.below(8192);
    Document document;
    switch (random.below(5)) {
      case 0:
      case 1:
        document = {"prose", prose(random, bytes)};
        break;
      case 2:
        document = {"logs", logs(random, bytes)};
        break;
      case 3:
        document = {"json", json_documents(random, bytes)};
        break;
      default:
        document = {"code", code(random, bytes)};
        break;
    }
    size += document.text.size();
    documents.push_back(std::move(document));
  }
  return documents;
}

std::vector<Document> load(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    std::cerr << "cannot open " << path << "\n";
    std::exit(2);
  }
  std::vector<Document> documents;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const auto json = nlohmann::json::parse(line, nullptr, false);
    if (json.is_discarded() || !json.is_object() || !json.contains("text") ||
        !json["text"].is_string()) {
      continue;
    }
    documents.push_back({"corpus", json["text"].get<std::string>()});
  }
  return documents;
}

// CPU time of this thread: on a shared or virtual machine the wall clock also counts the time
// other tenants had the core; both are reported.
double thread_cpu_seconds() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9;
}

struct Throughput {
  double mb_per_s = 0;
  double mb_per_cpu_s = 0;
  double findings_per_mb = 0;
  double seconds = 0;
  std::size_t bytes = 0;
};

Throughput measure(const hearth::privacy::Scanner& scanner,
                   const std::vector<const Document*>& docs, double min_seconds) {
  Throughput result;
  std::size_t findings = 0;
  std::size_t bytes = 0;
  const auto start = Clock::now();
  const double cpu_start = thread_cpu_seconds();
  double elapsed = 0;
  do {
    for (const Document* document : docs) {
      auto scanned = scanner.scan(document->text);
      if (!scanned) {
        std::cerr << "invalid text in corpus: " << scanned.error().message << "\n";
        std::exit(2);
      }
      findings += scanned->size();
      bytes += document->text.size();
    }
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  } while (elapsed < min_seconds);
  result.seconds = elapsed;
  result.bytes = bytes;
  result.mb_per_s = static_cast<double>(bytes) / 1e6 / elapsed;
  result.mb_per_cpu_s = static_cast<double>(bytes) / 1e6 / (thread_cpu_seconds() - cpu_start);
  result.findings_per_mb = static_cast<double>(findings) / (static_cast<double>(bytes) / 1e6);
  return result;
}

// One stage of the scan alone over the documents, in MB/s: where the time goes.
template <class Stage>
double measure_stage(const std::vector<const Document*>& docs, double min_seconds, Stage stage) {
  std::size_t bytes = 0;
  std::size_t sink = 0;  // keeps the work observable
  const auto start = Clock::now();
  double elapsed = 0;
  do {
    for (const Document* document : docs) {
      sink += stage(document->text);
      bytes += document->text.size();
    }
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  } while (elapsed < min_seconds);
  if (sink == 1) std::cerr << "";
  return static_cast<double>(bytes) / 1e6 / elapsed;
}

std::string chat_message(std::size_t bytes) {
  Random random(7);
  std::string text = "Hi, I need help with my order. ";
  while (text.size() < bytes) {
    text += sentence(random, 0);
    if (text.size() > bytes / 2 && text.find('@') == std::string::npos) {
      text += "My email is jane.doe@example.com. ";
    }
  }
  text.resize(bytes);
  while (!text.empty() && (static_cast<unsigned char>(text.back()) & 0xC0) == 0x80) text.pop_back();
  if (!text.empty() && static_cast<unsigned char>(text.back()) >= 0xC0) text.pop_back();
  return text;
}

}  // namespace

int main(int argc, char** argv) {
  std::string corpus_path;
  double seconds = 2.0;
  bool breakdown = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--seconds" && i + 1 < argc) {
      seconds = std::atof(argv[++i]);
    } else if (arg == "--breakdown") {
      breakdown = true;
    } else if (arg == "--help" || arg == "-h") {
      std::cout << "usage: bench_privacy_scan [CORPUS.jsonl] [--seconds S] [--breakdown]\n";
      return 0;
    } else {
      corpus_path = std::string(arg);
    }
  }

  auto created = hearth::privacy::Scanner::create({});
  if (!created) {
    std::cerr << created.error() << "\n";
    return 1;
  }
  const auto& scanner = **created;

  const std::vector<Document> documents =
      corpus_path.empty() ? synthesise(20u << 20) : load(corpus_path);
  std::vector<const Document*> all;
  for (const Document& document : documents) all.push_back(&document);

  measure(scanner, all, 0.2);  // warm the caches and the scratch
  const Throughput total = measure(scanner, all, seconds);

  // One 4 KB chat message at a time: the latency the gateway adds to a request.
  const std::string message = chat_message(4096);
  std::vector<double> samples;
  const auto latency_start = Clock::now();
  while (samples.size() < 20000 ||
         std::chrono::duration<double>(Clock::now() - latency_start).count() < 0.5) {
    const auto before = Clock::now();
    auto scanned = scanner.scan(message);
    const auto after = Clock::now();
    if (!scanned) return 1;
    samples.push_back(std::chrono::duration<double, std::micro>(after - before).count());
    if (samples.size() >= 200000) break;
  }
  std::sort(samples.begin(), samples.end());
  const double p50 = samples[samples.size() / 2];
  const double p99 = samples[samples.size() * 99 / 100];

  // The same message as a chat request body, through what the gateway does with it.
  const nlohmann::json request = {
      {"model", "cloud-model"},
      {"max_tokens", 256},
      {"messages",
       {{{"role", "system"}, {"content", "You are a helpful support agent."}},
        {{"role", "user"}, {"content", message}}}}};
  const std::string body = request.dump();
  const auto percentiles = [](std::vector<double>& values) {
    std::sort(values.begin(), values.end());
    return std::pair{values[values.size() / 2], values[values.size() * 99 / 100]};
  };
  std::vector<double> scan_samples;
  std::vector<double> redact_samples;
  const auto every_finding = [](const hearth::privacy::EntityInfo&) { return true; };
  for (int i = 0; i < 20000; ++i) {
    const auto before = Clock::now();
    auto scanned = hearth::privacy::scan_request(scanner, body);
    if (!scanned) return 1;
    const auto scanned_at = Clock::now();
    hearth::privacy::Redaction redaction;
    hearth::privacy::FindingCounts replaced;
    const auto redacted =
        hearth::privacy::redact_request(scanner, *scanned, redaction, every_finding, replaced);
    const auto after = Clock::now();
    if (!redacted) return 1;
    scan_samples.push_back(std::chrono::duration<double, std::micro>(scanned_at - before).count());
    redact_samples.push_back(std::chrono::duration<double, std::micro>(after - before).count());
  }
  const auto [request_p50, request_p99] = percentiles(scan_samples);
  const auto [redacted_p50, redacted_p99] = percentiles(redact_samples);

  nlohmann::json line = {
      {"corpus", corpus_path.empty() ? "synthetic" : corpus_path},
      {"documents", documents.size()},
      {"corpus_bytes",
       [&] {
         std::size_t n = 0;
         for (const Document& d : documents) n += d.text.size();
         return n;
       }()},
      {"seconds", total.seconds},
      {"mb_per_s", total.mb_per_s},
      {"mb_per_cpu_s", total.mb_per_cpu_s},
      {"findings_per_mb", total.findings_per_mb},
      {"chat4k_p50_us", p50},
      {"chat4k_p99_us", p99},
      {"chat4k_request_body_bytes", body.size()},
      {"chat4k_request_scan_p50_us", request_p50},
      {"chat4k_request_scan_p99_us", request_p99},
      {"chat4k_request_scan_and_redact_p50_us", redacted_p50},
      {"chat4k_request_scan_and_redact_p99_us", redacted_p99},
  };
  if (breakdown) {
    std::map<std::string, std::vector<const Document*>> kinds;
    for (const Document& document : documents) kinds[document.kind].push_back(&document);
    for (const auto& [kind, docs] : kinds) {
      const Throughput part = measure(scanner, docs, std::max(0.5, seconds / 4));
      line["mb_per_s_" + kind] = part.mb_per_s;
      line["findings_per_mb_" + kind] = part.findings_per_mb;
    }
    const double stage_seconds = std::max(0.5, seconds / 4);
    line["mb_per_s_stage_utf8_check"] = measure_stage(all, stage_seconds, [](std::string_view t) {
      return hearth::first_invalid_utf8(t) == std::string_view::npos ? 1u : 0u;
    });
    std::vector<std::size_t> ends;
    line["mb_per_s_stage_class_anchors"] =
        measure_stage(all, stage_seconds, [&](std::string_view text) {
          ends.clear();
          hearth::privacy::find_shape_ends(text, ends);
          hearth::privacy::find_ipv6_ends(text, ends);
          return ends.size();
        });
  }
  std::cout << line.dump() << std::endl;
  return 0;
}
