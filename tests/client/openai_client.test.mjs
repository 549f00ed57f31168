// Drives real Hearth processes with the official OpenAI Node client: whatever this client sends
// and expects is what users of the SDK will hit. Every check runs twice: against `hearth worker`
// processes (one per model) and against one `hearth serve` gateway that holds both models, since
// the gateway promises the same API as the workers it proxies to.
//
// Environment:
//   HEARTH_BIN           path to the hearth binary
//   HEARTH_FIXTURES_DIR  folder holding tiny-qwen2-chat.gguf and tiny-bert-embed.gguf
//
// Run: node --test openai_client.test.mjs (ctest runs it as `openai_client`).

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import OpenAI from "openai";

const HEARTH_BIN = process.env.HEARTH_BIN;
const FIXTURES = process.env.HEARTH_FIXTURES_DIR;

const CHAT_MODEL = "tiny-qwen2-chat";
const EMBED_MODEL = "tiny-bert-embed";
const CHAT_MODEL_PATH = path.resolve(FIXTURES ?? "", `${CHAT_MODEL}.gguf`);
const EMBED_MODEL_PATH = path.resolve(FIXTURES ?? "", `${EMBED_MODEL}.gguf`);

const LISTEN_TIMEOUT_MS = 30_000; // until the "... listening on" line
const HEALTH_TIMEOUT_MS = 60_000; // until the health route answers 200
const WORKER_STOP_GRACE_MS = 3_000; // SIGTERM, then SIGKILL
// The gateway stops its workers before it exits (it gives them up to 5 s; they need far less).
const GATEWAY_STOP_GRACE_MS = 10_000;
const ORPHAN_TIMEOUT_MS = 3_000; // the gateway's workers must be gone this soon after it exits
const REQUEST_TIMEOUT_MS = 60_000; // each SDK request
const TEST_TIMEOUT_MS = 120_000; // each test
const START_TIMEOUT_MS = LISTEN_TIMEOUT_MS + HEALTH_TIMEOUT_MS + 10_000;
const STOP_TIMEOUT_MS = 2 * GATEWAY_STOP_GRACE_MS + ORPHAN_TIMEOUT_MS + 5_000;

