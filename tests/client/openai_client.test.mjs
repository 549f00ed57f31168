// Drives real `hearth worker` processes with the official OpenAI Node client: whatever this
// client sends and expects is what users of the SDK will hit.
//
// Environment:
//   HEARTH_BIN           path to the hearth binary
//   HEARTH_FIXTURES_DIR  folder holding tiny-qwen2-chat.gguf and tiny-bert-embed.gguf
//
// Run: node --test openai_client.test.mjs (ctest runs it as `openai_client`).

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import OpenAI from "openai";

const HEARTH_BIN = process.env.HEARTH_BIN;
const FIXTURES = process.env.HEARTH_FIXTURES_DIR;

const CHAT_MODEL = "tiny-qwen2-chat";
const EMBED_MODEL = "tiny-bert-embed";

const LISTEN_TIMEOUT_MS = 30_000; // until the "worker listening on" line
const HEALTH_TIMEOUT_MS = 60_000; // until GET /health answers 200
const STOP_GRACE_MS = 3_000; // SIGTERM, then SIGKILL
const REQUEST_TIMEOUT_MS = 60_000; // each SDK request
const TEST_TIMEOUT_MS = 120_000; // each test

const LISTENING = /worker listening on http:\/\/127\.0\.0\.1:(\d+)/;
const LOG_TAIL_CHARS = 4_000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// A running worker: its process, the port it picked and everything it logged so far.
class Worker {
  constructor(name, args) {
    this.name = name;
    this.args = args;
    this.log = "";
    this.exited = null; // {code, signal} once it exits
    this.port = null;
  }

  logTail() {
    return this.log.length > LOG_TAIL_CHARS ? "..." + this.log.slice(-LOG_TAIL_CHARS) : this.log;
  }

  describe() {
    return `${this.name} (hearth ${this.args.join(" ")})`;
  }

  async start() {
    this.proc = spawn(HEARTH_BIN, this.args, { stdio: ["ignore", "pipe", "pipe"] });
    this.exitPromise = new Promise((resolve) => {
      this.proc.on("exit", (code, signal) => {
        this.exited = { code, signal };
        resolve(this.exited);
      });
    });
    const spawnError = new Promise((_, reject) => this.proc.on("error", reject));

    const listening = new Promise((resolve) => {
      const onData = (chunk) => {
        this.log += chunk.toString();
        const match = this.port === null && LISTENING.exec(this.log);
        if (match) {
          this.port = Number(match[1]);
          resolve(this.port);
        }
      };
      this.proc.stdout.on("data", onData);
      this.proc.stderr.on("data", onData);
    });
    const exitedEarly = this.exitPromise.then(({ code, signal }) => {
      throw new Error(`${this.describe()} exited (code ${code}, signal ${signal}) before listening:\n${this.logTail()}`);
    });
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${this.describe()} logged no "worker listening on" line in ${LISTEN_TIMEOUT_MS} ms:\n${this.logTail()}`)),
        LISTEN_TIMEOUT_MS,
      );
    });
    try {
      await Promise.race([listening, exitedEarly, timeout, spawnError]);
    } finally {
      clearTimeout(timer);
      exitedEarly.catch(() => {}); // it may still reject later, after stop(): not an error then
    }
    assert.ok(this.port > 0 && this.port < 65536, `bad port ${this.port}`);
    this.baseURL = `http://127.0.0.1:${this.port}`;
    await this.waitHealthy();
  }

  async waitHealthy() {
    const deadline = Date.now() + HEALTH_TIMEOUT_MS;
    let last = "no answer yet";
    while (Date.now() < deadline) {
      if (this.exited) {
        throw new Error(`${this.describe()} exited (code ${this.exited.code}, signal ${this.exited.signal}) while loading:\n${this.logTail()}`);
      }
      try {
        const response = await fetch(`${this.baseURL}/health`, { signal: AbortSignal.timeout(2_000) });
        const body = await response.text();
        if (response.status === 200) return;
        last = `HTTP ${response.status} ${body}`;
      } catch (error) {
        last = String(error);
      }
      await sleep(100);
    }
    throw new Error(`${this.describe()}: GET /health not 200 within ${HEALTH_TIMEOUT_MS} ms (last: ${last}):\n${this.logTail()}`);
  }

