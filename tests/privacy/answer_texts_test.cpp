// Placeholders put back into cloud answers, whole and streamed (split across events and across
// raw byte pieces), and the answer texts for the scanner.
#include "privacy/answer_texts.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "privacy/request_texts.hpp"

namespace hearth::privacy {
namespace {

using json = nlohmann::ordered_json;

const std::vector<EntityInfo>& entities() {
  static const std::vector<EntityInfo> table = {
      {"email", "EMAIL", {"pii"}},
      {"custom:name", "NAME", {"custom:name"}},
  };
  return table;
}

// EMAIL_1 = ann@x.io, EMAIL_2..EMAIL_12 = a2@x.io..a12@x.io, NAME_1 = O"Neil \ é (a value that
// needs escaping inside JSON).
const std::string kName = "O\"Neil \\ é";

Redaction make_redaction() {
  Redaction redaction;
  const std::string first = "ann@x.io";
  redaction.redact(first, std::vector<Finding>{{0, 0, first.size(), 1.0}}, entities());
  for (int i = 2; i <= 12; ++i) {
    std::string value = "a";  // not "a" + ...: GCC 12 -Wrestrict false positive at -O3
    value += std::to_string(i);
    value += "@x.io";
    redaction.redact(value, std::vector<Finding>{{0, 0, value.size(), 1.0}}, entities());
  }
  redaction.redact(kName, std::vector<Finding>{{1, 0, kName.size(), 1.0}}, entities());
  return redaction;
}

// ---- whole answers ----

TEST(RestoreAnswer, ChatMessageFields) {
  const Redaction redaction = make_redaction();
  const std::string body =
      R"({"id":"c1","object":"chat.completion","created":7,"model":"gpt","choices":[)"
      R"({"index":0,"message":{"role":"assistant","content":"Hi [NAME_1], mail [EMAIL_1].",)"
      R"("reasoning_content":"user is [NAME_1]","refusal":"not for [EMAIL_12]"},)"
      R"("finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":4}})";
  const std::string restored = restore_answer(body, redaction);
  const json answer = json::parse(restored);
  const json& message = answer.at("choices").at(0).at("message");
  EXPECT_EQ(message.at("content"), "Hi " + kName + ", mail ann@x.io.");
  EXPECT_EQ(message.at("reasoning_content"), "user is " + kName);
  EXPECT_EQ(message.at("refusal"), "not for a12@x.io");
  EXPECT_EQ(answer.at("usage").at("completion_tokens"), 4);
  // Compact, members where they were.
  EXPECT_EQ(restored.substr(0, 60), body.substr(0, 60));
  EXPECT_EQ(restored.find('\n'), std::string::npos);
}

TEST(RestoreAnswer, ContentPartsToolCallsAndLegacyFunctionCall) {
  const Redaction redaction = make_redaction();
  const std::string body =
      R"({"choices":[{"index":0,"message":{"role":"assistant","content":[)"
      R"({"type":"text","text":"to [EMAIL_1]"},{"type":"refusal","refusal":"no [NAME_1]"}],)"
      R"("tool_calls":[{"id":"call_[EMAIL_1]","type":"function","function":{"name":"send",)"
      R"("arguments":"{\"to\":\"[EMAIL_1]\",\"name\":\"[NAME_1]\"}"}}],)"
      R"("function_call":{"name":"f","arguments":"{\"n\":\"[NAME_1]\"}"}}}]})";
  const json answer = json::parse(restore_answer(body, redaction));
  const json& message = answer.at("choices").at(0).at("message");
  EXPECT_EQ(message.at("content").at(0).at("text"), "to ann@x.io");
  EXPECT_EQ(message.at("content").at(1).at("refusal"), "no " + kName);
  const json& call = message.at("tool_calls").at(0);
  EXPECT_EQ(call.at("id"), "call_[EMAIL_1]");  // not a text
  const json arguments = json::parse(call.at("function").at("arguments").get<std::string>());
  EXPECT_EQ(arguments.at("to"), "ann@x.io");
  EXPECT_EQ(arguments.at("name"), kName);
  const json legacy = json::parse(message.at("function_call").at("arguments").get<std::string>());
  EXPECT_EQ(legacy.at("n"), kName);
}

