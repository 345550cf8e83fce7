/**
 * The NATS side of the bridge, on the official clients: core NATS subjects
 * `dotfiles.<host>.<event_type>` with a `Nats-Msg-Id` header, and, when the
 * server has JetStream, the `DOTFILES` stream (deduplicated by that header)
 * and the `dotfiles-state` KV bucket.
 *
 * @module
 */

import {
  AuthorizationError,
  connect,
  credsAuthenticator,
  headers,
  type NatsConnection,
  usernamePasswordAuthenticator,
} from "@nats-io/transport-node";
import {
  DeliverPolicy,
  jetstream,
  type JetStreamClient,
  jetstreamManager,
  type JsMsg,
} from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import type { Message } from "../protocol/mod.ts";
import {
  KV_BUCKET,
  kvKey,
  natsSubject,
  parseNatsSubject,
  STREAM_NAME,
  STREAM_SUBJECTS,
} from "./naming.ts";
import {
  BrokerError,
  type BrokerLink,
  errorText,
  type Incoming,
  type LinkConfig,
  permissionError,
} from "./_link.ts";
import type { BrokerUrl } from "./broker_url.ts";

const encoder = new TextEncoder();
const SEVEN_DAYS_NS = 7 * 24 * 3600 * 1e9;
const TWO_MINUTES_NS = 120 * 1e9;

function classify(err: unknown, brokerUrl: BrokerUrl): BrokerError {
  if (err instanceof BrokerError) return err;
  const denied = permissionError(err, brokerUrl);
  if (denied !== null) return denied;
  const url = brokerUrl.href;
  const text = errorText(err);
  const cause = (err as { cause?: unknown })?.cause;
  const detail = cause instanceof Error && !text.includes(cause.message)
    ? `${text} (${cause.message})`
    : text;
  if (err instanceof AuthorizationError || /authori[sz]ation|authentication/i.test(text)) {
    return new BrokerError(
      "auth",
      `Cannot log in to ${url}: ${detail}; check NATS_USER/NATS_PASSWORD or NATS_CREDS`,
      { cause: err },
    );
  }
  return new BrokerError("unreachable", `Cannot connect to ${url}: ${detail}`, { cause: err });
}

/** Opens a NATS link; with JetStream when the server has it. */
export async function openNatsLink(config: LinkConfig): Promise<BrokerLink> {
  const { url, env } = config;
  const auth: Parameters<typeof connect>[0] = {};
  const creds = env("NATS_CREDS");
  const user = env("NATS_USER");
  if (creds !== undefined && creds !== "") {
    let bytes: Uint8Array;
    try {
      bytes = await config.readFile(creds);
    } catch (err) {
      throw new BrokerError(
        "auth",
        `Cannot read NATS_CREDS file '${creds}': ${errorText(err)}`,
        { cause: err },
      );
    }
    auth.authenticator = credsAuthenticator(bytes);
  } else if (user !== undefined && user !== "") {
    auth.authenticator = usernamePasswordAuthenticator(user, env("NATS_PASSWORD") ?? "");
  }
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: url.href,
      ...auth,
      ...(url.scheme === "tls" ? { tls: {} } : {}),
      reconnect: false,
      // Node's resolver would ask for net permission on the bare host name;
      // the socket connect resolves under the HOST:PORT permission instead.
      resolve: false,
      timeout: config.connectTimeout,
      name: `dotfiles-bridge-${config.host}`,
    });
  } catch (err) {
    throw classify(err, url);
  }
  if (config.signal.aborted) {
    await nc.close().catch(() => {});
    throw new BrokerError("unreachable", "Aborted");
  }
  try {
    return await NatsLink.open(nc, config);
  } catch (err) {
    await nc.close().catch(() => {});
    throw classify(err, url);
  }
}

class NatsLink implements BrokerLink {
  readonly description: string;
  readonly closed: Promise<Error | undefined>;
  #nc: NatsConnection;
  #js: JetStreamClient | null;
  #kv: KV | null;
  #config: LinkConfig;