  async stop() {
    if (!this.proc || this.exited) return;
    this.proc.kill("SIGTERM");
    const graceful = await Promise.race([this.exitPromise, sleep(STOP_GRACE_MS).then(() => null)]);
    if (graceful) return;
    this.proc.kill("SIGKILL");
    await Promise.race([this.exitPromise, sleep(STOP_GRACE_MS)]);
  }

  client() {
    return new OpenAI({
      baseURL: `${this.baseURL}/v1`,
      apiKey: "unused",
      maxRetries: 0,
      timeout: REQUEST_TIMEOUT_MS,
    });
  }
}

const chatWorker = new Worker("chat worker", [
  "worker", "--model", path.join(FIXTURES ?? "", `${CHAT_MODEL}.gguf`),
  "--listen", "127.0.0.1:0", "--parallel", "2", "--context", "2048",
]);
const embedWorker = new Worker("embedding worker", [
  "worker", "--model", path.join(FIXTURES ?? "", `${EMBED_MODEL}.gguf`),
  "--listen", "127.0.0.1:0",
]);
const workers = [chatWorker, embedWorker];

// Should the runner die without reaching after(), leave no worker behind.
process.on("exit", () => {
  for (const worker of workers) if (worker.proc && !worker.exited) worker.proc.kill("SIGKILL");
});

let chat; // OpenAI client of the chat worker
let embed; // OpenAI client of the embedding worker

before(async () => {
  assert.ok(HEARTH_BIN, "set HEARTH_BIN to the hearth binary");
  assert.ok(FIXTURES, "set HEARTH_FIXTURES_DIR to the fixtures folder");
  assert.ok(existsSync(HEARTH_BIN), `HEARTH_BIN ${HEARTH_BIN} does not exist`);
  for (const worker of workers) {
    const model = worker.args[worker.args.indexOf("--model") + 1];
    assert.ok(existsSync(model), `fixture ${model} does not exist (build the "fixtures" target)`);
  }
  await Promise.all(workers.map((worker) => worker.start()));
  chat = chatWorker.client();
  embed = embedWorker.client();
}, { timeout: LISTEN_TIMEOUT_MS + HEALTH_TIMEOUT_MS + 10_000 });

after(async () => {
  await Promise.all(workers.map((worker) => worker.stop()));
  for (const worker of workers) {
    // A worker that crashed during the tests makes them fail even if every assertion held.
    if (worker.exited && worker.exited.signal && worker.exited.signal !== "SIGTERM" && worker.exited.signal !== "SIGKILL") {
      assert.fail(`${worker.describe()} died of ${worker.exited.signal}:\n${worker.logTail()}`);
    }
  }
}, { timeout: 4 * STOP_GRACE_MS });

const isCount = (value) => Number.isInteger(value) && value >= 0;

function checkUsage(usage, maxCompletion) {
  assert.ok(usage, "usage is missing");
  assert.equal(typeof usage.prompt_tokens, "number");
  assert.equal(typeof usage.completion_tokens, "number");
  assert.equal(typeof usage.total_tokens, "number");
  assert.ok(isCount(usage.prompt_tokens) && usage.prompt_tokens > 0, `prompt_tokens ${usage.prompt_tokens}`);
  assert.ok(isCount(usage.completion_tokens), `completion_tokens ${usage.completion_tokens}`);
  assert.ok(usage.completion_tokens <= maxCompletion, `completion_tokens ${usage.completion_tokens} > max_tokens ${maxCompletion}`);
  assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens, "total_tokens = prompt + completion");
}

const CHAT_REQUEST = {
  model: CHAT_MODEL,
  messages: [
    { role: "system", content: "You are a terse assistant." },
    { role: "user", content: "Say hello to the world." },
  ],
  temperature: 0,
  max_tokens: 16,
};

