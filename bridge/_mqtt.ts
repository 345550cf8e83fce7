/**
 * The MQTT side of the bridge, on MQTT.js: topic `dotfiles/<host>/<type>`
 * at QoS 1, each `state_update` retained per key, the availability topic
 * with its last will, and, with `--homeassistant`, discovery configs and
 * the latest operation per type (retained).
 *
 * @module
 */

import "./_node_env.ts";
import { connect, type IClientOptions, type MqttClient } from "mqtt";
import type { Message } from "../protocol/mod.ts";
import {
  haConfigTopic,
  mqttOperationTopic,
  mqttStateTopic,
  mqttStatusTopic,
  mqttTopic,
  parseMqttTopic,
} from "./naming.ts";
import { haDiscoveryConfig, OperationTracker } from "./homeassistant.ts";
import {
  BrokerError,
  type BrokerLink,
  errorText,
  type Incoming,
  type LinkConfig,
  permissionError,
} from "./_link.ts";
import type { BrokerUrl } from "./broker_url.ts";
import denoJson from "../deno.json" with { type: "json" };

/** MQTT 3.1.1 CONNACK codes 4 and 5, MQTT 5 reason codes 134 and 135. */
const AUTH_CODES = new Set([4, 5, 134, 135]);

function classify(err: unknown, brokerUrl: BrokerUrl): BrokerError {
  if (err instanceof BrokerError) return err;
  const denied = permissionError(err, brokerUrl);
  if (denied !== null) return denied;
  const url = brokerUrl.href;
  const code = (err as { code?: unknown })?.code;
  const text = errorText(err);
  if (
    (typeof code === "number" && AUTH_CODES.has(code)) || /not authori[sz]ed|bad user/i.test(text)
  ) {
    return new BrokerError(
      "auth",
      `Cannot log in to ${url}: ${text}; check MQTT_USERNAME/MQTT_PASSWORD`,
      { cause: err },
    );
  }
  return new BrokerError("unreachable", `Cannot connect to ${url}: ${text}`, { cause: err });
}

/** Opens an MQTT link: a persistent session (`clean: false`) with a last will. */
export async function openMqttLink(config: LinkConfig): Promise<BrokerLink> {
  const { url, env, host } = config;
  const status = mqttStatusTopic(host);
  const options: IClientOptions = {
    clientId: `dotfiles-bridge-${host}`,
    clean: !config.importing,
    reconnectPeriod: 0,
    connectTimeout: config.connectTimeout,
    keepalive: 30,
    will: { topic: status, payload: "offline", qos: 1, retain: true },
  };
  const username = env("MQTT_USERNAME");
  if (username !== undefined && username !== "") {
    options.username = username;
    options.password = env("MQTT_PASSWORD") ?? "";
  }
  // The handlers go on before the CONNACK: a persistent session delivers
  // its queued messages right after it, and any that met the library's
  // default handler would be acknowledged and lost.
  const client = connect(url.href, options);
  const link = new MqttLink(client, config);
  try {
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => reject(new BrokerError("unreachable", "Aborted"));
      config.signal.addEventListener("abort", onAbort, { once: true });
      const done = (): void => {
        config.signal.removeEventListener("abort", onAbort);
        client.off("connect", onConnect);
        client.off("error", onError);
        client.off("close", onClose);
      };
      const onConnect = (): void => {
        done();
        resolve();
      };
      const onError = (err: Error): void => {
        done();
        reject(err);
      };
      const onClose = (): void => {
        done();
        reject(new Error("connection closed before the broker answered"));
      };
      client.on("connect", onConnect);
      client.on("error", onError);
      client.on("close", onClose);
    });
  } catch (err) {
    await link.close();
    throw classify(err, url);
  }
  // Small QoS 1 packets and their acknowledgements must not wait for Nagle.
  (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
  // Not awaited: a persistent session may deliver queued messages first, and
  // their PUBACKs (held until imported) come before this one's.
  client.publishAsync(status, "online", { qos: 1, retain: true }).catch(() => {});
  return link;
}

interface Waiting {
  topic: string;
  data: Uint8Array;
  done: () => void;
}