TEST(RestoreAnswer, CompletionTexts) {
  const Redaction redaction = make_redaction();
  const json answer = json::parse(restore_answer(
      R"({"object":"text_completion","choices":[{"index":0,"text":"[EMAIL_2] [EMAIL_1]"},)"
      R"({"index":1,"text":"[EMAIL_13]"}]})",
      redaction));
  EXPECT_EQ(answer.at("choices").at(0).at("text"), "a2@x.io ann@x.io");
  EXPECT_EQ(answer.at("choices").at(1).at("text"), "[EMAIL_13]");
}

TEST(RestoreAnswer, ErrorsAndNonJsonBodies) {
  const Redaction redaction = make_redaction();
  const std::string error = R"({"error":{"message":"bad input: [NAME_1]","type":"x"}})";
  const std::string restored_error = restore_answer(error, redaction);
  EXPECT_EQ(json::parse(restored_error).at("error").at("message"), "bad input: " + kName);
  EXPECT_EQ(restore_answer("Bad gateway for [NAME_1]", redaction), "Bad gateway for " + kName);
}

TEST(RestoreAnswer, NothingRedactedLeavesTheBodyAlone) {
  const Redaction redaction;
  const std::string body = "{ \"choices\": [ {\"text\": \"[EMAIL_1]\"} ] }";
  EXPECT_EQ(restore_answer(body, redaction), body);
}

TEST(AnswerTexts, TheTextsOfAnAnswer) {
  EXPECT_EQ(
      answer_texts(
          R"({"choices":[{"message":{"role":"assistant","content":"a","reasoning_content":"r",)"
          R"("refusal":"f","tool_calls":[{"id":"x","function":{"name":"n","arguments":"{}"}}]}},)"
          R"({"text":"t"}]})"),
      (std::vector<std::string>{"a", "r", "f", "{}", "t"}));
  EXPECT_EQ(answer_texts(R"({"error":{"message":"m","code":"c"}})"),
            (std::vector<std::string>{"m", "c"}));
  EXPECT_EQ(answer_texts("plain text"), std::vector<std::string>{"plain text"});
  EXPECT_EQ(answer_texts(""), std::vector<std::string>{});
}

TEST(RestoreAnswer, RequestRedactedAndAnswerRestoredEndToEnd) {
  auto request = RequestTexts::parse(
      R"({"model":"m","messages":[{"role":"user","content":"Write to ann@x.io and O\"Neil"}],)"
      R"("tools":[{"type":"function","function":{"name":"send","description":"mail ann@x.io"}}]})");
  ASSERT_TRUE(request.has_value());
  Redaction redaction;
  for (std::size_t i = 0; i < request->texts().size(); ++i) {
    const std::string text = request->texts()[i];
    std::vector<Finding> findings;
    for (const auto& [entity, value] :
         std::vector<std::pair<std::uint32_t, std::string>>{{0, "ann@x.io"}, {1, "O\"Neil"}}) {
      if (const std::size_t at = text.find(value); at != std::string::npos) {
        findings.push_back(Finding{entity, at, at + value.size(), 1.0});
      }
    }
    std::sort(findings.begin(), findings.end(),
              [](const Finding& a, const Finding& b) { return a.begin < b.begin; });
    request->replace(i, redaction.redact(text, findings, entities()));
  }
  const std::string sent = request->serialize();
  EXPECT_EQ(sent.find("ann@x.io"), std::string::npos);
  EXPECT_EQ(sent.find("Neil"), std::string::npos);
  EXPECT_NE(sent.find("Write to [EMAIL_1] and [NAME_1]"), std::string::npos);
  EXPECT_NE(sent.find("mail [EMAIL_1]"), std::string::npos);

  const json answer = json::parse(restore_answer(
      R"({"choices":[{"index":0,"message":{"role":"assistant","content":"Sent to [EMAIL_1]",)"
      R"("tool_calls":[{"id":"c","type":"function","function":{"name":"send",)"
      R"("arguments":"{\"to\":\"[NAME_1] <[EMAIL_1]>\"}"}}]}}]})",
      redaction));
  const json& message = answer.at("choices").at(0).at("message");
  EXPECT_EQ(message.at("content"), "Sent to ann@x.io");
  EXPECT_EQ(
      json::parse(message.at("tool_calls").at(0).at("function").at("arguments").get<std::string>())
          .at("to"),
      "O\"Neil <ann@x.io>");
}

