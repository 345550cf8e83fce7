/** Counters fed to the status query. Names are snake_case, as on the wire. */
export class Counters {
  messagesIn = 0;
  messagesRouted = 0;
  framesOut = 0;
  bytesOut = 0;
  payloadInvalid = 0;
  rejectedEventTypes = 0;
  slowSubscribersDropped = 0;
  connectionsAccepted = 0;
  queries = 0;
  queryErrors = 0;
  staleOperations = 0;
  /** Complete frames publishers had sent but the daemon did not route, at stop. */
  messagesUnreadAtStop = 0;
  /** Messages recorded but not broadcast: the store could save neither them nor their seqs. */
  messagesHeldBack = 0;
  /** Accepts that failed (out of file descriptors and the like); each was retried. */
  acceptErrors = 0;
  /** Query answers over max_message_size, answered with an error instead. */
  queryResponsesTooLarge = 0;
  /** Connections closed at once because their socket held its limit, by socket. */
  readonly connectionsRefused: Map<string, number> = new Map();
  readonly badFrames: Map<string, number> = new Map();
  readonly messagesInByType: Map<string, number> = new Map();
  readonly framesOutByType: Map<string, number> = new Map();

  refuse(socket: string): void {
    this.connectionsRefused.set(socket, (this.connectionsRefused.get(socket) ?? 0) + 1);
  }

  bad(reason: string): void {
    this.badFrames.set(reason, (this.badFrames.get(reason) ?? 0) + 1);
  }

  toJSON(open: { publishers: number; subscribers: number; queryClients: number }): Record<
    string,
    number | Record<string, number>
  > {
    return {
      messages_in: this.messagesIn,
      messages_routed: this.messagesRouted,
      frames_out: this.framesOut,
      bytes_out: this.bytesOut,
      bad_frames: Object.fromEntries(this.badFrames),
      bad_frames_total: [...this.badFrames.values()].reduce((a, b) => a + b, 0),
      payload_invalid: this.payloadInvalid,
      rejected_event_types: this.rejectedEventTypes,
      slow_subscribers_dropped: this.slowSubscribersDropped,
      connections_accepted: this.connectionsAccepted,
      publishers_connected: open.publishers,
      subscribers_connected: open.subscribers,
      query_clients_connected: open.queryClients,
      queries: this.queries,
      query_errors: this.queryErrors,
      stale_operations: this.staleOperations,
      messages_unread_at_stop: this.messagesUnreadAtStop,
      messages_held_back: this.messagesHeldBack,
      accept_errors: this.acceptErrors,
      query_responses_too_large: this.queryResponsesTooLarge,
      connections_refused: Object.fromEntries(this.connectionsRefused),
      connections_refused_total: [...this.connectionsRefused.values()].reduce((a, b) => a + b, 0),
      messages_in_by_type: Object.fromEntries(this.messagesInByType),
      frames_out_by_type: Object.fromEntries(this.framesOutByType),
    };
  }
}