const LOG_TAIL_CHARS = 4_000;
// What a gateway's /v1/models may report as meta.state of a local model.
const MODEL_STATES = ["unloaded", "loading", "loaded", "restarting", "unloading", "failed"];

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// The value of `promise`, or null if it takes longer than `ms`. The timer is cleared either way:
// a pending one would keep the runner alive after the last test.
async function within(promise, ms) {
  let timer;
  const expired = new Promise((resolve) => { timer = setTimeout(() => resolve(null), ms); });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

// Every process started here, so that a runner dying without reaching after() leaves none behind.
// The gateway's workers die with it (they ask the kernel for that).
const started = new Set();
process.on("exit", () => {
  for (const child of started) if (child.proc && !child.exited) child.proc.kill("SIGKILL");
});

// A running hearth process: its process, the port it picked and everything it logged so far.
class HearthProcess {
  // `listening` matches the log line that names the port; `healthPath` answers 200 once ready.
  constructor(name, args, { listening, healthPath, stopGraceMs }) {
    this.name = name;
    this.args = args;
    this.listening = listening;
    this.healthPath = healthPath;
    this.stopGraceMs = stopGraceMs;
    this.log = "";
    this.exited = null; // {code, signal} once it exits
    this.stopping = false; // true once we signalled it: an exit is expected from then on
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
    started.add(this);
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
        const match = this.port === null && this.listening.exec(this.log);
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
        () => reject(new Error(`${this.describe()} logged no line matching ${this.listening} in ${LISTEN_TIMEOUT_MS} ms:\n${this.logTail()}`)),
        LISTEN_TIMEOUT_MS,
      );
    });
    try {
      await Promise.race([listening, exitedEarly, timeout, spawnError]);
      assert.ok(this.port > 0 && this.port < 65536, `bad port ${this.port}`);
      this.baseURL = `http://127.0.0.1:${this.port}`;
      await this.waitHealthy();
    } catch (error) {
      await this.kill();
      throw error;
    } finally {
      clearTimeout(timer);
      exitedEarly.catch(() => {}); // it may still reject later, after stop(): not an error then
      spawnError.catch(() => {});
    }
  }

  async waitHealthy() {
    const deadline = Date.now() + HEALTH_TIMEOUT_MS;
    let last = "no answer yet";
    while (Date.now() < deadline) {
      if (this.exited) {
        throw new Error(`${this.describe()} exited (code ${this.exited.code}, signal ${this.exited.signal}) while loading:\n${this.logTail()}`);
      }
      try {
        const response = await fetch(`${this.baseURL}${this.healthPath}`, { signal: AbortSignal.timeout(2_000) });
        const body = await response.text();
        if (response.status === 200) return;
        last = `HTTP ${response.status} ${body}`;
      } catch (error) {
        last = String(error);
      }
      await sleep(100);
    }
    throw new Error(`${this.describe()}: GET ${this.healthPath} not 200 within ${HEALTH_TIMEOUT_MS} ms (last: ${last}):\n${this.logTail()}`);
  }

  // Pids of the live processes this one started.
  childPids() {
    if (!this.proc || this.exited) return [];
    const pids = [];
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      const stat = procStat(Number(entry));
      if (stat && stat.ppid === this.proc.pid && stat.state !== "Z") pids.push(Number(entry));
    }
    return pids;
  }

  // SIGTERM, then SIGKILL after the grace period. Returns a list of problems: empty when the
  // process had been running until now and exited 0 within the grace period.
  async stop() {
    if (!this.proc) return [];
    const problems = [];
    if (this.exited) {
      if (this.stopping) return problems; // killed by start() after it failed: reported there
      problems.push(`it had already exited (code ${this.exited.code}, signal ${this.exited.signal}) before it was stopped`);
      return problems;
    }
    this.stopping = true;
    this.proc.kill("SIGTERM");
    const graceful = await within(this.exitPromise, this.stopGraceMs);
    if (!graceful) {
      problems.push(`it did not exit within ${this.stopGraceMs} ms of SIGTERM`);
      await this.kill();
    } else if (graceful.code !== 0) {
      problems.push(`it exited with code ${graceful.code}, signal ${graceful.signal} after SIGTERM`);
    }
    return problems;
  }

  async kill() {
    if (!this.proc || this.exited) return;
    this.stopping = true;
    this.proc.kill("SIGKILL");
    await within(this.exitPromise, this.stopGraceMs);
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

// {ppid, state} of a process from /proc/PID/stat, or null once it is gone.
function procStat(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return { state: fields[0], ppid: Number(fields[1]) };
  } catch {
    return null;
  }
}

const isGone = (pid) => {
  const stat = procStat(pid);
  return stat === null || stat.state === "Z";
};

function workerProcess(name, args) {
  return new HearthProcess(name, ["worker", ...args, "--listen", "127.0.0.1:0"], {
    listening: /worker listening on http:\/\/127\.0\.0\.1:(\d+)/,
    healthPath: "/health",
    stopGraceMs: WORKER_STOP_GRACE_MS,
  });
}

// What the checks run against: an OpenAI client for the chat model and one for the embedding
// model (the same one for the gateway), set by start().
class WorkersTarget {
  constructor() {
    this.chatWorker = workerProcess("chat worker", ["--model", CHAT_MODEL_PATH, "--parallel", "2", "--context", "2048"]);
    this.embedWorker = workerProcess("embedding worker", ["--model", EMBED_MODEL_PATH]);
    this.processes = [this.chatWorker, this.embedWorker];
  }