// ---- streams ----

std::string chat_chunk(const json& choices) {
  json chunk = {{"id", "chatcmpl-1"},
                {"object", "chat.completion.chunk"},
                {"created", 1700000000},
                {"model", "gpt-x"},
                {"choices", choices}};
  return "data: " + chunk.dump() + "\n\n";
}

std::string content_chunk(const std::string& content, int index = 0) {
  return chat_chunk(json::array(
      {{{"index", index}, {"delta", {{"content", content}}}, {"finish_reason", nullptr}}}));
}

std::string finish_chunk(const std::string& reason, int index = 0,
                         const json& delta = json::object()) {
  return chat_chunk(json::array({{{"index", index}, {"delta", delta}, {"finish_reason", reason}}}));
}

const std::string kDone = "data: [DONE]\n\n";

// What a client makes of a stream: text per (choice, field), tool-call arguments per (choice,
// tool index), finish reasons, and how the stream ended. Every data event must be JSON.
struct ClientView {
  std::map<int, std::string> content;
  std::map<int, std::string> reasoning;
  std::map<int, std::string> text;
  std::map<std::pair<int, int>, std::string> arguments;
  std::map<int, std::string> finish_reasons;
  std::vector<json> chunks;
  std::vector<std::string> event_names;
  int done_count = 0;
  bool done_last = false;
};

ClientView client_view(const std::string& sse) {
  ClientView view;
  api::SseParser parser;
  const std::vector<api::SseEvent> events = parser.feed(sse);
  for (const api::SseEvent& event : events) {
    view.event_names.push_back(event.event);
    view.done_last = event.is_done();
    if (event.is_done()) {
      ++view.done_count;
      continue;
    }
    const json chunk = json::parse(event.data);  // throws (fails the test) when not JSON
    view.chunks.push_back(chunk);
    if (!chunk.contains("choices")) continue;
    for (const json& choice : chunk.at("choices")) {
      const int index = choice.at("index").get<int>();
      if (choice.contains("text")) view.text[index] += choice.at("text").get<std::string>();
      if (choice.contains("finish_reason") && !choice.at("finish_reason").is_null()) {
        view.finish_reasons[index] = choice.at("finish_reason").get<std::string>();
      }
      if (!choice.contains("delta")) continue;
      const json& delta = choice.at("delta");
      if (delta.contains("content") && delta.at("content").is_string()) {
        view.content[index] += delta.at("content").get<std::string>();
      }
      if (delta.contains("reasoning_content")) {
        view.reasoning[index] += delta.at("reasoning_content").get<std::string>();
      }
      if (delta.contains("tool_calls")) {
        for (const json& call : delta.at("tool_calls")) {
          if (call.contains("function") && call.at("function").contains("arguments")) {
            view.arguments[{index, call.at("index").get<int>()}] +=
                call.at("function").at("arguments").get<std::string>();
          }
        }
      }
    }
  }
  return view;
}

std::string restore_stream(const Redaction& redaction, const std::vector<std::string>& pieces) {
  StreamAnswerRestorer restorer(redaction);
  std::string out;
  for (const std::string& piece : pieces) out += restorer.feed(piece);
  out += restorer.finish();
  return out;
}

std::string restore_bytewise(const Redaction& redaction, const std::string& upstream) {
  StreamAnswerRestorer restorer(redaction);
  std::string out;
  for (const char byte : upstream) out += restorer.feed(std::string_view(&byte, 1));
  out += restorer.finish();
  return out;
}

std::string split_content_stream() {
  return content_chunk("Dear [NA") + content_chunk("ME_1], your mail [EMA") + content_chunk("IL") +
         content_chunk("_1") + content_chunk("] and [EMAIL_1") + content_chunk("2] [x] [") +
         finish_chunk("stop", 0, {{"content", "EMAIL_2]."}}) + kDone;
}

