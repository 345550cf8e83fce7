/**
 * Bridges between machines: the local daemon's routed messages go to NATS
 * (subjects `dotfiles.<host>.<event_type>`, the JetStream stream `DOTFILES`,
 * the KV bucket `dotfiles-state`) or MQTT (topics `dotfiles/<host>/<type>`,
 * retained state, availability, Home Assistant discovery), and with
 * `importing`, other hosts' messages come into the local daemon as
 * `<host>.<event_type>`. Run it as `dotfiles-daemon bridge URL`; this module
 * is the same thing as a library.
 *
 * Only this module loads the NATS and MQTT clients (`npm:@nats-io/*`,
 * `npm:mqtt`), and only when a bridge connects: the daemon, publisher and
 * monitor modules never do.
 *
 * ```ts ignore
 * import { Bridge } from "@dotfiles/daemon/bridge";
 *
 * const controller = new AbortController();
 * Deno.addSignalListener("SIGTERM", () => controller.abort());
 * await new Bridge({ url: "nats://nas.lan:4222", importing: true, signal: controller.signal }).run();
 * ```
 *
 * @module
 */

export {
  Bridge,
  type BridgeCounters,
  type BridgeOptions,
  defaultBridgeStateDir,
} from "./bridge.ts";
export { type BrokerKind, type BrokerUrl, parseBrokerUrl } from "./broker_url.ts";
export {
  type HaDiscoveryConfig,
  haDiscoveryConfig,
  type HaOperationState,
  OperationTracker,
} from "./homeassistant.ts";
export {
  bridgeHostName,
  type BrokerName,
  escapeKvToken,
  escapeTopicLevel,
  HA_DISCOVERY_PREFIX,
  haConfigTopic,
  haObjectId,
  HOST_REGEXP,
  KV_BUCKET,
  kvKey,
  mqttOperationTopic,
  mqttStateTopic,
  mqttStatusTopic,
  mqttTopic,
  natsSubject,
  parseMqttTopic,
  parseNatsSubject,
  resumeFileName,
  STREAM_NAME,
  STREAM_SUBJECTS,
} from "./naming.ts";
