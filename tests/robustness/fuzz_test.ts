import assert from "node:assert/strict";
import { isValidEventType, validateMessage } from "../../protocol/mod.ts";
import { RawClient, rawFrame, writeAll } from "../_helpers.ts";
import {
  assertExchange,
  counters,
  listDir,
  type Obj,
  Prng,
  type Running,
  runSeed,
  startDaemon,
  until,
} from "./_fixture.ts";

/** The daemon's default max_message_size. */
const LIMIT = 1024 * 1024;
/** Deepest nesting the daemon accepts in a routed message (daemon.ts MAX_NESTING_DEPTH). */
const MAX_DEPTH = 512;
const utf8 = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();
/** The socket dir of the daemon under test, for the oracle's path-length rule. */
let oracleDir = "";

// ---------------------------------------------------------------- the oracle

/** What the daemon must do with one frame body on command.sock, decided independently. */
function classify(body: Uint8Array, known: Set<string>): string {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    return "invalid_utf8";
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return "invalid_json";
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "not_object";
  const checked = validateMessage(value);
  if (!checked.ok) return "invalid_envelope";
  if (!isValidEventType(checked.message.event_type)) return "invalid_event_type";
  if (depthOf(text) > MAX_DEPTH) return "too_deep";
  const type = checked.message.event_type;
  if (!known.has(type) && encoder.encode(`${oracleDir}/${type}_events.sock`).byteLength > 107) {
    return "cannot_create_socket"; // longer than a Unix socket path can be
  }
  known.add(checked.message.event_type);
  // The daemon adds at least `,"seq":1`; a frame may not exceed the limit on the way out either.
  if (body.byteLength + ',"seq":1'.length > LIMIT) return "routed_oversized";
  return "routed";
}

/** Nesting depth of valid JSON text, by a scan that skips strings. */
function depthOf(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "{" || c === "[") max = Math.max(max, ++depth);
    else if (c === "}" || c === "]") depth--;
  }
  return max;
}

/** Expected counter movements of a batch. */
class Expected {
  bad = new Map<string, number>();
  messagesIn = 0;
  routed = 0;
  rejected = 0;
  add(reason: string): void {
    if (reason === "routed") {
      this.routed++;
      return;
    }
    if (reason === "invalid_event_type" || reason === "cannot_create_socket") this.rejected++;
    this.bad.set(reason, (this.bad.get(reason) ?? 0) + 1);
  }
  /** A body that reaches the router. */
  body(body: Uint8Array, known: Set<string>): void {
    this.messagesIn++;
    this.add(classify(body, known));
  }
  /**
   * A whole connection's bytes, then EOF: walks the frames as the daemon's
   * decoder must (length 0 and over the limit close, EOF inside a frame is
   * truncated).
   */
  stream(bytes: Uint8Array, known: Set<string>, prefix = ""): void {
    let off = 0;
    while (off < bytes.byteLength) {
      if (bytes.byteLength - off < 4) return this.add(`${prefix}frame_truncated`);
      const len = new DataView(bytes.buffer, bytes.byteOffset + off).getUint32(0);
      off += 4;
      if (len === 0) return this.add(`${prefix}frame_empty`);
      if (len > LIMIT) return this.add(`${prefix}frame_oversized`);
      if (bytes.byteLength - off < len) return this.add(`${prefix}frame_truncated`);
      this.body(bytes.subarray(off, off + len), known);
      off += len;
    }
  }
}

function delta(before: Obj, after: Obj): Map<string, number> {
  const b = before.bad_frames as Record<string, number>;
  const a = after.bad_frames as Record<string, number>;
  const out = new Map<string, number>();
  for (const [k, v] of Object.entries(a)) if (v - (b[k] ?? 0) !== 0) out.set(k, v - (b[k] ?? 0));
  return out;
}

function sorted(m: Map<string, number>): [string, number][] {
  return [...m].sort(([a], [b]) => a.localeCompare(b));
}

