// StreamUsageFilter: the usage chunk and a hearth worker's busy-time comment are read from a
// relayed stream however its pieces are cut, and only what the client asked for is passed on.
#include "gateway/usage_filter.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace hearth::gateway {
namespace {

const std::string kContent =
    "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n";
const std::string kUsage =
    "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2,"
    "\"total_tokens\":5}}\n\n";
const std::string kBusy = ": hearth-busy-ms 12.345\n\n";
const std::string kDone = "data: [DONE]\n\n";

// Feeds `stream` cut into pieces of `size` bytes and returns what the client would get.
std::string relay(StreamUsageFilter& filter, const std::string& stream, std::size_t size) {
  std::string out;
  for (std::size_t at = 0; at < stream.size(); at += size) {
    out += filter.feed(std::string_view(stream).substr(at, size));
  }
  return out + filter.finish();
}

TEST(StreamUsageFilter, TheBusyCommentIsReadAndRemovedHoweverThePiecesAreCut) {
  const std::string stream = kContent + kUsage + kBusy + kDone;
  for (std::size_t size = 1; size <= stream.size(); ++size) {
    StreamUsageFilter filter(/*keep_usage_chunk=*/false);
    EXPECT_EQ(relay(filter, stream, size), kContent + kDone) << "pieces of " << size;
    EXPECT_DOUBLE_EQ(filter.busy_ms(), 12.345) << "pieces of " << size;
    ASSERT_TRUE(filter.usage().has_value()) << "pieces of " << size;
    EXPECT_EQ(filter.usage()->completion_tokens, 2);
  }
}

TEST(StreamUsageFilter, TheUsageChunkTheClientAskedForStaysTheCommentGoes) {
  StreamUsageFilter filter(/*keep_usage_chunk=*/true);
  EXPECT_EQ(relay(filter, kContent + kUsage + kBusy + kDone, 7), kContent + kUsage + kDone);
  EXPECT_DOUBLE_EQ(filter.busy_ms(), 12.345);
}

TEST(StreamUsageFilter, OtherCommentsPassAndAStreamWithoutTheCommentHasNoBusyTime) {
  StreamUsageFilter filter(/*keep_usage_chunk=*/false);
  const std::string keepalive = ": keep-alive\n\n";
  EXPECT_EQ(relay(filter, keepalive + kContent + kDone, 5), keepalive + kContent + kDone);
  EXPECT_EQ(filter.busy_ms(), 0.0);
}

TEST(StreamUsageFilter, AnUnreadableBusyCommentIsRemovedAndCountsNothing) {
  StreamUsageFilter filter(/*keep_usage_chunk=*/false);
  EXPECT_EQ(relay(filter, kContent + ": hearth-busy-ms soon\n\n" + kDone, 64), kContent + kDone);
  EXPECT_EQ(filter.busy_ms(), 0.0);
}

}  // namespace
}  // namespace hearth::gateway