const std::string kSplitContentRestored =
    "Dear " + kName + ", your mail ann@x.io and a12@x.io [x] a2@x.io.";

TEST(StreamAnswerRestorer, PlaceholdersSplitAcrossEvents) {
  const Redaction redaction = make_redaction();
  const std::string out = restore_stream(redaction, {split_content_stream()});
  const ClientView view = client_view(out);
  EXPECT_EQ(view.content.at(0), kSplitContentRestored);
  EXPECT_EQ(view.finish_reasons.at(0), "stop");
  EXPECT_EQ(view.done_count, 1);
  EXPECT_TRUE(view.done_last);
  EXPECT_EQ(view.chunks.size(), 7U);  // one out per chunk in, nothing extra
  for (const json& chunk : view.chunks) {
    EXPECT_EQ(chunk.at("id"), "chatcmpl-1");
    EXPECT_EQ(chunk.at("model"), "gpt-x");
  }
}

TEST(StreamAnswerRestorer, RawBytePiecesOneAtATime) {
  const Redaction redaction = make_redaction();
  const std::string whole = restore_stream(redaction, {split_content_stream()});
  EXPECT_EQ(restore_bytewise(redaction, split_content_stream()), whole);
}

TEST(StreamAnswerRestorer, EverySplitOfTheByteStream) {
  const Redaction redaction = make_redaction();
  const std::string upstream = split_content_stream();
  const std::string whole = restore_stream(redaction, {upstream});
  for (std::size_t cut = 0; cut <= upstream.size(); ++cut) {
    ASSERT_EQ(restore_stream(redaction, {upstream.substr(0, cut), upstream.substr(cut)}), whole)
        << "cut at " << cut;
  }
}

TEST(StreamAnswerRestorer, CrLfLineEndsAreRead) {
  const Redaction redaction = make_redaction();
  std::string upstream;
  for (const char c : split_content_stream()) {
    if (c == '\n') upstream += '\r';
    upstream += c;
  }
  EXPECT_EQ(client_view(restore_bytewise(redaction, upstream)).content.at(0),
            kSplitContentRestored);
}

json tool_call_delta(int index, const std::string& arguments) {
  return {{"index", index}, {"function", {{"arguments", arguments}}}};
}

TEST(StreamAnswerRestorer, ToolCallArgumentsSplitPerToolCall) {
  const Redaction redaction = make_redaction();
  const json first_call = {{"index", 0},
                           {"id", "call_a"},
                           {"type", "function"},
                           {"function", {{"name", "send"}, {"arguments", ""}}}};
  const json second_call = {{"index", 1},
                            {"id", "call_b"},
                            {"type", "function"},
                            {"function", {{"name", "log"}, {"arguments", "{\"who\":\"[NAM"}}}};
  const auto calls_chunk = [](const json& calls) {
    return chat_chunk(json::array(
        {{{"index", 0}, {"delta", {{"tool_calls", calls}}}, {"finish_reason", nullptr}}}));
  };
  const std::string upstream =
      chat_chunk(
          json::array({{{"index", 0}, {"delta", {{"role", "assistant"}, {"content", nullptr}}}}})) +
      calls_chunk(json::array({first_call})) +
      calls_chunk(json::array({tool_call_delta(0, "{\"to\":\"[EMAIL_")})) +
      calls_chunk(json::array({second_call, tool_call_delta(0, "1]\",\"cc\":\"[EMAIL_1")})) +
      calls_chunk(json::array({tool_call_delta(1, "E_1]\"}")})) +
      finish_chunk("tool_calls", 0, {{"tool_calls", json::array({tool_call_delta(0, "\"}")})}}) +
      kDone;
  for (const std::string& out :
       {restore_stream(redaction, {upstream}), restore_bytewise(redaction, upstream)}) {
    const ClientView view = client_view(out);
    ASSERT_EQ(view.arguments.size(), 2U);
    const json first = json::parse(view.arguments.at({0, 0}));
    EXPECT_EQ(first.at("to"), "ann@x.io");
    EXPECT_EQ(first.at("cc"), "[EMAIL_1");  // held until the end, never completed
    const json second = json::parse(view.arguments.at({0, 1}));
    EXPECT_EQ(second.at("who"), kName);
    EXPECT_EQ(view.finish_reasons.at(0), "tool_calls");
    ASSERT_EQ(view.chunks.size(), 6U);
    EXPECT_EQ(view.chunks.back().at("choices").at(0).at("delta").at("tool_calls").size(), 1U);
  }
}