/** Sends each stream on its own connection, closes it, and waits for the daemon to finish them all. */
async function sendStreams(d: Running, path: string, streams: Uint8Array[]): Promise<void> {
  await Promise.all(streams.map(async (bytes) => {
    using c = await RawClient.connect(path);
    try {
      await writeAll(c.conn, bytes);
    } catch {
      // The daemon may close first (length 0, over the limit): that is the point.
    }
  }));
  await until(async () => {
    const c = await counters(d.sock("query.sock"));
    return c.publishers_connected === 0;
  }, "publisher connections to close");
}

/** Checks the counters moved exactly as expected, polling until the daemon has caught up. */
async function assertCounted(
  d: Running,
  before: Obj,
  want: Expected,
  batch: string,
): Promise<void> {
  let after: Obj = {};
  try {
    await until(async () => {
      after = await counters(d.sock("query.sock"));
      return (after.messages_in as number) - (before.messages_in as number) >= want.messagesIn &&
        JSON.stringify(sorted(delta(before, after))) === JSON.stringify(sorted(want.bad));
    }, `counters of batch '${batch}'`);
  } catch {
    // Fall through: the assertions below say what differs.
  }
  assert.deepEqual(sorted(delta(before, after)), sorted(want.bad), `bad_frames of '${batch}'`);
  assert.equal(
    (after.messages_in as number) - (before.messages_in as number),
    want.messagesIn,
    `messages_in of '${batch}'`,
  );
  assert.equal(
    (after.messages_routed as number) - (before.messages_routed as number),
    want.routed,
    `messages_routed of '${batch}'`,
  );
  assert.equal(
    (after.rejected_event_types as number) - (before.rejected_event_types as number),
    want.rejected,
    `rejected_event_types of '${batch}'`,
  );
}

const SOCKET_NAME =
  /^(command\.sock|query\.sock|events\.sock|daemon\.lock|[A-Za-z0-9][A-Za-z0-9_.-]{0,63}_events\.sock)$/;

/** Nothing outside the socket dir; nothing in it but sockets of valid types and the lock. */
async function assertContained(d: Running): Promise<void> {
  assert.deepEqual(await listDir(d.root), ["sockets"], "files created outside the socket dir");
  for (const name of await listDir(d.dir)) {
    assert.match(name, SOCKET_NAME, `unexpected file in the socket dir: ${JSON.stringify(name)}`);
    const info = await Deno.lstat(`${d.dir}/${name}`);
    assert.ok(name === "daemon.lock" ? info.isFile : info.isSocket, name);
  }
  for (const outside of ["/tmp/evil_events.sock", "/evil_events.sock", "/tmp/x_events.sock"]) {
    assert.equal(await Deno.lstat(outside).catch(() => null), null, `${outside} was created`);
  }
}

// ---------------------------------------------------------------- generators

const ISO = "2026-01-02T03:04:05.000Z";

function msg(eventType: unknown, payload: Obj = { type: "custom", n: 1 }, extra: Obj = {}): Obj {
  return {
    message_id: crypto.randomUUID(),
    timestamp: ISO,
    event_type: eventType,
    payload,
    ...extra,
  };
}

function json(value: unknown): Uint8Array {
  return encoder.encode(typeof value === "string" ? value : JSON.stringify(value));
}

/** A valid message whose body is exactly `size` bytes. */
function messageOfSize(size: number): Uint8Array {
  const base = JSON.stringify(msg("fuzz", { type: "custom", pad: "" }));
  const pad = "x".repeat(size - encoder.encode(base).byteLength);
  const body = json(base.replace('"pad":""', `"pad":"${pad}"`));
  assert.equal(body.byteLength, size);
  return body;
}

const DEEP = 100_000;
const deepArray = "[".repeat(DEEP) + "]".repeat(DEEP);