  async start() {
    await Promise.all(this.processes.map((worker) => worker.start()));
    this.chat = this.chatWorker.client();
    this.embed = this.embedWorker.client();
  }

  async stop() {
    const problems = [];
    for (const [worker, found] of await Promise.all(this.processes.map(async (worker) => [worker, await worker.stop()]))) {
      for (const problem of found) problems.push(`${worker.describe()}: ${problem}`);
    }
    return problems;
  }

  // Each worker serves exactly one model, named after its file's stem.
  modelListings() {
    return [
      { client: this.chat, tasks: { [CHAT_MODEL]: "chat" } },
      { client: this.embed, tasks: { [EMBED_MODEL]: "embedding" } },
    ];
  }

  checkModelCard() {}
}

class GatewayTarget {
  constructor() {
    this.directory = null;
    this.gateway = null;
  }

  // JSON strings are YAML double-quoted scalars: paths need no further escaping.
  static configText() {
    const model = (name, task, file) => [
      `  - name: ${name}`,
      `    task: ${task}`,
      `    path: ${JSON.stringify(file)}`,
      "    context: 2048",
      "    parallel: 2",
      "    threads: 1",
    ];
    return [
      "models:",
      ...model(CHAT_MODEL, "chat", CHAT_MODEL_PATH),
      ...model(EMBED_MODEL, "embedding", EMBED_MODEL_PATH),
      "",
    ].join("\n");
  }

  async start() {
    this.directory = mkdtempSync(path.join(os.tmpdir(), "hearth-openai-client-"));
    const configPath = path.join(this.directory, "hearth.yaml");
    writeFileSync(configPath, GatewayTarget.configText());
    this.gateway = new HearthProcess("gateway", ["serve", "--config", configPath, "--listen", "127.0.0.1:0"], {
      listening: /gateway listening on http:\/\/127\.0\.0\.1:(\d+)/,
      healthPath: "/healthz",
      stopGraceMs: GATEWAY_STOP_GRACE_MS,
    });
    await this.gateway.start();
    this.chat = this.gateway.client();
    this.embed = this.chat;
  }

  async stop() {
    const problems = [];
    if (this.gateway) {
      const workers = this.gateway.childPids();
      for (const problem of await this.gateway.stop()) problems.push(`${this.gateway.describe()}: ${problem}`);
      // It stops its workers itself; none may outlive it.
      const deadline = Date.now() + ORPHAN_TIMEOUT_MS;
      while (workers.some((pid) => !isGone(pid)) && Date.now() < deadline) await sleep(50);
      const left = workers.filter((pid) => !isGone(pid));
      for (const pid of left) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // gone meanwhile
        }
      }
      if (left.length > 0) problems.push(`the gateway's workers ${left.join(", ")} outlived it by ${ORPHAN_TIMEOUT_MS} ms`);
    }
    if (this.directory) rmSync(this.directory, { recursive: true, force: true });
    return problems;
  }

  // The gateway lists every configured model, loaded or not.
  modelListings() {
    return [{ client: this.chat, tasks: { [CHAT_MODEL]: "chat", [EMBED_MODEL]: "embedding" } }];
  }

  checkModelCard(model) {
    assert.ok(MODEL_STATES.includes(model.meta.state), `meta.state of ${model.id}: ${JSON.stringify(model.meta.state)}`);
  }
}

// Starts the target before the suite's tests and stops it after them; a process that did not
// run until the end or did not stop cleanly fails the suite even if every assertion held.
function manage(target, processes) {
  before(async () => {
    assert.ok(HEARTH_BIN, "set HEARTH_BIN to the hearth binary");
    assert.ok(FIXTURES, "set HEARTH_FIXTURES_DIR to the fixtures folder");
    assert.ok(existsSync(HEARTH_BIN), `HEARTH_BIN ${HEARTH_BIN} does not exist`);
    for (const model of [CHAT_MODEL_PATH, EMBED_MODEL_PATH]) {
      assert.ok(existsSync(model), `fixture ${model} does not exist (build the "fixtures" target)`);
    }
    await target.start();
  }, { timeout: START_TIMEOUT_MS });

  after(async () => {
    const problems = await target.stop();
    if (problems.length > 0) {
      const logs = processes().map((child) => `--- ${child.describe()}:\n${child.logTail()}`).join("\n");
      assert.fail(`${problems.join("\n")}\n${logs}`);
    }
  }, { timeout: STOP_TIMEOUT_MS });
}

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

