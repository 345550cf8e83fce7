/**
 * What the bridge needs from a broker connection, whichever broker it is.
 *
 * @module
 */

import type { Message } from "../protocol/mod.ts";
import type { BrokerUrl } from "./broker_url.ts";
import type { BridgeLog } from "./_log.ts";

/** A message from another host, as the broker delivered it. */
export interface Incoming {
  /** The host segment of its subject or topic. */
  host: string;
  /** The event type after the host segment. */
  eventType: string;
  /** The body: the routed message JSON on the other host. */
  data: Uint8Array;
  /** The JetStream stream sequence, when it came from the stream. */
  streamSeq?: number;
  /** Tells the broker the message is handled (MQTT: sends the PUBACK). */
  done(): void;
}

/** One live broker connection. */
export interface BrokerLink {
  /** What is connected, for the log: `NATS with JetStream`, `MQTT`. */
  readonly description: string;
  /**
   * Publishes routed messages of this host, in order, and the extras that go
   * with them (state, Home Assistant). Resolves once the broker has them all.
   *
   * @throws {Error} When the connection fails before then.
   */
  publish(batch: readonly Message[]): Promise<void>;
  /** Messages of all hosts (the caller drops its own echo), until closed. */
  incoming(): AsyncIterable<Incoming>;
  /** Resolves when the connection is lost or closed (with the error, if any). */
  readonly closed: Promise<Error | undefined>;
  /** Closes the connection (MQTT: publishes `offline` first). */
  close(): Promise<void>;
}

/** Why a connection attempt failed. */
export type BrokerErrorKind = "unreachable" | "auth" | "permission";

/** A failed connection attempt, explained in one line. */
export class BrokerError extends Error {
  /** Why it failed. */
  readonly kind: BrokerErrorKind;
  /**
   * @param kind Why it failed.
   * @param message One line.
   * @param options The cause.
   */
  constructor(kind: BrokerErrorKind, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "BrokerError";
    this.kind = kind;
  }
}

/** What a link is opened with. */
export interface LinkConfig {
  /** The broker. */
  url: BrokerUrl;
  /** This host's name. */
  host: string;
  /** Whether to receive other hosts' messages. */
  importing: boolean;
  /** The JetStream stream sequence to import after (NATS). */
  streamSeq: number;
  /** Publish Home Assistant discovery (MQTT). */
  homeAssistant: boolean;
  /** Credentials and other environment variables. */
  env: (name: string) => string | undefined;
  /** Reads the credentials file (NATS_CREDS). */
  readFile: (path: string) => Promise<Uint8Array>;
  /** The bridge's log. */
  log: BridgeLog;
  /** The longest wait for a connection, in ms. */
  connectTimeout: number;
  /** Aborts the connection attempt. */
  signal: AbortSignal;
}

/**
 * A connect that Deno's sandbox refused (Node's libraries report it as
 * `EPERM`): the permission flags do not name this broker. Retrying cannot help.
 */
export function permissionError(err: unknown, url: BrokerUrl): BrokerError | null {
  const text = errorText(err);
  if (!/\bEPERM\b|NotCapable|Requires net access/.test(text)) return null;
  return new BrokerError(
    "permission",
    `Cannot connect to ${url.href}: net permission denied (${text}); run the bridge with the ` +
      `flags bridgePermissionFlags() in service/permissions.ts gives for ${url.hostPort}`,
    { cause: err },
  );
}

/** The error's message, one line. */
export function errorText(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split("\n")[0]!;
}