/** The named edge cases of the issue: bodies that keep the connection open. */
function edgeBodies(): Uint8Array[] {
  const bodies: Uint8Array[] = [
    // length 1
    json("x"),
    json("7"),
    // invalid UTF-8, inside an otherwise valid message and alone
    new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]),
    Uint8Array.from([
      ...json(`{"event_type":"fuzz","payload":{"type":"t","s":"`),
      0xc3,
      0x28,
      ...json(`"}}`),
    ]),
    Uint8Array.from([
      ...json(`{"event_type":"fuzz","payload":{"type":"t","s":"`),
      0xed,
      0xa0,
      0x80,
      ...json(`"}}`),
    ]),
    // JSON that is not an object
    json("null"),
    json("true"),
    json('"a string"'),
    json("[1,2,3]"),
    json("1e400"),
    // nesting 100k deep: at top level and inside a valid envelope
    json(deepArray),
    json(`{"event_type":"fuzz","payload":{"type":"t","deep":${deepArray}}}`),
    json(
      `{"message_id":"deep","timestamp":"${ISO}","event_type":"fuzz","payload":{"type":"t","deep":${deepArray}}}`,
    ),
    // just within the depth limit: routed
    json(
      msg("fuzz", {
        type: "t",
        deep: JSON.parse("[".repeat(MAX_DEPTH - 2) + "]".repeat(MAX_DEPTH - 2)),
      }),
    ),
    // large arrays within the limit
    json(msg("fuzz", { type: "t", list: Array.from({ length: 100_000 }, (_, i) => i % 10) })),
    json(msg("fuzz", { type: "t", list: Array.from({ length: 40_000 }, () => ({})) })),
    // __proto__ and constructor keys
    json(`{"__proto__":{"event_type":"fuzz","payload":{"type":"t"}}}`),
    json(
      `{"event_type":"fuzz","payload":{"type":"t","__proto__":{"polluted":1}},"__proto__":{"polluted":1}}`,
    ),
    json(`{"event_type":"fuzz","payload":{"__proto__":{"type":"t"}}}`),
    json(
      `{"event_type":"fuzz","payload":{"type":"state_update","state_key":"__proto__","state_value":{"polluted":1}}}`,
    ),
    json(msg("fuzz", { type: "state_update", state_key: "constructor", state_value: { c: 1 } })),
    json(
      msg("fuzz", { type: "operation_started", operation_id: "__proto__", operation_name: "p" }),
    ),
    json(
      msg("fuzz", { type: "operation_started", operation_id: "constructor", operation_name: "c" }),
    ),
    json(
      msg("constructor", { type: "state_update", state_key: "toString", state_value: { t: 1 } }),
    ),
    json(msg("fuzz", { type: "t" }, { constructor: { prototype: { polluted: 1 } } })),
    // wrong types of envelope fields
    json(msg(42)),
    json(msg(null)),
    json(msg("fuzz", "payload" as unknown as Obj)),
    json(msg("fuzz", { type: 5 })),
    json(msg("fuzz", { type: "t" }, { timestamp: "yesterday" })),
    json(msg("fuzz", { type: "t" }, { message_id: "" })),
    json(msg("fuzz", { type: "t" }, { seq: -1 })),
    json(msg("fuzz", { type: "t" }, { seq: 99 })),
  ];
  // event_type values that must never become a path
  for (
    const eventType of [
      "a/b",
      "../x",
      "..",
      ".",
      "/tmp/evil",
      "../../../../../tmp/evil",
      "x\u0000y",
      "\u0000",
      "a".repeat(1000),
      "a".repeat(65),
      "wallpäper",
      "日本語",
      "emoji😀",
      "-lead",
      "_lead",
      "sp ace",
      "tab\t",
      "new\nline",
      "back\\slash",
      "",
    ]
  ) bodies.push(json(msg(eventType)));
  // valid edge event types
  bodies.push(json(msg("a".repeat(64))), json(msg("A.b-c_9")));
  return bodies;
}

/** Random bodies: random bytes, printable noise, and valid messages with bytes flipped. */
function randomBodies(rng: Prng, n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  const template = json(
    msg("fuzz", { type: "state_update", state_key: "k", state_value: { v: [1, "two", null] } }),
  );
  for (let i = 0; i < n; i++) {
    switch (rng.int(3)) {
      case 0:
        out.push(rng.bytes(1 + rng.int(200)));
        break;
      case 1: {
        const alphabet = '{}[]":,0123456789aeflnrstu \\';
        out.push(
          json(Array.from({ length: 1 + rng.int(60) }, () => rng.pick([...alphabet])).join("")),
        );
        break;
      }
      default: {
        const body = template.slice();
        for (let k = 1 + rng.int(3); k > 0; k--) body[rng.int(body.length)] = rng.int(256);
        out.push(body);
      }
    }
  }
  return out;
}