TEST(StreamAnswerRestorer, HeldToolArgumentsGoIntoTheFinishChunkWithoutThem) {
  const Redaction redaction = make_redaction();
  const std::string upstream =
      chat_chunk(json::array(
          {{{"index", 0},
            {"delta", {{"tool_calls", json::array({tool_call_delta(2, "{\"a\":\"x [EMAIL_1")})}}},
            {"finish_reason", nullptr}}})) +
      finish_chunk("tool_calls") + kDone;
  const ClientView view = client_view(restore_stream(redaction, {upstream}));
  EXPECT_EQ(view.arguments.at({0, 2}), "{\"a\":\"x [EMAIL_1");
  ASSERT_EQ(view.chunks.size(), 2U);  // into the finish chunk, not one more
  EXPECT_EQ(view.chunks.back().at("choices").at(0).at("finish_reason"), "tool_calls");
  const json& finish_delta = view.chunks.back().at("choices").at(0).at("delta");
  EXPECT_EQ(finish_delta.at("tool_calls").at(0).at("index"), 2);
  EXPECT_EQ(finish_delta.at("tool_calls").at(0).at("function").at("arguments"), "[EMAIL_1");
}

TEST(StreamAnswerRestorer, TwoChoicesAreKeptApart) {
  const Redaction redaction = make_redaction();
  const std::string upstream = content_chunk("A: [EMAIL", 0) + content_chunk("B: [NAME_", 1) +
                               content_chunk("_1] ", 0) + content_chunk("1] [EMAIL_1", 1) +
                               finish_chunk("stop", 1) + content_chunk("[EMAIL_1", 0) +
                               finish_chunk("length", 0, {{"content", "1]"}}) + kDone;
  for (const std::string& out :
       {restore_stream(redaction, {upstream}), restore_bytewise(redaction, upstream)}) {
    const ClientView view = client_view(out);
    EXPECT_EQ(view.content.at(0), "A: ann@x.io a11@x.io");
    EXPECT_EQ(view.content.at(1), "B: " + kName + " [EMAIL_1");
    EXPECT_EQ(view.finish_reasons.at(0), "length");
    EXPECT_EQ(view.finish_reasons.at(1), "stop");
    EXPECT_EQ(view.chunks.size(), 7U);
  }
}

TEST(StreamAnswerRestorer, FinishReasonChunkGetsTheHeldText) {
  const Redaction redaction = make_redaction();
  const std::string out =
      restore_stream(redaction, {content_chunk("see [EMAIL_1") + finish_chunk("length") + kDone});
  const ClientView view = client_view(out);
  ASSERT_EQ(view.chunks.size(), 2U);
  EXPECT_EQ(view.chunks.at(0).at("choices").at(0).at("delta").at("content"), "see ");
  EXPECT_EQ(view.chunks.at(1).at("choices").at(0).at("delta").at("content"), "[EMAIL_1");
  EXPECT_EQ(view.chunks.at(1).at("choices").at(0).at("finish_reason"), "length");
}

