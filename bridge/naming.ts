// This module is browser compatible.

/**
 * The names a bridge uses on a broker, pinned in DESIGN.md so that other
 * machines and outside tools agree: NATS subjects, MQTT topics, the
 * JetStream stream, the KV bucket and key, the Home Assistant discovery
 * topics, and the resume file's name. Pure functions, no I/O.
 *
 * @module
 */

import { EVENT_TYPE_REGEXP } from "../protocol/mod.ts";

/** The JetStream stream the bridge publishes into (subjects `dotfiles.>`). */
export const STREAM_NAME = "DOTFILES";

/** The subjects of {@linkcode STREAM_NAME}. */
export const STREAM_SUBJECTS = "dotfiles.>";

/**
 * The JetStream KV bucket holding the present state of every host:
 * key `<host>/<event_type>/<state_key escaped>`, value the `state_value` JSON.
 */
export const KV_BUCKET = "dotfiles-state";

/** The Home Assistant MQTT discovery prefix (its default). */
export const HA_DISCOVERY_PREFIX = "homeassistant";

/** What a host name must look like: it is one subject token and one topic level. */
export const HOST_REGEXP: RegExp = /^[A-Za-z0-9-]{1,63}$/;

/**
 * Reduces a machine's host name to `[A-Za-z0-9-]`, as `--host` defaults to:
 * the part before the first dot, other characters dropped, at most 63.
 *
 * @param hostname The machine's host name.
 * @returns The bridge host name, or `""` when nothing is left.
 *
 * @example
 * ```ts
 * import { bridgeHostName } from "./naming.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(bridgeHostName("my_laptop.lan"), "mylaptop");
 * ```
 */
export function bridgeHostName(hostname: string): string {
  const first = hostname.split(".")[0] ?? "";
  return first.replace(/[^A-Za-z0-9-]/g, "").slice(0, 63);
}

/**
 * The NATS subject of a host's event type: `dotfiles.<host>.<event_type>`.
 *
 * @param host The host name.
 * @param eventType The event type (may hold dots: they become more tokens).
 * @returns The subject.
 *
 * @example
 * ```ts
 * import { natsSubject } from "./naming.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(natsSubject("laptop", "backup.daily"), "dotfiles.laptop.backup.daily");
 * ```
 */
export function natsSubject(host: string, eventType: string): string {
  return `dotfiles.${host}.${eventType}`;
}

/** A subject or topic split into the host and event type it names. */
export interface BrokerName {
  /** The host segment. */
  host: string;
  /** The event type (everything after the host segment). */
  eventType: string;
}

/**
 * Splits a NATS subject `dotfiles.<host>.<event_type>` into host and event
 * type; `null` when it is not one (wrong prefix, bad host or event type).
 *
 * @param subject The subject.
 * @returns The host and event type, or `null`.
 *
 * @example
 * ```ts
 * import { parseNatsSubject } from "./naming.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(parseNatsSubject("dotfiles.a.backup.daily"), { host: "a", eventType: "backup.daily" });
 * assert.equal(parseNatsSubject("other.a.b"), null);
 * ```
 */
export function parseNatsSubject(subject: string): BrokerName | null {
  const parts = subject.split(".");
  if (parts.length < 3 || parts[0] !== "dotfiles") return null;
  return checkName(parts[1]!, parts.slice(2).join("."));
}

/**
 * The MQTT topic of a host's event type: `dotfiles/<host>/<event_type>`.
 *
 * @param host The host name.
 * @param eventType The event type.
 * @returns The topic.
 *
 * @example
 * ```ts
 * import { mqttTopic } from "./naming.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(mqttTopic("laptop", "backup.daily"), "dotfiles/laptop/backup.daily");
 * ```
 */
export function mqttTopic(host: string, eventType: string): string {
  return `dotfiles/${host}/${eventType}`;
}

/**
 * Splits an MQTT topic `dotfiles/<host>/<event_type>` into host and event
 * type; `null` for anything else (state, status, discovery topics).
 *
 * @param topic The topic.
 * @returns The host and event type, or `null`.
 *
 * @example
 * ```ts
 * import { parseMqttTopic } from "./naming.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(parseMqttTopic("dotfiles/a/theme"), { host: "a", eventType: "theme" });
 * assert.equal(parseMqttTopic("dotfiles/a/theme/state/current"), null);
 * ```
 */
export function parseMqttTopic(topic: string): BrokerName | null {
  const parts = topic.split("/");
  if (parts.length !== 3 || parts[0] !== "dotfiles") return null;
  return checkName(parts[1]!, parts[2]!);
}

function checkName(host: string, eventType: string): BrokerName | null {
  if (!HOST_REGEXP.test(host) || !EVENT_TYPE_REGEXP.test(eventType)) return null;
  return { host, eventType };
}

/**
 * Escapes a state key for one MQTT topic level: `%`, `/`, `+`, `#` and
 * control characters become `%XX` (percent-encoding of their UTF-8 bytes).
 *
 * @param stateKey The state key.
 * @returns The escaped key.
 *
 * @example
 * ```ts
 * import { escapeTopicLevel } from "./naming.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(escapeTopicLevel("a/b+c"), "a%2Fb%2Bc");
 * ```
 */