/** Streams that end a connection: length 0, over the limit, 2^32-1, truncated, random garbage. */
function closingStreams(rng: Prng, n: number): Uint8Array[] {
  const header = (len: number) => {
    const h = new Uint8Array(4);
    new DataView(h.buffer).setUint32(0, len);
    return h;
  };
  const out = [
    header(0),
    Uint8Array.from([...header(LIMIT + 1), ...rng.bytes(1000)]),
    Uint8Array.from([...header(0xffffffff), ...rng.bytes(100)]),
    Uint8Array.from([...rawFrame(JSON.stringify(msg("fuzz"))), ...header(0)]),
    new Uint8Array([0, 0]),
    new Uint8Array([0, 0, 1]),
    Uint8Array.from([...header(100), ...json('{"event_type":')]),
    rawFrame(JSON.stringify(msg("fuzz"))).slice(0, -1),
  ];
  for (let i = 0; i < n; i++) out.push(rng.bytes(1 + rng.int(64)));
  // Random headers with small lengths, so that some frames complete.
  for (let i = 0; i < n; i++) {
    out.push(Uint8Array.from([...header(rng.int(40)), ...rng.bytes(rng.int(60))]));
  }
  return out;
}

// ---------------------------------------------------------------- tests

Deno.test("command.sock survives fuzzed frames, counts every bad one and routes the rest", async () => {
  const rng = new Prng(runSeed("command.sock fuzz"));
  await using d = await startDaemon({ eventTypes: ["fuzz", "health"] });
  oracleDir = d.dir;
  const known = new Set(["fuzz", "health"]);
  await assertExchange(d, "health");

  const batches: [string, Uint8Array[]][] = [
    ["edge cases", edgeBodies()],
    ["limit-sized message", [messageOfSize(LIMIT), messageOfSize(LIMIT - 64)]],
    ["random bodies", randomBodies(rng, 300)],
  ];
  for (const [name, bodies] of batches) {
    const before = await counters(d.sock("query.sock"));
    const want = new Expected();
    for (const body of bodies) want.body(body, known);
    // All on one connection: bad bodies never close it.
    const stream = Uint8Array.from(bodies.flatMap((b) => [...rawFrame(b)]));
    await sendStreams(d, d.sock("command.sock"), [stream]);
    await assertCounted(d, before, want, name);
    await assertExchange(d, "health");
  }

  const before = await counters(d.sock("query.sock"));
  const want = new Expected();
  const streams = closingStreams(rng, 30);
  for (const s of streams) want.stream(s, known);
  await sendStreams(d, d.sock("command.sock"), streams);
  await assertCounted(d, before, want, "closing streams");
  await assertExchange(d, "health");

  // Prototype keys neither polluted this process nor lost state.
  assert.equal(({} as Obj).polluted, undefined);
  using q = await RawClient.connect(d.sock("query.sock"));
  const state = ((await q.query("get_current_state", "fuzz")).payload as Obj).result as Obj;
  const keys = Object.keys(state.state as Obj);
  assert.ok(keys.includes("constructor"), `state keys ${keys}`);
  assert.ok(keys.includes("__proto__"), `state key __proto__ lost: ${keys}`);
  const ops = ((await q.query("get_operation_status", "fuzz")).payload as Obj).result as Obj;
  const ids = (ops.operations as Obj[]).map((o) => o.operation_id);
  assert.ok(ids.includes("__proto__") && ids.includes("constructor"), `operations ${ids}`);
  // The fuzz sends bodies near the limit, so the answer may be over
  // max_message_size: then it says so, on a connection that stays open.
  for (const limit of [1000, 10]) {
    const history = await q.query("get_event_history", "fuzz", { limit });
    const error = (history.payload as Obj).error;
    assert.ok(error === undefined || /max_message_size/.test(String(error)), String(error));
  }
  await assertContained(d);
});