TEST(StreamAnswerRestorer, DoneFlushesHeldTextAsOneMoreChunk) {
  const Redaction redaction = make_redaction();
  const std::string upstream = content_chunk("x [EMAIL_1", 0) + content_chunk("y [NAME", 1) + kDone;
  const std::string out = restore_stream(redaction, {upstream});
  const ClientView view = client_view(out);
  ASSERT_EQ(view.chunks.size(), 3U);
  const json& flush = view.chunks.at(2);
  EXPECT_EQ(flush.at("id"), "chatcmpl-1");
  EXPECT_EQ(flush.at("object"), "chat.completion.chunk");
  EXPECT_EQ(flush.at("created"), 1700000000);
  EXPECT_EQ(flush.at("model"), "gpt-x");
  ASSERT_EQ(flush.at("choices").size(), 2U);
  EXPECT_EQ(flush.at("choices").at(0).at("index"), 0);
  EXPECT_EQ(flush.at("choices").at(0).at("delta").at("content"), "[EMAIL_1");
  EXPECT_EQ(flush.at("choices").at(1).at("index"), 1);
  EXPECT_EQ(flush.at("choices").at(1).at("delta").at("content"), "[NAME");
  EXPECT_EQ(view.content.at(0), "x [EMAIL_1");
  EXPECT_EQ(view.content.at(1), "y [NAME");
  EXPECT_TRUE(view.done_last);
  EXPECT_EQ(out.substr(out.size() - kDone.size()), kDone);
}

TEST(StreamAnswerRestorer, UpstreamEndingWithoutDoneIsFlushedByFinish) {
  const Redaction redaction = make_redaction();
  StreamAnswerRestorer restorer(redaction);
  const std::string out = restorer.feed(content_chunk("to [EMAIL_1] and [EMAIL_1"));
  EXPECT_EQ(client_view(out).content.at(0), "to ann@x.io and ");
  const std::string rest = restorer.finish();
  const ClientView view = client_view(rest);
  ASSERT_EQ(view.chunks.size(), 1U);
  EXPECT_EQ(view.content.at(0), "[EMAIL_1");
  EXPECT_EQ(view.done_count, 0);
  EXPECT_EQ(restorer.finish(), "");
}

TEST(StreamAnswerRestorer, FinishAfterDoneGivesNothing) {
  const Redaction redaction = make_redaction();
  StreamAnswerRestorer restorer(redaction);
  const std::string out = restorer.feed(content_chunk("[EMAIL_1") + kDone);
  EXPECT_EQ(client_view(out).content.at(0), "[EMAIL_1");
  EXPECT_EQ(restorer.finish(), "");
}

TEST(StreamAnswerRestorer, ErrorEventsAndNonJsonDataPassThroughRestored) {
  const Redaction redaction = make_redaction();
  const std::string upstream =
      content_chunk("hello [EMA") +
      "event: error\ndata: {\"error\":{\"message\":\"bad [NAME_1]\"}}\n\n" +
      "data: not json [EMAIL_1]\n\n";
  StreamAnswerRestorer restorer(redaction);
  const std::string out = restorer.feed(upstream);
  api::SseParser parser;
  const auto events = parser.feed(out);
  ASSERT_EQ(events.size(), 3U);
  EXPECT_EQ(json::parse(events.at(0).data).at("choices").at(0).at("delta").at("content"), "hello ");
  EXPECT_EQ(events.at(1).event, "error");
  EXPECT_EQ(json::parse(events.at(1).data).at("error").at("message"), "bad " + kName);
  EXPECT_EQ(events.at(2).data, "not json ann@x.io");
  EXPECT_EQ(out.find("event: error\ndata: {"), out.find("event: error"));
  // The held piece still goes out when the stream ends.
  EXPECT_EQ(client_view(restorer.finish()).content.at(0), "[EMA");
}

TEST(StreamAnswerRestorer, UsageChunksPassThroughUnchanged) {
  const Redaction redaction = make_redaction();
  const std::string usage =
      R"(data: {"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":1}})"
      "\n\n";
  EXPECT_EQ(restore_stream(redaction, {usage}), usage);
}

TEST(StreamAnswerRestorer, ReasoningContentIsRestoredSeparately) {
  const Redaction redaction = make_redaction();
  const auto reasoning_chunk = [](const std::string& text) {
    return chat_chunk(json::array(
        {{{"index", 0}, {"delta", {{"reasoning_content", text}}}, {"finish_reason", nullptr}}}));
  };
  const std::string upstream = reasoning_chunk("think [NAME_") + content_chunk("say [EMAIL_") +
                               reasoning_chunk("1]") + content_chunk("2]") + finish_chunk("stop") +
                               kDone;
  const ClientView view = client_view(restore_bytewise(redaction, upstream));
  EXPECT_EQ(view.reasoning.at(0), "think " + kName);
  EXPECT_EQ(view.content.at(0), "say a2@x.io");
}