export function escapeTopicLevel(stateKey: string): string {
  // deno-lint-ignore no-control-regex
  return stateKey.replace(/[%/+#\u0000-\u001f\u007f]/g, (c) => encodeURIComponent(c));
}

/**
 * The retained MQTT topic of one state key:
 * `dotfiles/<host>/<event_type>/state/<state_key escaped>`.
 *
 * @param host The host name.
 * @param eventType The event type.
 * @param stateKey The state key.
 * @returns The topic.
 *
 * @example
 * ```ts
 * import { mqttStateTopic } from "./naming.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(mqttStateTopic("a", "theme", "current"), "dotfiles/a/theme/state/current");
 * ```
 */
export function mqttStateTopic(host: string, eventType: string, stateKey: string): string {
  return `${mqttTopic(host, eventType)}/state/${escapeTopicLevel(stateKey)}`;
}

/**
 * The MQTT availability topic of a host: `dotfiles/<host>/status`
 * (`online`, last will `offline`).
 *
 * @param host The host name.
 * @returns The topic.
 *
 * @example
 * ```ts
 * import { mqttStatusTopic } from "./naming.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(mqttStatusTopic("a"), "dotfiles/a/status");
 * ```
 */
export function mqttStatusTopic(host: string): string {
  return `dotfiles/${host}/status`;
}

/**
 * The retained MQTT topic holding the latest operation of an event type, the
 * Home Assistant sensor's state: `dotfiles/<host>/<event_type>/operation`.
 *
 * @param host The host name.
 * @param eventType The event type.
 * @returns The topic.
 *
 * @example
 * ```ts
 * import { mqttOperationTopic } from "./naming.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(mqttOperationTopic("a", "backup"), "dotfiles/a/backup/operation");
 * ```
 */
export function mqttOperationTopic(host: string, eventType: string): string {
  return `${mqttTopic(host, eventType)}/operation`;
}

/**
 * The Home Assistant object id of a host's event type: `dotfiles_<host>_<type>`
 * with every character outside `[A-Za-z0-9_-]` turned into `_`.
 *
 * @param host The host name.
 * @param eventType The event type.
 * @returns The object id.
 *
 * @example
 * ```ts
 * import { haObjectId } from "./naming.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(haObjectId("a", "backup.daily"), "dotfiles_a_backup_daily");
 * ```
 */
export function haObjectId(host: string, eventType: string): string {
  return `dotfiles_${host}_${eventType}`.replace(/[^A-Za-z0-9_-]/g, "_");
}

/**
 * The Home Assistant discovery topic of a host's event type sensor:
 * `homeassistant/sensor/<object id>/config`.
 *
 * @param host The host name.
 * @param eventType The event type.
 * @returns The topic.
 *
 * @example
 * ```ts
 * import { haConfigTopic } from "./naming.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(haConfigTopic("a", "backup"), "homeassistant/sensor/dotfiles_a_backup/config");
 * ```
 */
export function haConfigTopic(host: string, eventType: string): string {
  return `${HA_DISCOVERY_PREFIX}/sensor/${haObjectId(host, eventType)}/config`;
}

/**
 * Escapes a state key for a KV key token: every character outside
 * `[A-Za-z0-9_-]` becomes `=XX` (its UTF-8 bytes in upper-case hex), so the
 * key stays within NATS KV's alphabet and `/` and `.` stay separators.
 *
 * @param stateKey The state key.
 * @returns The escaped key (`=` alone for the empty key).
 *
 * @example
 * ```ts
 * import { escapeKvToken } from "./naming.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(escapeKvToken("a b.c"), "a=20b=2Ec");
 * ```
 */
export function escapeKvToken(stateKey: string): string {
  if (stateKey === "") return "=";
  let out = "";
  for (const ch of stateKey) {
    if (/^[A-Za-z0-9_-]$/.test(ch)) {
      out += ch;
      continue;
    }
    for (const byte of new TextEncoder().encode(ch)) {
      out += `=${byte.toString(16).toUpperCase().padStart(2, "0")}`;
    }
  }
  return out;
}

/**
 * The KV key of one state key in {@linkcode KV_BUCKET}:
 * `<host>/<event_type>/<state_key escaped>`.
 *
 * @param host The host name.
 * @param eventType The event type.
 * @param stateKey The state key.
 * @returns The key.
 *
 * @example
 * ```ts
 * import { kvKey } from "./naming.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(kvKey("a", "backup.daily", "last run"), "a/backup.daily/last=20run");
 * ```
 */
export function kvKey(host: string, eventType: string, stateKey: string): string {
  return `${host}/${eventType}/${escapeKvToken(stateKey)}`;
}

/**
 * The resume file's name: `bridge-<host>-<broker host>-<port>.json`, the
 * broker host reduced to `[A-Za-z0-9.-]` (other characters, such as an IPv6
 * address's colons, become `_`). The port is part of the name so that a NATS
 * and an MQTT bridge to the same machine keep separate files.
 *
 * @param host The bridge's host name.
 * @param brokerHost The broker's host name or address.
 * @param port The broker's port.
 * @returns The file name.
 *
 * @example
 * ```ts
 * import { resumeFileName } from "./naming.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(resumeFileName("laptop", "nas.lan", 4222), "bridge-laptop-nas.lan-4222.json");
 * ```
 */
export function resumeFileName(host: string, brokerHost: string, port: number): string {
  const broker = brokerHost.replace(/[^A-Za-z0-9.-]/g, "_");
  return `bridge-${host}-${broker}-${port}.json`;
}
