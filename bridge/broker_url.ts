// This module is browser compatible.

/**
 * Parses the bridge's broker URL: `nats://HOST:PORT` or `mqtt://HOST:PORT`
 * (`tls://` and `mqtts://` pass through to the client library).
 *
 * @module
 */

/** Which broker a URL names. */
export type BrokerKind = "nats" | "mqtt";

/** A parsed broker URL. */
export interface BrokerUrl {
  /** `nats` for `nats://` and `tls://`, `mqtt` for `mqtt://` and `mqtts://`. */
  kind: BrokerKind;
  /** The scheme without `://`: `nats`, `tls`, `mqtt` or `mqtts`. */
  scheme: string;
  /** The host name or address (an IPv6 address without brackets). */
  host: string;
  /** The port (the scheme's default when the URL has none). */
  port: number;
  /** `host:port` as a Deno net permission names it (IPv6 in brackets). */
  hostPort: string;
  /** The URL as handed to the client library: `scheme://host:port`. */
  href: string;
}

const DEFAULT_PORTS: Record<string, number> = { nats: 4222, tls: 4222, mqtt: 1883, mqtts: 8883 };

/**
 * Parses a broker URL. Credentials in the URL are refused: they come from
 * the environment (`NATS_USER`/`NATS_PASSWORD`/`NATS_CREDS`,
 * `MQTT_USERNAME`/`MQTT_PASSWORD`), never from argv, where every user of
 * the machine can read them.
 *
 * @param text The URL.
 * @returns The parsed URL.
 * @throws {TypeError} When it is not a URL of a supported scheme with a host,
 * or carries credentials, a path or a query.
 *
 * @example
 * ```ts
 * import { parseBrokerUrl } from "./broker_url.ts";
 * import assert from "node:assert/strict";
 *
 * const url = parseBrokerUrl("nats://127.0.0.1");
 * assert.equal(url.kind, "nats");
 * assert.equal(url.hostPort, "127.0.0.1:4222");
 * assert.throws(() => parseBrokerUrl("http://x"), TypeError);
 * assert.throws(() => parseBrokerUrl("mqtt://me:secret@x"), TypeError);
 * ```
 */
export function parseBrokerUrl(text: string): BrokerUrl {
  const shown = JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}...` : text);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new TypeError(
      `Cannot parse broker URL: expected nats://HOST:PORT or mqtt://HOST:PORT, received ${shown}`,
    );
  }
  const scheme = url.protocol.replace(/:$/, "");
  const defaultPort = DEFAULT_PORTS[scheme];
  if (defaultPort === undefined) {
    throw new TypeError(
      `Cannot parse broker URL: scheme must be nats, tls, mqtt or mqtts, received '${scheme}'`,
    );
  }
  if (url.username !== "" || url.password !== "") {
    throw new TypeError(
      "Cannot parse broker URL: credentials must not be in the URL (every user can read argv): " +
        "set NATS_USER/NATS_PASSWORD/NATS_CREDS or MQTT_USERNAME/MQTT_PASSWORD",
    );
  }
  if (url.hostname === "") {
    throw new TypeError(`Cannot parse broker URL: expected a host, received ${shown}`);
  }
  if ((url.pathname !== "" && url.pathname !== "/") || url.search !== "" || url.hash !== "") {
    throw new TypeError(
      `Cannot parse broker URL: expected no path, query or fragment, received ${shown}`,
    );
  }
  const port = url.port === "" ? defaultPort : Number(url.port);
  const bracketed = url.hostname.startsWith("[");
  const host = bracketed ? url.hostname.slice(1, -1) : url.hostname;
  const hostPort = `${url.hostname}:${port}`;
  return {
    kind: scheme === "nats" || scheme === "tls" ? "nats" : "mqtt",
    scheme,
    host,
    port,
    hostPort,
    href: `${scheme}://${hostPort}`,
  };
}