std::string completion_chunk(const std::string& text, const json& finish_reason = nullptr) {
  json chunk = {{"id", "cmpl-1"},
                {"object", "text_completion"},
                {"created", 5},
                {"model", "m"},
                {"choices", json::array({{{"index", 0},
                                          {"text", text},
                                          {"logprobs", nullptr},
                                          {"finish_reason", finish_reason}}})}};
  return "data: " + chunk.dump() + "\n\n";
}

TEST(StreamAnswerRestorer, CompletionStreams) {
  const Redaction redaction = make_redaction();
  const std::string upstream =
      completion_chunk("A [EMA") + completion_chunk("IL_1] B [EMAIL_1") + kDone;
  const std::string out = restore_bytewise(redaction, upstream);
  const ClientView view = client_view(out);
  EXPECT_EQ(view.text.at(0), "A ann@x.io B [EMAIL_1");
  ASSERT_EQ(view.chunks.size(), 3U);
  const json& flush = view.chunks.at(2);
  EXPECT_EQ(flush.at("object"), "text_completion");
  EXPECT_EQ(flush.at("id"), "cmpl-1");
  EXPECT_EQ(flush.at("choices").at(0).at("text"), "[EMAIL_1");
  EXPECT_FALSE(flush.at("choices").at(0).contains("delta"));

  const ClientView finished = client_view(
      restore_stream(redaction, {completion_chunk("x [EMAIL_1"), completion_chunk("0]", "stop")}));
  EXPECT_EQ(finished.text.at(0), "x a10@x.io");
  EXPECT_EQ(finished.chunks.size(), 2U);
}

TEST(StreamAnswerRestorer, UpstreamTextsAreWhatUpstreamSent) {
  const Redaction redaction = make_redaction();
  StreamAnswerRestorer restorer(redaction);
  restorer.feed(
      content_chunk("a [EMA", 0) + content_chunk("IL_1]", 0) + content_chunk("b", 1) +
      chat_chunk(json::array(
          {{{"index", 0},
            {"delta", {{"tool_calls", json::array({tool_call_delta(0, "{\"k\":")})}}}}})) +
      chat_chunk(json::array(
          {{{"index", 0}, {"delta", {{"tool_calls", json::array({tool_call_delta(0, "1}")})}}}}})) +
      kDone);
  EXPECT_EQ(restorer.upstream_texts(), (std::vector<std::string>{"a [EMAIL_1]", "{\"k\":1}", "b"}));
}

// A stream kept only for the secret scan: its bytes go out as they came, in the same pieces,
// comments included, and its texts are still collected.
TEST(StreamAnswerRestorer, NothingToRestorePassesTheBytesThrough) {
  const Redaction nothing;
  StreamAnswerRestorer restorer(nothing);
  const std::string stream = ": keep-alive\n\n" + content_chunk("key [EMAIL_1] AKIA", 0) +
                             content_chunk("IOSFODNN7EXAMPLE", 0) + kDone;
  for (std::size_t at = 0; at < stream.size(); at += 7) {
    const std::string piece = stream.substr(at, 7);
    EXPECT_EQ(restorer.feed(piece), piece);
  }
  EXPECT_EQ(restorer.finish(), "");
  EXPECT_EQ(restorer.upstream_texts(),
            (std::vector<std::string>{"key [EMAIL_1] AKIAIOSFODNN7EXAMPLE"}));
}

TEST(StreamAnswerRestorer, EventNamesAreKept) {
  const Redaction redaction = make_redaction();
  const std::string out =
      restore_stream(redaction, {"event: chunk\n" + content_chunk("[EMAIL_1]") + kDone});
  EXPECT_EQ(out.rfind("event: chunk\ndata: ", 0), 0U);
  EXPECT_EQ(client_view(out).content.at(0), "ann@x.io");
}

}  // namespace
}  // namespace hearth::privacy

