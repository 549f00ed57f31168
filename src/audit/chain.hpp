// The audit log's tamper evidence: every record carries the SHA-256 of the one before it, so an
// edited, deleted or reordered record breaks the chain at that record. Anchors (the hash of a
// record, kept in their own table and never purged) let the chain verify from an anchor on after
// older records were purged, and expose a truncated tail when an anchor is newer than the last
// record.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "ledger/records.hpp"

namespace hearth::audit {

// The previous_hash of record 1.
inline constexpr std::string_view kGenesisHash =
    "0000000000000000000000000000000000000000000000000000000000000000";

// Hex SHA-256 over previous_hash, sequence, time, kind, actor and detail, each length-prefixed
// so that no two different records encode alike.
std::string record_hash(const ledger::AuditRecord& record);

struct Verification {
  bool ok = true;
  std::int64_t records_checked = 0;
  std::int64_t first_bad_sequence = 0;  // 0 when ok
  std::string problem;                  // names the record and what is wrong with it
};

// Records as stored (the store orders them by sequence) and every anchor.
Verification verify_chain(std::span<const ledger::AuditRecord> records,
                          std::span<const ledger::AuditAnchor> anchors);

}  // namespace hearth::audit
