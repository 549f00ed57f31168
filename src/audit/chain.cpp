#include "audit/chain.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <map>
#include <memory>

namespace hearth::audit {
namespace {

void append_field(std::string& encoded, std::string_view field) {
  encoded += std::to_string(field.size());
  encoded += ':';
  encoded += field;
}

std::string hex_sha256(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  const bool hashed =
      EVP_Digest(data.data(), data.size(), digest.data(), &length, EVP_sha256(), nullptr) == 1;
  assert(hashed && length == 32 && "SHA-256 is always available in OpenSSL");
  (void)hashed;
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    hex += kDigits[digest[i] >> 4];
    hex += kDigits[digest[i] & 0xf];
  }
  return hex;
}

std::string sequence_name(std::int64_t sequence) {
  return "audit record " + std::to_string(sequence);
}

}  // namespace

std::string record_hash(const ledger::AuditRecord& record) {
  std::string encoded = "hearth-audit-v1\n";
  append_field(encoded, record.previous_hash);
  append_field(encoded, std::to_string(record.sequence));
  append_field(encoded, std::to_string(record.time_us));
  append_field(encoded, record.kind);
  append_field(encoded, record.actor);
  append_field(encoded, record.detail);
  return hex_sha256(encoded);
}

Verification verify_chain(std::span<const ledger::AuditRecord> records,
                          std::span<const ledger::AuditAnchor> anchors) {
  Verification result;
  std::map<std::int64_t, const ledger::AuditAnchor*> anchor_by_sequence;
  for (const auto& anchor : anchors) {
    anchor_by_sequence[anchor.sequence] = &anchor;
  }
  const auto fail = [&](std::int64_t sequence, std::string problem) {
    result.ok = false;
    result.first_bad_sequence = sequence;
    result.problem = std::move(problem);
    return result;
  };
  if (records.empty()) {
    if (!anchor_by_sequence.empty()) {
      const auto last = anchor_by_sequence.rbegin()->first;
      return fail(last, "the log is empty but anchor " + std::to_string(last) +
                            " says it held that record: records were deleted");
    }
    return result;
  }
  // Where the remaining chain starts: record 1 from the genesis hash, or the record after an
  // anchor (older records were purged).
  const auto& first = records.front();
  std::string expected_previous;
  if (first.sequence == 1) {
    expected_previous = std::string(kGenesisHash);
  } else {
    const auto anchor = anchor_by_sequence.find(first.sequence - 1);
    if (anchor == anchor_by_sequence.end()) {
      return fail(first.sequence, sequence_name(first.sequence) +
                                      " is the oldest left, but no anchor covers record " +
                                      std::to_string(first.sequence - 1) +
                                      ": earlier records were deleted outside a purge");
    }
    expected_previous = anchor->second->hash;
  }
  std::int64_t expected_sequence = first.sequence;
  for (const auto& record : records) {
    if (record.sequence != expected_sequence) {
      return fail(expected_sequence, record.sequence > expected_sequence
                                         ? sequence_name(expected_sequence) + " is missing"
                                         : sequence_name(record.sequence) +
                                               " is out of order (expected " +
                                               std::to_string(expected_sequence) + ")");
    }
    if (record.previous_hash != expected_previous) {
      return fail(record.sequence, sequence_name(record.sequence) +
                                       " does not follow the record before it (previous hash "
                                       "differs): a record was edited, deleted or reordered");
    }
    if (record_hash(record) != record.hash) {
      return fail(record.sequence,
                  sequence_name(record.sequence) + " was edited: its hash does not match");
    }
    const auto anchor = anchor_by_sequence.find(record.sequence);
    if (anchor != anchor_by_sequence.end() && anchor->second->hash != record.hash) {
      return fail(record.sequence, sequence_name(record.sequence) + " differs from its anchor");
    }
    expected_previous = record.hash;
    ++expected_sequence;
    ++result.records_checked;
  }
  const auto last_anchor =
      anchor_by_sequence.empty() ? std::int64_t{0} : anchor_by_sequence.rbegin()->first;
  if (last_anchor > records.back().sequence) {
    return fail(records.back().sequence + 1,
                "anchor " + std::to_string(last_anchor) + " is newer than the last record (" +
                    std::to_string(records.back().sequence) + "): records were deleted at the end");
  }
  return result;
}

}  // namespace hearth::audit
