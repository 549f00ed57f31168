// The audit chain: record hashes (against a golden value computed outside this code) and
// verify_chain on chains built in memory, intact and tampered with in every way the store's
// users could: edits, deletions at the start, middle and end, reordering, purges with and
// without an anchor.
#include "audit/chain.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace hearth::audit {
namespace {

using ledger::AuditAnchor;
using ledger::AuditRecord;

// A chain of `count` records, linked as the store links them.
std::vector<AuditRecord> make_chain(int count) {
  std::vector<AuditRecord> records;
  std::string previous(kGenesisHash);
  for (int i = 1; i <= count; ++i) {
    AuditRecord record;
    record.sequence = i;
    record.time_us = 1'700'000'000'000'000 + i * 1'000'000;
    record.kind = i % 2 == 0 ? "key.created" : "config.reloaded";
    record.actor = i % 3 == 0 ? "gateway" : "cli";
    record.detail = R"({"n":)" + std::to_string(i) + "}";
    record.previous_hash = previous;
    record.hash = record_hash(record);
    previous = record.hash;
    records.push_back(std::move(record));
  }
  return records;
}

AuditAnchor anchor_of(const AuditRecord& record) {
  return AuditAnchor{record.sequence, record.time_us, record.hash};
}

TEST(AuditChain, GoldenHash) {
  AuditRecord record;
  record.sequence = 1;
  record.time_us = 1'700'000'000'000'000;
  record.kind = "key.created";
  record.actor = "cli";
  record.detail = R"({"key":"hk_0123456789abcdef"})";
  record.previous_hash = std::string(kGenesisHash);
  // The documented encoding ("hearth-audit-v1\n", then each field as LENGTH:BYTES), hashed by
  // coreutils rather than by this code (the zeros are the 64 of previous_hash):
  //   { printf 'hearth-audit-v1\n'
  //     printf '%s' 64:0000000000000000000000000000000000000000000000000000000000000000
  //     printf '%s' 1:1 16:1700000000000000 11:key.created 3:cli
  //     printf '%s' '29:{"key":"hk_0123456789abcdef"}'; } | sha256sum
  EXPECT_EQ(record_hash(record),
            "40cf2dd1082be68c6450e19c7f49a5328d6e8de480d122a45495af1a51776f7b");
}

TEST(AuditChain, HashCoversEveryFieldButTheHashItself) {
  const auto base = make_chain(1).front();
  const auto original = record_hash(base);
  EXPECT_EQ(record_hash(base), original) << "stable across calls";
  auto changed = base;
  changed.hash = "something else";
  EXPECT_EQ(record_hash(changed), original);

  const std::vector<std::pair<const char*, void (*)(AuditRecord&)>> edits = {
      {"previous_hash", [](AuditRecord& r) { r.previous_hash[0] = '1'; }},
      {"sequence", [](AuditRecord& r) { r.sequence = 2; }},
      {"time_us", [](AuditRecord& r) { r.time_us += 1; }},
      {"kind", [](AuditRecord& r) { r.kind = "key.revoked"; }},
      {"actor", [](AuditRecord& r) { r.actor = "gateway"; }},
      {"detail", [](AuditRecord& r) { r.detail = "{}"; }},
  };
  for (const auto& [field, edit] : edits) {
    SCOPED_TRACE(field);
    auto edited = base;
    edit(edited);
    EXPECT_NE(record_hash(edited), original);
  }
}

TEST(AuditChain, LengthPrefixesKeepFieldBoundaries) {
  // The same bytes split differently between kind and actor must not hash alike.
  auto first = make_chain(1).front();
  first.kind = "ab";
  first.actor = "c";
  auto second = first;
  second.kind = "a";
  second.actor = "bc";
  EXPECT_NE(record_hash(first), record_hash(second));
}

TEST(AuditChain, IntactChainVerifies) {
  const auto records = make_chain(10);
  const std::vector<AuditAnchor> anchors = {anchor_of(records[4]), anchor_of(records[9])};
  const auto result = verify_chain(records, anchors);
  EXPECT_TRUE(result.ok) << result.problem;
  EXPECT_EQ(result.records_checked, 10);
  EXPECT_EQ(result.first_bad_sequence, 0);
  EXPECT_TRUE(result.problem.empty());

  const auto without_anchors = verify_chain(records, {});
  EXPECT_TRUE(without_anchors.ok) << without_anchors.problem;
}

TEST(AuditChain, EmptyLogWithoutAnchorsVerifies) {
  const auto result = verify_chain({}, {});
  EXPECT_TRUE(result.ok);
  EXPECT_EQ(result.records_checked, 0);
}

TEST(AuditChain, EmptyLogWithAnchorsIsDetected) {
  const auto records = make_chain(6);
  const std::vector<AuditAnchor> anchors = {anchor_of(records[2]), anchor_of(records[5])};
  const auto result = verify_chain({}, anchors);
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.first_bad_sequence, 6);
  EXPECT_FALSE(result.problem.empty());
}

TEST(AuditChain, EditedFieldInTheMiddleIsFoundAtThatRecord) {
  const std::vector<std::pair<const char*, void (*)(AuditRecord&)>> edits = {
      {"time_us", [](AuditRecord& r) { r.time_us += 1; }},
      {"kind", [](AuditRecord& r) { r.kind = "key.revoked"; }},
      {"actor", [](AuditRecord& r) { r.actor = "hk_0000000000000000"; }},
      {"detail", [](AuditRecord& r) { r.detail = R"({"n":999})"; }},
  };
  for (const auto& [field, edit] : edits) {
    SCOPED_TRACE(field);
    auto records = make_chain(10);
    edit(records[4]);
    const auto result = verify_chain(records, {});
    EXPECT_FALSE(result.ok);
    EXPECT_EQ(result.first_bad_sequence, 5);
    EXPECT_EQ(result.records_checked, 4);
    EXPECT_NE(result.problem.find("audit record 5"), std::string::npos) << result.problem;
  }
}