namespace hearth::privacy {
namespace {

// An answer or event with one more member that simdjson refuses (an integer beyond 64 bits):
// read by the nlohmann reading, which the simdjson one stands in for.
std::string for_the_full_reading(const std::string& object) {
  std::string body = object;
  body.insert(body.rfind('}'), R"(,"big":123456789012345678901234567890)");
  return body;
}

const std::vector<std::string> kAnswers = {
    R"({"choices":[{"index":0,"message":{"role":"assistant","content":"hello AKIAIOSFODNN7EXAMPLE","reasoning_content":"thinking","refusal":"no"},"finish_reason":"stop"}]})",
    R"({"choices":[{"message":{"content":[{"type":"text","text":"part one"},{"type":"refusal","refusal":"part two"}],"tool_calls":[{"id":"c","function":{"name":"f","arguments":"{\"k\":\"v\"}"}}],"function_call":{"arguments":"legacy"}}}]})",
    R"({"choices":[{"text":"completion"},{"text":"second"},"odd",{"message":"not an object"}]})",
    R"({"error":{"message":"echoes the request: sk-live","param":null,"details":["a",{"b":"c"},1]}})",
    R"({"choices":"not a list","note":"text"})",
    R"({"object":"list","data":[{"embedding":[0.1,0.2]}]})",
};

TEST(AnswerTexts, FastReadingMatchesTheFullReading) {
  for (const std::string& answer : kAnswers) {
    EXPECT_EQ(answer_texts(answer), answer_texts(for_the_full_reading(answer))) << answer;
  }
  EXPECT_EQ(answer_texts(kAnswers[0]),
            (std::vector<std::string>{"hello AKIAIOSFODNN7EXAMPLE", "thinking", "no"}));
}

// A scan must see every text a client could read: a repeated key is read each time.
TEST(AnswerTexts, RepeatedKeysAreEachScanned) {
  EXPECT_EQ(answer_texts(R"({"choices":[{"message":{"content":"first","content":"second"}}]})"),
            (std::vector<std::string>{"first", "second"}));
}

TEST(StreamAnswerRestorer, FastReadingOfEventsMatchesTheFullReading) {
  const std::vector<std::string> events = {
      R"({"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":"tok "}}]})",
      R"({"id":"c","choices":[{"index":1,"delta":{"content":"other choice"}}]})",
      R"({"id":"c","choices":[{"index":0,"delta":{"reasoning_content":"why","refusal":"r"}}]})",
      R"({"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"{\"a\":"}},"odd",{"function":{"arguments":"zero"}}]}}]})",
      R"({"id":"c","choices":[{"index":0,"delta":{"function_call":{"arguments":"legacy"}}}]})",
      R"({"id":"c","choices":[{"index":0,"text":"completion text","finish_reason":"stop"}]})",
      R"({"id":"c","choices":[{"index":-3,"delta":{"content":"bad index"}},{"delta":{"content":"no index"}}]})",
      R"({"error":{"message":"not an answer"}})",
      R"({"id":"c","choices":[],"usage":{"prompt_tokens":1}})",
  };
  const Redaction nothing;
  StreamAnswerRestorer fast(nothing);
  StreamAnswerRestorer full(nothing);
  for (const std::string& event : events) {
    fast.feed("data: " + event + "\n\n");
    full.feed("data: " + for_the_full_reading(event) + "\n\n");
  }
  EXPECT_EQ(fast.upstream_texts(), full.upstream_texts());
  EXPECT_EQ(fast.upstream_texts().size(), 8U);
}

TEST(StreamAnswerRestorer, RepeatedKeysInAnEventAreEachScanned) {
  const Redaction nothing;
  StreamAnswerRestorer restorer(nothing);
  restorer.feed(R"(data: {"choices":[{"delta":{"content":"AKIAIOSF","content":"ODNN7EXAMPLE"}}]})"
                "\n\n");
  EXPECT_EQ(restorer.upstream_texts(), std::vector<std::string>{"AKIAIOSFODNN7EXAMPLE"});
}

}  // namespace
}  // namespace hearth::privacy