Deno.test("query.sock answers every fuzzed request frame, counts the bad ones and keeps serving", async () => {
  const rng = new Prng(runSeed("query.sock fuzz"));
  await using d = await startDaemon({ eventTypes: ["fuzz", "health"] });
  const query = (eventType: unknown, queryType: unknown, parameters: unknown = {}) =>
    json(msg(eventType, { type: "query_request", query_type: queryType, parameters }));
  const requests: Uint8Array[] = [
    ...edgeBodies(),
    ...randomBodies(rng, 200),
    query("fuzz", "get_current_state"),
    query("*", "get_current_state", { state_key: "__proto__" }),
    query("fuzz", "get_event_history", { after_seq: -5, limit: 1e12 }),
    query("fuzz", "get_event_history", { limit: "many" }),
    query("fuzz", "get_operation_status", { operation_id: "constructor" }),
    query("daemon", "list_event_types", { __proto__: null }),
    json(
      `{"event_type":"fuzz","payload":{"type":"query_request","query_type":"get_current_state","parameters":{"__proto__":{"state_key":"x"}}}}`,
    ),
    query("../x", "get_current_state"),
    query("x\u0000y", "get_event_history"),
    query("a".repeat(1000), "get_current_state"),
    query("日本語", "get_operation_status"),
    query("fuzz", "no_such_query"),
    query("fuzz", "__proto__"),
    query("fuzz", "constructor"),
    query("fuzz", "toString"),
    query("fuzz", 42),
    query("fuzz", "get_current_state", [1, 2]),
    messageOfSize(LIMIT),
  ];
  const before = await counters(d.sock("query.sock"));
  const want = new Map<string, number>();
  for (const body of requests) {
    const reason = classify(body, new Set());
    if (["invalid_utf8", "invalid_json", "not_object", "invalid_envelope"].includes(reason)) {
      want.set(`query_${reason}`, (want.get(`query_${reason}`) ?? 0) + 1);
    }
  }
  using q = await RawClient.connect(d.sock("query.sock"));
  const sending = writeAll(q.conn, Uint8Array.from(requests.flatMap((b) => [...rawFrame(b)])));
  let errors = 0;
  for (let i = 0; i < requests.length; i++) {
    const r = await q.read(10000);
    assert.ok(r !== null, `no response to request ${i}`);
    const payload = r.payload as Obj;
    assert.equal(payload.type, "query_response");
    assert.equal(typeof payload.query_id, "string");
    assert.equal(typeof r.event_type, "string");
    assert.ok((r.event_type as string).length <= 256);
    assert.equal(typeof payload.result, "object");
    if (payload.error !== undefined) errors++;
  }
  await sending;
  const after = await counters(d.sock("query.sock"));
  assert.deepEqual(sorted(delta(before, after)), sorted(want));
  assert.equal((after.queries as number) - (before.queries as number), requests.length + 1);
  assert.equal((after.query_errors as number) - (before.query_errors as number), errors);

  // Frames that end a query connection: counted as query_frame_*, the daemon carries on.
  const streams = closingStreams(rng, 20);
  const before2 = await counters(d.sock("query.sock"));
  const want2 = new Expected();
  for (const s of streams) want2.stream(s, new Set(), "query_");
  await Promise.all(streams.map(async (bytes) => {
    using c = await RawClient.connect(d.sock("query.sock"));
    try {
      await writeAll(c.conn, bytes);
      await c.conn.closeWrite();
    } catch {
      // closed by the daemon first
    }
    // Read responses to complete frames until the daemon closes.
    assert.ok(await c.closedByPeer(5000), "daemon kept a broken query connection open");
  }));
  await until(async () => {
    const c = await counters(d.sock("query.sock"));
    return c.query_clients_connected === 2; // `q` and this one
  }, "query connections to close");
  const after2 = await counters(d.sock("query.sock"));
  const frameReasons = new Map(
    [...delta(before2, after2)].filter(([k]) => k.startsWith("query_frame_")),
  );
  const wantFrames = new Map([...want2.bad].filter(([k]) => k.startsWith("query_frame_")));
  assert.deepEqual(sorted(frameReasons), sorted(wantFrames));
  await assertExchange(d, "health");
  await assertContained(d);
});