TEST(AuditChain, EditedRecordWithItsHashRecomputedBreaksTheNextLink) {
  auto records = make_chain(10);
  records[4].detail = R"({"n":"forged"})";
  records[4].hash = record_hash(records[4]);
  const auto result = verify_chain(records, {});
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.first_bad_sequence, 6);
}

TEST(AuditChain, RewrittenTailIsCaughtByAnAnchor) {
  // Whoever rewrites a record and re-chains everything after it still cannot match an anchor.
  auto records = make_chain(10);
  const std::vector<AuditAnchor> anchors = {anchor_of(records[7])};
  records[4].detail = R"({"n":"forged"})";
  for (std::size_t i = 4; i < records.size(); ++i) {
    if (i > 4) records[i].previous_hash = records[i - 1].hash;
    records[i].hash = record_hash(records[i]);
  }
  EXPECT_TRUE(verify_chain(records, {}).ok) << "consistent without the anchor";
  const auto result = verify_chain(records, anchors);
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.first_bad_sequence, 8);
  EXPECT_NE(result.problem.find("anchor"), std::string::npos) << result.problem;
}

TEST(AuditChain, DeletedMiddleRecordIsDetected) {
  auto records = make_chain(10);
  records.erase(records.begin() + 4);
  const auto result = verify_chain(records, {});
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.first_bad_sequence, 5);
  EXPECT_NE(result.problem.find("missing"), std::string::npos) << result.problem;
}

TEST(AuditChain, DeletedMiddleRecordWithRenumberingIsDetected) {
  // Closing the gap by renumbering the later records still breaks their links.
  auto records = make_chain(10);
  records.erase(records.begin() + 4);
  for (std::size_t i = 4; i < records.size(); ++i) records[i].sequence -= 1;
  const auto result = verify_chain(records, {});
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.first_bad_sequence, 5);
}

TEST(AuditChain, DeletedLastRecordsAreDetectedByANewerAnchor) {
  auto records = make_chain(10);
  const std::vector<AuditAnchor> anchors = {anchor_of(records[4]), anchor_of(records[8])};
  records.resize(7);
  const auto result = verify_chain(records, anchors);
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.first_bad_sequence, 8);
  EXPECT_EQ(result.records_checked, 7);
  EXPECT_NE(result.problem.find("anchor 9"), std::string::npos) << result.problem;
}

TEST(AuditChain, ReorderedRecordsAreDetectedAtTheFirst) {
  auto records = make_chain(10);
  std::swap(records[3], records[6]);
  const auto result = verify_chain(records, {});
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.first_bad_sequence, 4);
}

TEST(AuditChain, ReorderedRecordsWithSwappedSequencesAreDetectedAtTheFirst) {
  // Swapping the contents but keeping the sequence numbers in order breaks the links instead.
  auto records = make_chain(10);
  std::swap(records[3], records[4]);
  std::swap(records[3].sequence, records[4].sequence);
  const auto result = verify_chain(records, {});
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.first_bad_sequence, 4);
}

TEST(AuditChain, PurgedPrefixVerifiesFromItsAnchor) {
  const auto full = make_chain(10);
  // The store anchors the newest record it deletes, then deletes 1..4.
  const std::vector<AuditAnchor> anchors = {anchor_of(full[3])};
  const std::vector<AuditRecord> remaining(full.begin() + 4, full.end());
  const auto result = verify_chain(remaining, anchors);
  EXPECT_TRUE(result.ok) << result.problem;
  EXPECT_EQ(result.records_checked, 6);
}

TEST(AuditChain, PurgeWithoutAnAnchorIsDetected) {
  const auto full = make_chain(10);
  const std::vector<AuditRecord> remaining(full.begin() + 4, full.end());
  const auto result = verify_chain(remaining, {});
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.first_bad_sequence, 5);
  EXPECT_NE(result.problem.find("no anchor"), std::string::npos) << result.problem;

  // An anchor for a different record does not cover the gap either.
  const std::vector<AuditAnchor> wrong_anchor = {anchor_of(full[2])};
  EXPECT_FALSE(verify_chain(remaining, wrong_anchor).ok);
}

TEST(AuditChain, DeletingMoreThanThePurgeAnchoredIsDetected) {
  const auto full = make_chain(10);
  const std::vector<AuditAnchor> anchors = {anchor_of(full[3])};
  const std::vector<AuditRecord> remaining(full.begin() + 5, full.end());
  const auto result = verify_chain(remaining, anchors);
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.first_bad_sequence, 6);
}

TEST(AuditChain, AnchorMismatchIsDetected) {
  const auto records = make_chain(10);
  auto anchor = anchor_of(records[5]);
  anchor.hash[0] = anchor.hash[0] == 'a' ? 'b' : 'a';
  const std::vector<AuditAnchor> anchors = {anchor};
  const auto result = verify_chain(records, anchors);
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.first_bad_sequence, 6);
  EXPECT_NE(result.problem.find("anchor"), std::string::npos) << result.problem;
}

TEST(AuditChain, AnchorMismatchAfterAPurgeIsDetectedAtTheFirstRecord) {
  const auto full = make_chain(10);
  auto anchor = anchor_of(full[3]);
  anchor.hash[0] = anchor.hash[0] == 'a' ? 'b' : 'a';
  const std::vector<AuditAnchor> anchors = {anchor};
  const std::vector<AuditRecord> remaining(full.begin() + 4, full.end());
  const auto result = verify_chain(remaining, anchors);
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.first_bad_sequence, 5);
}

}  // namespace
}  // namespace hearth::audit
