// This module is browser compatible.

/**
 * Home Assistant over MQTT (`--homeassistant`): one discovery config per
 * event type, a sensor whose state is the latest operation's status, with
 * its progress and names as attributes, and the bridge's availability topic
 * with its last will.
 *
 * @module
 */

import type { Message } from "../protocol/mod.ts";
import { haObjectId, mqttOperationTopic, mqttStatusTopic } from "./naming.ts";

/**
 * The Home Assistant MQTT discovery config of one event type's sensor,
 * published retained at `homeassistant/sensor/dotfiles_<host>_<type>/config`.
 */
export interface HaDiscoveryConfig {
  /** The sensor's name: the event type. */
  name: string;
  /** `dotfiles_<host>_<type>`: stable across restarts. */
  unique_id: string;
  /** Same as `unique_id` (the entity id Home Assistant derives). */
  object_id: string;
  /** `dotfiles/<host>/<type>/operation` (retained JSON, see {@linkcode HaOperationState}). */
  state_topic: string;
  /** `{{ value_json.status }}`: the state is the operation's status. */
  value_template: string;
  /** Same as `state_topic`: every field becomes an attribute (`progress`...). */
  json_attributes_topic: string;
  /** `dotfiles/<host>/status`. */
  availability_topic: string;
  /** `online`. */
  payload_available: string;
  /** `offline` (the bridge's last will). */
  payload_not_available: string;
  /** An icon. */
  icon: string;
  /** One device per host. */
  device: {
    identifiers: string[];
    name: string;
    manufacturer: string;
    model: string;
    sw_version: string;
  };
}

/**
 * The sensor's state, published retained at `dotfiles/<host>/<type>/operation`.
 * `status` is `running`, `completed` or `failed`; `progress` 0-100.
 */
export interface HaOperationState {
  /** `running`, `completed` or `failed`. */
  status: "running" | "completed" | "failed";
  /** Overall progress, 0 to 100. */
  progress: number;
  /** The operation's id. */
  operation_id: string;
  /** Its name, when known. */
  operation_name: string | null;
  /** The step's name, when known. */
  step_name: string | null;
  /** The error's message when it failed. */
  error_message: string | null;
  /** The timestamp of the message that set this state. */
  updated_at: string;
}

/**
 * The discovery config of a host's event type.
 *
 * @param host The host name.
 * @param eventType The event type.
 * @param version The daemon's version (`sw_version`).
 * @returns The config, ready for `JSON.stringify`.
 *
 * @example
 * ```ts
 * import { haDiscoveryConfig } from "./homeassistant.ts";
 * import assert from "node:assert/strict";
 *
 * const config = haDiscoveryConfig("laptop", "backup", "0.1.0");
 * assert.equal(config.state_topic, "dotfiles/laptop/backup/operation");
 * assert.equal(config.availability_topic, "dotfiles/laptop/status");
 * ```
 */
export function haDiscoveryConfig(
  host: string,
  eventType: string,
  version: string,
): HaDiscoveryConfig {
  const id = haObjectId(host, eventType);
  const stateTopic = mqttOperationTopic(host, eventType);
  return {
    name: eventType,
    unique_id: id,
    object_id: id,
    state_topic: stateTopic,
    value_template: "{{ value_json.status }}",
    json_attributes_topic: stateTopic,
    availability_topic: mqttStatusTopic(host),
    payload_available: "online",
    payload_not_available: "offline",
    icon: "mdi:progress-clock",
    device: {
      identifiers: [`dotfiles_${host}`],
      name: `dotfiles ${host}`,
      manufacturer: "dotfiles-daemon",
      model: "bridge",
      sw_version: version,
    },
  };
}

function text(value: unknown): string | null {
  return typeof value === "string" ? value : null;
}

/**
 * Follows the operations of each event type and says what the sensor's
 * state becomes after a message: the latest operation wins.
 *
 * @example
 * ```ts
 * import { OperationTracker } from "./homeassistant.ts";
 * import assert from "node:assert/strict";
 *
 * const tracker = new OperationTracker();
 * const base = { message_id: "m", timestamp: "2026-12-01T00:00:00Z", event_type: "backup" };
 * tracker.update({ ...base, payload: { type: "operation_started", operation_id: "o", operation_name: "nightly" } });
 * const state = tracker.update({
 *   ...base,
 *   payload: { type: "operation_progress", operation_id: "o", step_id: "s", step_progress: 50, overall_progress: 40 },
 * });
 * assert.equal(state?.status, "running");
 * assert.equal(state?.progress, 40);
 * assert.equal(state?.operation_name, "nightly");
 * ```
 */
export class OperationTracker {
  #names = new Map<string, string>();
  #last = new Map<string, HaOperationState>();

  /**
   * Takes one routed message.
   *
   * @param message The message.
   * @returns The sensor's new state, or `null` when it is not an operation message.
   */
  update(message: Message): HaOperationState | null {
    const p = message.payload as Record<string, unknown>;
    const id = text(p.operation_id);
    if (id === null) return null;
    const type = p.type;
    const key = `${message.event_type}\u0000${id}`;
    if (type === "operation_started") {
      const name = text(p.operation_name);
      if (name !== null) this.#names.set(key, name);
      if (this.#names.size > 1000) this.#names.delete(this.#names.keys().next().value!);
    }
    const previous = this.#last.get(message.event_type);
    const same = previous?.operation_id === id ? previous : undefined;
    const base = {
      operation_id: id,
      operation_name: this.#names.get(key) ?? same?.operation_name ?? null,
      step_name: text(p.step_name) ?? same?.step_name ?? null,
      error_message: null as string | null,
      updated_at: message.timestamp,
    };
    let state: HaOperationState;
    switch (type) {
      case "operation_started":
        state = { status: "running", progress: 0, ...base };
        break;
      case "operation_progress": {
        const progress = typeof p.overall_progress === "number" ? p.overall_progress : 0;
        state = { status: "running", progress, ...base };
        break;
      }
      case "operation_completed":
        state = { status: "completed", progress: 100, ...base };
        this.#names.delete(key);
        break;
      case "operation_failed":
        state = {
          status: "failed",
          progress: same?.progress ?? 0,
          ...base,
          error_message: text(p.error_message),
        };
        this.#names.delete(key);
        break;
      default:
        return null;
    }
    this.#last.set(message.event_type, state);
    return state;
  }
}