  private constructor(
    nc: NatsConnection,
    js: JetStreamClient | null,
    kv: KV | null,
    config: LinkConfig,
  ) {
    this.#nc = nc;
    this.#js = js;
    this.#kv = kv;
    this.#config = config;
    this.description = js === null
      ? "NATS (no JetStream: no replay, no KV)"
      : `NATS with JetStream (stream ${STREAM_NAME}, KV ${KV_BUCKET})`;
    this.closed = nc.closed().then((err) => err === undefined ? undefined : err);
  }

  static async open(nc: NatsConnection, config: LinkConfig): Promise<NatsLink> {
    const { log } = config;
    if (nc.info?.jetstream !== true) {
      log.once("nats-no-js", `NATS server at ${config.url.href} has no JetStream: core NATS only`);
      return new NatsLink(nc, null, null, config);
    }
    const jsm = await jetstreamManager(nc, { timeout: config.connectTimeout });
    try {
      await jsm.streams.info(STREAM_NAME);
    } catch {
      try {
        await jsm.streams.add({
          name: STREAM_NAME,
          subjects: [STREAM_SUBJECTS],
          duplicate_window: TWO_MINUTES_NS,
          max_age: SEVEN_DAYS_NS,
        });
        log.info(`Created JetStream stream ${STREAM_NAME} on '${STREAM_SUBJECTS}' (7 days)`);
      } catch (err) {
        log.once(
          "nats-stream",
          `Cannot create JetStream stream ${STREAM_NAME}: ${errorText(err)}; using core NATS`,
        );
        return new NatsLink(nc, null, null, config);
      }
    }
    const js = jetstream(nc, { timeout: config.connectTimeout });
    let kv: KV | null = null;
    try {
      kv = await new Kvm(js).create(KV_BUCKET, { history: 1 });
    } catch (err) {
      log.once("nats-kv", `Cannot open KV bucket ${KV_BUCKET}: ${errorText(err)}; state not kept`);
    }
    return new NatsLink(nc, js, kv, config);
  }

  async publish(batch: readonly Message[]): Promise<void> {
    const host = this.#config.host;
    const js = this.#js;
    const pending: Promise<unknown>[] = [];
    for (const message of batch) {
      const subject = natsSubject(host, message.event_type);
      const body = encoder.encode(JSON.stringify(message));
      if (js !== null) {
        pending.push(js.publish(subject, body, { msgID: message.message_id }));
      } else {
        const h = headers();
        h.set("Nats-Msg-Id", message.message_id);
        this.#nc.publish(subject, body, { headers: h });
      }
      const kv = this.#kv;
      const payload = message.payload as {
        type?: unknown;
        state_key?: unknown;
        state_value?: unknown;
      };
      if (kv !== null && payload.type === "state_update" && typeof payload.state_key === "string") {
        const key = kvKey(host, message.event_type, payload.state_key);
        pending.push(kv.put(key, encoder.encode(JSON.stringify(payload.state_value ?? null))));
      }
    }
    if (pending.length > 0) await Promise.all(pending);
    if (js === null) await this.#nc.flush();
  }

  async *incoming(): AsyncGenerator<Incoming, void, undefined> {
    const noop = (): void => {};
    if (this.#js === null) {
      const sub = this.#nc.subscribe(STREAM_SUBJECTS);
      try {
        for await (const msg of sub) {
          const name = parseNatsSubject(msg.subject);
          if (name === null) continue;
          yield { ...name, data: msg.data, done: noop };
        }
      } finally {
        sub.unsubscribe();
      }
      return;
    }
    const after = this.#config.streamSeq;
    const consumer = await this.#js.consumers.get(STREAM_NAME, {
      filter_subjects: STREAM_SUBJECTS,
      ...(after > 0
        ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: after + 1 }
        : { deliver_policy: DeliverPolicy.All }),
    });
    const messages = await consumer.consume({ max_messages: 256 });
    try {
      for await (const msg of messages as AsyncIterable<JsMsg>) {
        const name = parseNatsSubject(msg.subject);
        if (name === null) continue;
        yield { ...name, data: msg.data, streamSeq: msg.seq, done: noop };
      }
    } finally {
      await messages.close().catch(() => {});
    }
  }

  async close(): Promise<void> {
    if (this.#nc.isClosed()) return;
    await this.#nc.drain().catch(() => this.#nc.close().catch(() => {}));
  }
}