describe("models", () => {
  test("models.list() names the chat model by its file stem", { timeout: TEST_TIMEOUT_MS }, async () => {
    const ids = [];
    for await (const model of chat.models.list()) {
      assert.equal(model.object, "model");
      assert.equal(typeof model.id, "string");
      ids.push(model.id);
    }
    assert.ok(ids.includes(CHAT_MODEL), `models.list() gave ${JSON.stringify(ids)}`);
  });

  test("models.list() of the embedding worker names its model", { timeout: TEST_TIMEOUT_MS }, async () => {
    const page = await embed.models.list();
    const ids = page.data.map((model) => model.id);
    assert.ok(ids.includes(EMBED_MODEL), `models.list() gave ${JSON.stringify(ids)}`);
  });
});

describe("chat completions", () => {
  let plain; // the non-streamed completion of CHAT_REQUEST

  test("non-streaming", { timeout: TEST_TIMEOUT_MS }, async (t) => {
    plain = await chat.chat.completions.create(CHAT_REQUEST);
    t.diagnostic(`content ${JSON.stringify(plain.choices[0]?.message?.content)}, finish_reason ${plain.choices[0]?.finish_reason}, usage ${JSON.stringify(plain.usage)}`);
    assert.equal(plain.object, "chat.completion");
    assert.equal(typeof plain.id, "string");
    assert.ok(plain.id.length > 0);
    assert.equal(typeof plain.created, "number");
    assert.equal(plain.choices.length, 1);
    const [choice] = plain.choices;
    assert.equal(choice.index, 0);
    assert.equal(choice.message.role, "assistant");
    assert.equal(typeof choice.message.content, "string");
    assert.ok(["stop", "length"].includes(choice.finish_reason), `finish_reason ${choice.finish_reason}`);
    checkUsage(plain.usage, CHAT_REQUEST.max_tokens);
    if (choice.finish_reason === "length") assert.equal(plain.usage.completion_tokens, CHAT_REQUEST.max_tokens);
  });

  test("streaming matches non-streaming at temperature 0", { timeout: TEST_TIMEOUT_MS }, async (t) => {
    assert.ok(plain, "the non-streaming test must pass first");
    const stream = await chat.chat.completions.create({
      ...CHAT_REQUEST,
      stream: true,
      stream_options: { include_usage: true },
    });
    let content = "";
    let role = null;
    const finishReasons = [];
    const usageChunks = [];
    const ids = new Set();
    let chunks = 0;
    let chunksAfterUsage = 0;
    for await (const chunk of stream) {
      chunks += 1;
      if (usageChunks.length > 0) chunksAfterUsage += 1;
      assert.equal(chunk.object, "chat.completion.chunk");
      ids.add(chunk.id);
      if (chunk.usage) {
        usageChunks.push(chunk);
        assert.deepEqual(chunk.choices, [], "the usage chunk has an empty choices list");
        continue;
      }
      assert.equal(chunk.choices.length, 1, `chunk ${JSON.stringify(chunk)}`);
      const [choice] = chunk.choices;
      assert.equal(choice.index, 0);
      if (choice.delta?.role) role = choice.delta.role;
      if (typeof choice.delta?.content === "string") content += choice.delta.content;
      if (choice.finish_reason) finishReasons.push(choice.finish_reason);
    }
    t.diagnostic(`${chunks} chunks, content ${JSON.stringify(content)}, finish_reason ${finishReasons}`);
    assert.equal(ids.size, 1, `every chunk carries the same id, got ${[...ids]}`);
    assert.equal(role, "assistant");
    assert.equal(content, plain.choices[0].message.content, "streamed content = non-streamed content");
    assert.deepEqual(finishReasons, [plain.choices[0].finish_reason], "exactly one chunk has the finish_reason");
    assert.equal(usageChunks.length, 1, "one usage chunk");
    assert.equal(chunksAfterUsage, 0, "the usage chunk is the last one");
    const { usage } = usageChunks[0];
    checkUsage(usage, CHAT_REQUEST.max_tokens);
    assert.equal(usage.prompt_tokens, plain.usage.prompt_tokens);
    assert.equal(usage.completion_tokens, plain.usage.completion_tokens);
  });

  // At temperature 0 the random-weight fixture only repeats one token, so the check above
  // compares little; seeded sampling gives varied tokens (multi-byte UTF-8 among them).
  test("seeded sampling: streaming matches non-streaming", { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const request = { ...CHAT_REQUEST, temperature: 1, seed: 7 };
    const once = await chat.chat.completions.create(request);
    const again = await chat.chat.completions.create(request);
    const expected = once.choices[0].message.content;
    assert.equal(again.choices[0].message.content, expected, "the same seed gives the same completion");
    let streamed = "";
    let finish = null;
    for await (const chunk of await chat.chat.completions.create({ ...request, stream: true })) {
      assert.ok(!chunk.usage, "no usage chunk unless stream_options.include_usage");
      const [choice] = chunk.choices;
      if (typeof choice.delta?.content === "string") streamed += choice.delta.content;
      if (choice.finish_reason) finish = choice.finish_reason;
    }
    t.diagnostic(`content ${JSON.stringify(expected)}`);
    assert.equal(streamed, expected);
    assert.equal(finish, once.choices[0].finish_reason);
  });

  test("two requests at once (--parallel 2) both complete", { timeout: TEST_TIMEOUT_MS }, async () => {
    const answers = await Promise.all([
      chat.chat.completions.create({ ...CHAT_REQUEST, messages: [{ role: "user", content: "One" }] }),
      chat.chat.completions.create({ ...CHAT_REQUEST, messages: [{ role: "user", content: "Two" }] }),
    ]);
    for (const answer of answers) {
      assert.equal(answer.choices[0].message.role, "assistant");
      assert.equal(typeof answer.choices[0].message.content, "string");
      checkUsage(answer.usage, CHAT_REQUEST.max_tokens);
    }
    assert.notEqual(answers[0].id, answers[1].id);
  });

  test("json_schema response_format gives schema-valid JSON", { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const schema = {
      type: "object",
      properties: { name: { type: "string" } },
      required: ["name"],
      additionalProperties: false,
    };
    const completion = await chat.chat.completions.create({
      model: CHAT_MODEL,
      messages: [{ role: "user", content: "Give me a person as JSON." }],
      temperature: 0,
      max_tokens: 200,
      response_format: { type: "json_schema", json_schema: { name: "person", schema } },
    });
    const [choice] = completion.choices;
    const { content } = choice.message;
    t.diagnostic(`finish_reason ${choice.finish_reason}, content ${JSON.stringify(content)}`);
    assert.equal(typeof content, "string");
    checkUsage(completion.usage, 200);
    if (choice.finish_reason === "length") {
      // Cut off by max_tokens: only the opening of the object is checkable.
      t.diagnostic("output cut off by max_tokens: only checked that it opens a JSON object");
      assert.equal(completion.usage.completion_tokens, 200);
      assert.ok(content.trimStart().startsWith("{"), `content ${JSON.stringify(content)}`);
      return;
    }
    assert.equal(choice.finish_reason, "stop");
    let value;
    assert.doesNotThrow(() => { value = JSON.parse(content); }, `content is not JSON: ${JSON.stringify(content)}`);
    // The schema, checked by hand: an object whose only key is "name", a string.
    assert.equal(typeof value, "object");
    assert.ok(value !== null && !Array.isArray(value), `not an object: ${content}`);
    assert.deepEqual(Object.keys(value), ["name"], `keys of ${content}`);
    assert.equal(typeof value.name, "string");
  });

  test("an unknown model is an OpenAI-shaped 4xx error", { timeout: TEST_TIMEOUT_MS }, async (t) => {
    await assert.rejects(
      chat.chat.completions.create({ ...CHAT_REQUEST, model: "no-such-model" }),
      (error) => {
        t.diagnostic(`${error.constructor.name}: status ${error.status}, error ${JSON.stringify(error.error)}`);
        assert.ok(error instanceof OpenAI.APIError, `not an APIError: ${error}`);
        assert.ok(error.status >= 400 && error.status < 500, `status ${error.status}`);
        assert.equal(typeof error.error, "object");
        assert.ok(error.error !== null, "no error object in the body");
        assert.equal(typeof error.error.message, "string");
        assert.ok(error.error.message.length > 0);
        assert.equal(typeof error.error.type, "string");
        assert.ok(error.error.type.length > 0);
        return true;
      },
    );
  });
});

