/**
 * The monitor client for listeners (status bars, notifiers, watchers):
 * {@linkcode subscribe} and {@linkcode subscribeAll} stream messages that
 * survive daemon restarts with nothing lost or repeated (gaps are filled by
 * `seq` from the daemon's history), and {@linkcode query}, the typed
 * helpers and {@linkcode QueryClient} ask the daemon for state, operations,
 * event types, history and status.
 *
 * Permissions: `--allow-read` and `--allow-write` on the socket directory;
 * `--allow-net` for its Unix sockets (Deno 2.9 checks net permission for
 * Unix sockets, scoped only by exact path: `--allow-net=unix:<dir>/query.sock,unix:<dir>/events.sock,unix:<dir>/<type>_events.sock`);
 * `--allow-env=XDG_CACHE_HOME,HOME` when the default socket directory is used.
 *
 * ```ts ignore
 * import { subscribe } from "@dotfiles/daemon/monitor";
 *
 * for await (const message of subscribe("wallpaper")) {
 *   console.log(message.payload.type, message.payload.overall_progress ?? "");
 * }
 * ```
 *
 * @module
 */

export {
  type CurrentStateOptions,
  type EventHistoryOptions,
  getCurrentState,
  getDaemonStatus,
  getEventHistory,
  getOperationStatus,
  listEventTypes,
  type OperationStatusOptions,
  query,
  QueryClient,
  type QueryClientOptions,
  type QueryOptions,
} from "./query_client.ts";
export {
  subscribe,
  subscribeAll,
  type SubscribeAllOptions,
  type SubscribeOptions,
  type Subscription,
  type SubscriptionEvent,
} from "./subscribe.ts";