const EMBED_INPUT = ["hello world", "good night"];

// The checks every target must pass, defined once.
function defineChecks(target) {
  describe("models", () => {
    test("models.list() lists the served models with their tasks", { timeout: TEST_TIMEOUT_MS }, async (t) => {
      for (const { client, tasks } of target.modelListings()) {
        const found = {};
        for await (const model of client.models.list()) {
          assert.equal(model.object, "model");
          assert.equal(typeof model.id, "string");
          assert.equal(typeof model.meta, "object", `meta of ${JSON.stringify(model)}`);
          assert.ok(!(model.id in found), `${model.id} listed twice`);
          found[model.id] = model.meta.task;
          target.checkModelCard(model);
        }
        t.diagnostic(`models.list() of ${client.baseURL}: ${JSON.stringify(found)}`);
        assert.deepEqual(found, tasks);
      }
    });
  });

  describe("chat completions", () => {
    let plain; // the non-streamed completion of CHAT_REQUEST

    test("non-streaming", { timeout: TEST_TIMEOUT_MS }, async (t) => {
      plain = await target.chat.chat.completions.create(CHAT_REQUEST);
      t.diagnostic(`content ${JSON.stringify(plain.choices[0]?.message?.content)}, finish_reason ${plain.choices[0]?.finish_reason}, usage ${JSON.stringify(plain.usage)}`);
      assert.equal(plain.object, "chat.completion");
      assert.equal(typeof plain.id, "string");
      assert.ok(plain.id.length > 0);
      assert.equal(typeof plain.created, "number");
      assert.equal(plain.model, CHAT_MODEL);
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
      const stream = await target.chat.chat.completions.create({
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
      const once = await target.chat.chat.completions.create(request);
      const again = await target.chat.chat.completions.create(request);
      const expected = once.choices[0].message.content;
      assert.equal(again.choices[0].message.content, expected, "the same seed gives the same completion");
      let streamed = "";
      let finish = null;
      for await (const chunk of await target.chat.chat.completions.create({ ...request, stream: true })) {
        assert.ok(!chunk.usage, "no usage chunk unless stream_options.include_usage");
        const [choice] = chunk.choices;
        if (typeof choice.delta?.content === "string") streamed += choice.delta.content;
        if (choice.finish_reason) finish = choice.finish_reason;
      }
      t.diagnostic(`content ${JSON.stringify(expected)}`);
      assert.equal(streamed, expected);
      assert.equal(finish, once.choices[0].finish_reason);
    });

    test("two requests at once (parallel 2) both complete", { timeout: TEST_TIMEOUT_MS }, async () => {
      const answers = await Promise.all([
        target.chat.chat.completions.create({ ...CHAT_REQUEST, messages: [{ role: "user", content: "One" }] }),
        target.chat.chat.completions.create({ ...CHAT_REQUEST, messages: [{ role: "user", content: "Two" }] }),
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
      const completion = await target.chat.chat.completions.create({
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
        target.chat.chat.completions.create({ ...CHAT_REQUEST, model: "no-such-model" }),
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
    function checkVectors(response, label) {
      assert.equal(response.object, "list", label);
      assert.equal(response.data.length, EMBED_INPUT.length, label);
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
      const decoded = await target.embed.embeddings.create({ model: EMBED_MODEL, input: EMBED_INPUT });
      const floats = await target.embed.embeddings.create({ model: EMBED_MODEL, input: EMBED_INPUT, encoding_format: "float" });
      const dim = checkVectors(decoded, "base64");
      assert.equal(checkVectors(floats, "float"), dim);
      t.diagnostic(`dimension ${dim}, usage ${JSON.stringify(floats.usage)}`);
      let worst = 0;
      for (let i = 0; i < EMBED_INPUT.length; i++) {
        for (let j = 0; j < dim; j++) {
          worst = Math.max(worst, Math.abs(decoded.data[i].embedding[j] - floats.data[i].embedding[j]));
        }
      }
      t.diagnostic(`largest base64/float difference ${worst}`);
      assert.ok(worst <= 1e-6, `base64 and float embeddings differ by ${worst}`);
    });

    test("raw base64 decodes to little-endian float32 of the right length", { timeout: TEST_TIMEOUT_MS }, async () => {
      const raw = await target.embed.embeddings.create({ model: EMBED_MODEL, input: EMBED_INPUT, encoding_format: "base64" });
      const floats = await target.embed.embeddings.create({ model: EMBED_MODEL, input: EMBED_INPUT, encoding_format: "float" });
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
}

// The gateway's own promise on top of the workers' API: every proxied answer says which model
// and backend served it and what the gateway itself cost.
function checkGatewayHeaders(headers, model) {
  const named = headers.get("x-hearth-model");
  const backend = headers.get("x-hearth-backend");
  const overhead = headers.get("x-hearth-overhead-ms");
  assert.equal(named, model, "x-hearth-model");
  assert.equal(typeof backend, "string", "x-hearth-backend is missing");
  assert.ok(backend.length > 0, "x-hearth-backend is empty");
  assert.equal(typeof overhead, "string", "x-hearth-overhead-ms is missing");
  assert.ok(Number.isFinite(Number(overhead)) && Number(overhead) >= 0, `x-hearth-overhead-ms ${JSON.stringify(overhead)}`);
  return `x-hearth-model ${named}, x-hearth-backend ${backend}, x-hearth-overhead-ms ${overhead}`;
}

describe("hearth worker", () => {
  const target = new WorkersTarget();
  manage(target, () => target.processes);
  defineChecks(target);
});

describe("hearth serve (gateway)", () => {
  const target = new GatewayTarget();
  manage(target, () => (target.gateway ? [target.gateway] : []));
  defineChecks(target);

  describe("x-hearth-* headers", () => {
    test("on a chat completion (.withResponse())", { timeout: TEST_TIMEOUT_MS }, async (t) => {
      const { data, response } = await target.chat.chat.completions.create(CHAT_REQUEST).withResponse();
      assert.equal(data.object, "chat.completion");
      assert.equal(response.status, 200);
      t.diagnostic(checkGatewayHeaders(response.headers, CHAT_MODEL));
    });

    test("on a streamed chat completion (.withResponse())", { timeout: TEST_TIMEOUT_MS }, async (t) => {
      const { data: stream, response } = await target.chat.chat.completions
        .create({ ...CHAT_REQUEST, stream: true })
        .withResponse();
      t.diagnostic(checkGatewayHeaders(response.headers, CHAT_MODEL));
      let finishes = 0;
      for await (const chunk of stream) if (chunk.choices[0]?.finish_reason) finishes += 1;
      assert.equal(finishes, 1);
    });

    test("on embeddings (.asResponse())", { timeout: TEST_TIMEOUT_MS }, async (t) => {
      const response = await target.embed.embeddings
        .create({ model: EMBED_MODEL, input: EMBED_INPUT, encoding_format: "float" })
        .asResponse();
      assert.equal(response.status, 200);
      t.diagnostic(checkGatewayHeaders(response.headers, EMBED_MODEL));
      const body = await response.json();
      assert.equal(body.data.length, EMBED_INPUT.length);
    });
  });
});