describe("embeddings", () => {
  const INPUT = ["hello world", "good night"];

  function checkVectors(response, label) {
    assert.equal(response.object, "list", label);
    assert.equal(response.data.length, INPUT.length, label);
    const dim = response.data[0].embedding.length;
    assert.ok(dim > 0, `${label}: empty embedding`);
    response.data.forEach((item, i) => {
      assert.equal(item.object, "embedding", label);
      assert.equal(item.index, i, label);
      assert.ok(Array.isArray(item.embedding), `${label}: embedding ${i} is not an array`);
      assert.equal(item.embedding.length, dim, `${label}: embedding ${i} has another length`);
      for (const x of item.embedding) assert.ok(typeof x === "number" && Number.isFinite(x), `${label}: ${x} in embedding ${i}`);
    });
    assert.ok(response.data[0].embedding.some((x, j) => x !== response.data[1].embedding[j]),
      `${label}: different inputs gave the same vector`);
    if (response.usage) {
      assert.ok(isCount(response.usage.prompt_tokens) && response.usage.prompt_tokens > 0, `${label}: usage ${JSON.stringify(response.usage)}`);
      assert.equal(response.usage.total_tokens, response.usage.prompt_tokens, `${label}: usage ${JSON.stringify(response.usage)}`);
    }
    return dim;
  }

  test("base64 (the SDK's default) and float agree", { timeout: TEST_TIMEOUT_MS }, async (t) => {
    // With no encoding_format the SDK asks for base64 and decodes it into floats itself.
    const decoded = await embed.embeddings.create({ model: EMBED_MODEL, input: INPUT });
    const floats = await embed.embeddings.create({ model: EMBED_MODEL, input: INPUT, encoding_format: "float" });
    const dim = checkVectors(decoded, "base64");
    assert.equal(checkVectors(floats, "float"), dim);
    t.diagnostic(`dimension ${dim}, usage ${JSON.stringify(floats.usage)}`);
    let worst = 0;
    for (let i = 0; i < INPUT.length; i++) {
      for (let j = 0; j < dim; j++) {
        worst = Math.max(worst, Math.abs(decoded.data[i].embedding[j] - floats.data[i].embedding[j]));
      }
    }
    t.diagnostic(`largest base64/float difference ${worst}`);
    assert.ok(worst <= 1e-6, `base64 and float embeddings differ by ${worst}`);
  });

  test("raw base64 decodes to little-endian float32 of the right length", { timeout: TEST_TIMEOUT_MS }, async () => {
    const raw = await embed.embeddings.create({ model: EMBED_MODEL, input: INPUT, encoding_format: "base64" });
    const floats = await embed.embeddings.create({ model: EMBED_MODEL, input: INPUT, encoding_format: "float" });
    raw.data.forEach((item, i) => {
      assert.equal(typeof item.embedding, "string", "base64 embedding is a string");
      const bytes = Buffer.from(item.embedding, "base64");
      assert.equal(bytes.toString("base64"), item.embedding, "canonical base64");
      assert.equal(bytes.length, 4 * floats.data[i].embedding.length);
      for (let j = 0; j < floats.data[i].embedding.length; j++) {
        assert.ok(Math.abs(bytes.readFloatLE(4 * j) - floats.data[i].embedding[j]) <= 1e-6, `element ${j} of embedding ${i}`);
      }
    });
  });
});
