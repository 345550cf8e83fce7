/**
 * The bridge's resume file: what it has forwarded and imported, written
 * atomically (a temp file renamed over the old one) so a `kill -9` leaves
 * either the old or the new content, never half of one.
 *
 * ```json
 * {
 *   "version": 1,
 *   "host": "laptop",
 *   "broker": "nats://nas.lan:4222",
 *   "exported": { "backup": 41, "theme": 3 },
 *   "imported": { "desktop": { "wallpaper": 17 } },
 *   "stream_seq": 1234
 * }
 * ```
 *
 * `exported` is the last `seq` per local event type the broker confirmed;
 * `imported` the last `seq` of each other host's type that went into the
 * local daemon (as `<host>.<type>`); `stream_seq` the last JetStream stream
 * sequence imported.
 *
 * @module
 */

/** The content of a resume file. */
export interface ResumeState {
  /** Local event type -> last `seq` the broker confirmed. */
  exported: Record<string, number>;
  /** Other host -> its event type -> last `seq` imported. */
  imported: Record<string, Record<string, number>>;
  /** The last JetStream stream sequence imported (0: none). */
  streamSeq: number;
}

/** An empty state: nothing forwarded or imported yet. */
export function emptyResume(): ResumeState {
  return { exported: {}, imported: {}, streamSeq: 0 };
}

function isSeq(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

function seqMap(value: unknown, what: string): Record<string, number> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError(`field '${what}' must be an object of sequence numbers`);
  }
  const out: Record<string, number> = {};
  for (const [key, seq] of Object.entries(value)) {
    if (!isSeq(seq)) {
      throw new TypeError(`field '${what}.${key}' must be a non-negative integer`);
    }
    out[key] = seq;
  }
  return out;
}

/**
 * Reads a resume file. A missing file is an empty state.
 *
 * @throws {Error} When the file cannot be read or is not a resume file
 * (the message names the file and says to move it away to start over).
 */
export async function loadResume(path: string): Promise<ResumeState> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return emptyResume();
    throw err;
  }
  try {
    const raw = JSON.parse(text) as Record<string, unknown>;
    if (typeof raw !== "object" || raw === null || raw.version !== 1) {
      throw new TypeError("expected an object with version 1");
    }
    const imported: Record<string, Record<string, number>> = {};
    const hosts = raw.imported ?? {};
    if (typeof hosts !== "object" || hosts === null || Array.isArray(hosts)) {
      throw new TypeError("field 'imported' must be an object");
    }
    for (const [host, types] of Object.entries(hosts)) {
      imported[host] = seqMap(types, `imported.${host}`);
    }
    const streamSeq = raw.stream_seq ?? 0;
    if (!isSeq(streamSeq)) throw new TypeError("field 'stream_seq' must be a non-negative integer");
    return { exported: seqMap(raw.exported ?? {}, "exported"), imported, streamSeq };
  } catch (err) {
    throw new Error(
      `Cannot read resume file '${path}': ${
        err instanceof Error ? err.message : String(err)
      }; move it away to start over (messages the daemon still keeps are then sent again)`,
    );
  }
}

/** Writes a resume file atomically: `<path>.tmp`, then a rename over `path`. */
export async function saveResume(
  path: string,
  state: ResumeState,
  meta: { host: string; broker: string },
): Promise<void> {
  const text = JSON.stringify(
    {
      version: 1,
      host: meta.host,
      broker: meta.broker,
      exported: state.exported,
      imported: state.imported,
      stream_seq: state.streamSeq,
    },
    null,
    1,
  );
  const tmp = `${path}.tmp`;
  {
    // Synced before the rename: after a power cut the file is old or new, never empty.
    using file = await Deno.open(tmp, { write: true, create: true, truncate: true, mode: 0o600 });
    const bytes = new TextEncoder().encode(`${text}\n`);
    let off = 0;
    while (off < bytes.byteLength) off += await file.write(bytes.subarray(off));
    await file.syncData();
  }
  await Deno.rename(tmp, path);
}