class MqttLink implements BrokerLink {
  readonly description = "MQTT";
  readonly closed: Promise<Error | undefined>;
  #client: MqttClient;
  #config: LinkConfig;
  #tracker = new OperationTracker();
  #announced = new Set<string>();
  #waiting: Waiting[] = [];
  #wake: (() => void) | null = null;
  #ended = false;
  #lastError: Error | undefined;

  constructor(client: MqttClient, config: LinkConfig) {
    this.#client = client;
    this.#config = config;
    client.on("error", (err) => {
      this.#lastError = err;
    });
    this.closed = new Promise((resolve) => {
      client.once("close", () => {
        this.#ended = true;
        this.#wake?.();
        resolve(this.#lastError ?? new Error("connection closed by the broker"));
      });
    });
    // Hold each PUBACK until the message is in the local daemon: a bridge
    // that dies before then gets it again from its persistent session.
    client.handleMessage = (packet, callback) => {
      const data = typeof packet.payload === "string"
        ? new TextEncoder().encode(packet.payload)
        : new Uint8Array(packet.payload);
      // Availability (`dotfiles/<host>/status`) shares the event topics' shape.
      const availability = packet.topic.endsWith("/status") &&
        (data.byteLength === 6 || data.byteLength === 7) &&
        /^(online|offline)$/.test(new TextDecoder().decode(data));
      if (
        !config.importing || packet.retain || availability ||
        parseMqttTopic(packet.topic) === null
      ) {
        callback();
        return;
      }
      this.#waiting.push({ topic: packet.topic, data, done: () => callback() });
      this.#wake?.();
    };
  }

  async publish(batch: readonly Message[]): Promise<void> {
    const { host, homeAssistant } = this.#config;
    const client = this.#client;
    const pending: Promise<unknown>[] = [];
    for (const message of batch) {
      const type = message.event_type;
      if (homeAssistant && !this.#announced.has(type)) {
        this.#announced.add(type);
        const config = haDiscoveryConfig(host, type, denoJson.version);
        pending.push(
          client.publishAsync(haConfigTopic(host, type), JSON.stringify(config), {
            qos: 1,
            retain: true,
          }),
        );
      }
      pending.push(client.publishAsync(mqttTopic(host, type), JSON.stringify(message), { qos: 1 }));
      const payload = message.payload as {
        type?: unknown;
        state_key?: unknown;
        state_value?: unknown;
      };
      if (payload.type === "state_update" && typeof payload.state_key === "string") {
        pending.push(
          client.publishAsync(
            mqttStateTopic(host, type, payload.state_key),
            JSON.stringify(payload.state_value ?? null),
            { qos: 1, retain: true },
          ),
        );
      }
      if (homeAssistant) {
        const state = this.#tracker.update(message);
        if (state !== null) {
          pending.push(
            client.publishAsync(mqttOperationTopic(host, type), JSON.stringify(state), {
              qos: 1,
              retain: true,
            }),
          );
        }
      }
    }
    await Promise.all(pending);
  }

  async *incoming(): AsyncGenerator<Incoming, void, undefined> {
    // Not awaited, for the same reason as `online` above; a refused
    // subscription ends the connection.
    this.#client.subscribeAsync("dotfiles/+/+", { qos: 1 }).then(() => {
      this.#config.log.once(
        "mqtt-subscribed",
        "Importing from dotfiles/+/+ (QoS 1, persistent session: kept by the broker while this bridge is away)",
      );
    }, (err) => {
      this.#lastError = err instanceof Error ? err : new Error(String(err));
      this.#client.end(true);
    });
    while (!this.#ended) {
      const next = this.#waiting.shift();
      if (next === undefined) {
        await new Promise<void>((resolve) => this.#wake = resolve);
        this.#wake = null;
        continue;
      }
      const name = parseMqttTopic(next.topic)!;
      yield { ...name, data: next.data, done: next.done };
    }
  }

  async close(): Promise<void> {
    const client = this.#client;
    this.#ended = true;
    this.#wake?.();
    if (client.connected) {
      try {
        await client.publishAsync(mqttStatusTopic(this.#config.host), "offline", {
          qos: 1,
          retain: true,
        });
      } catch {
        // Gone already: the last will says offline.
      }
    }
    await client.endAsync().catch(() => {});
  }
}
