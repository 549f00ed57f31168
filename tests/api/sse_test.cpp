// SSE framing, and reading it back in arbitrary pieces.
#include "api/sse.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace hearth::api {
namespace {

std::vector<SseEvent> feed_all(SseParser& parser, const std::vector<std::string>& pieces) {
  std::vector<SseEvent> events;
  for (const std::string& piece : pieces) {
    for (SseEvent& event : parser.feed(piece)) events.push_back(std::move(event));
  }
  return events;
}

std::vector<std::string> datas(const std::vector<SseEvent>& events) {
  std::vector<std::string> out;
  for (const SseEvent& event : events) out.push_back(event.data);
  return out;
}

TEST(SseWrite, DataFrame) {
  EXPECT_EQ(sse_data(R"({"a":1})"), "data: {\"a\":1}\n\n");
  EXPECT_EQ(sse_data(""), "data: \n\n");
}

TEST(SseWrite, MultiLinePayloadUsesOneDataLineEach) {
  EXPECT_EQ(sse_data("one\ntwo"), "data: one\ndata: two\n\n");
}

TEST(SseWrite, Done) { EXPECT_EQ(sse_done(), "data: [DONE]\n\n"); }

TEST(SseRead, WriterOutputRoundTrips) {
  SseParser parser;
  const auto events = parser.feed(sse_data(R"({"x":1})") + sse_data("line1\nline2") + sse_done());
  ASSERT_EQ(events.size(), 3U);
  EXPECT_EQ(events[0].data, R"({"x":1})");
  EXPECT_EQ(events[0].event, "");
  EXPECT_FALSE(events[0].is_done());
  EXPECT_EQ(events[1].data, "line1\nline2");
  EXPECT_TRUE(events[2].is_done());
}

TEST(SseRead, EventSplitAcrossFeeds) {
  SseParser parser;
  EXPECT_TRUE(parser.feed("da").empty());
  EXPECT_TRUE(parser.feed("ta: {\"cho").empty());
  EXPECT_TRUE(parser.feed("ices\":[]}\n").empty());
  const auto events = parser.feed("\ndata: [DO");
  ASSERT_EQ(events.size(), 1U);
  EXPECT_EQ(events[0].data, R"({"choices":[]})");
  const auto done = parser.feed("NE]\n\n");
  ASSERT_EQ(done.size(), 1U);
  EXPECT_TRUE(done[0].is_done());
}

TEST(SseRead, EveryByteFedSeparately) {
  const std::string stream =
      "event: delta\r\ndata: a\r\ndata: b\r\n\r\n: keep-alive\r\ndata: [DONE]\r\n\r\n";
  SseParser parser;
  std::vector<std::string> pieces;
  for (const char c : stream) pieces.emplace_back(1, c);
  const auto events = feed_all(parser, pieces);
  ASSERT_EQ(events.size(), 2U);
  EXPECT_EQ(events[0].event, "delta");
  EXPECT_EQ(events[0].data, "a\nb");
  EXPECT_EQ(events[1].event, "");
  EXPECT_TRUE(events[1].is_done());
}

TEST(SseRead, CrLfLineEnds) {
  SseParser parser;
  const auto events = parser.feed("data: one\r\n\r\ndata: two\r\n\r\n");
  EXPECT_EQ(datas(events), (std::vector<std::string>{"one", "two"}));
}

TEST(SseRead, CrLfSplitBetweenFeeds) {
  SseParser parser;
  auto events = feed_all(parser, {"data: one\r", "\n\r", "\ndata: two\r", "\n", "\r\n"});
  EXPECT_EQ(datas(events), (std::vector<std::string>{"one", "two"}));
}

TEST(SseRead, BareCrLineEnds) {
  SseParser parser;
  const auto events = parser.feed("data: one\r\rdata: two\rdata: three\r\r");
  EXPECT_EQ(datas(events), (std::vector<std::string>{"one", "two\nthree"}));
}

TEST(SseRead, MixedLineEndsInOnePiece) {
  SseParser parser;
  const auto events = parser.feed("data: a\rdata: b\r\ndata: c\n\r\ndata: d\n\n");
  ASSERT_EQ(events.size(), 2U);
  EXPECT_EQ(events[0].data, "a\nb\nc");
  EXPECT_EQ(events[1].data, "d");
}

TEST(SseRead, MultiLineDataJoinedWithNewline) {
  SseParser parser;
  const auto events = parser.feed("data: {\ndata:   \"a\": 1\ndata: }\n\n");
  ASSERT_EQ(events.size(), 1U);
  // Only the single space after the colon is dropped.
  EXPECT_EQ(events[0].data, "{\n  \"a\": 1\n}");
}

TEST(SseRead, CommentsAndUnknownFieldsAreIgnored) {
  SseParser parser;
  const auto events = parser.feed(": ping\nid: 7\nretry: 1000\nfoo: bar\ndata: x\n\n:\n\n");
  ASSERT_EQ(events.size(), 1U);
  EXPECT_EQ(events[0].data, "x");
}

TEST(SseRead, BlankLinesWithoutDataDispatchNothing) {
  SseParser parser;
  EXPECT_TRUE(parser.feed("\n\n\nevent: ping\n\n").empty());
  // The event name of a dropped event does not leak into the next one.
  const auto events = parser.feed("data: y\n\n");
  ASSERT_EQ(events.size(), 1U);
  EXPECT_EQ(events[0].event, "");
}

TEST(SseRead, FieldWithoutColonAndEmptyData) {
  SseParser parser;
  const auto events = parser.feed("data\n\ndata:\n\ndata:nospace\n\n");
  EXPECT_EQ(datas(events), (std::vector<std::string>{"", "", "nospace"}));
}

TEST(SseRead, IncompleteEventIsHeldBack) {
  SseParser parser;
  EXPECT_TRUE(parser.feed("data: partial\n").empty());
  EXPECT_TRUE(parser.feed("").empty());
  const auto events = parser.feed("\n");
  EXPECT_EQ(datas(events), (std::vector<std::string>{"partial"}));
}

TEST(SseRead, ByteOrderMarkAtStreamStartIsSkipped) {
  SseParser parser;
  auto events = feed_all(parser, {"\xEF", "\xBB",
                                  "\xBF"
                                  "data: x\n\n"});
  EXPECT_EQ(datas(events), (std::vector<std::string>{"x"}));

  SseParser whole;
  events = whole.feed(
      "\xEF\xBB\xBF"
      "data: y\n\n");
  EXPECT_EQ(datas(events), (std::vector<std::string>{"y"}));
}

TEST(SseRead, ColonInValueIsKept) {
  SseParser parser;
  const auto events = parser.feed("data: {\"url\":\"http://x\"}\n\n");
  ASSERT_EQ(events.size(), 1U);
  EXPECT_EQ(events[0].data, R"({"url":"http://x"})");
}

}  // namespace
}  // namespace hearth::api
