/**
 * The seq marks file (`state.db-seq`) of the SQLite store.
 *
 * @module
 */

import { errorText } from "./_state_operations.ts";
import type { StoredEventType } from "./_store.ts";

/** Beside `state.db`: the highest seq per type handed out while the database could not be written. */
export const SEQ_MARKS_SUFFIX = "-seq";
/** The marks file's size, written at open so later writes overwrite in place (no new blocks). */
const SEQ_MARKS_BYTES = 64 * 1024;

/**
 * The seq marks: a small file of `{"event_type": seq}` beside the
 * database, written only while the database cannot be, before anything is
 * broadcast. It is filled to 64 KiB with spaces when created, so each write
 * overwrites blocks the file already has: on a full disk (ext4, tmpfs) that
 * still succeeds where SQLite, which needs new pages, fails. A start reads
 * it and resumes each type past its mark, so a seq a monitor may have seen
 * is never handed out again; once the database has caught up, the marks are
 * cleared.
 *
 * @example
 * ```ts
 * import { SeqMarks } from "./_seq_marks.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const marks = SeqMarks.open(`${dir}/state.db-seq`, () => {});
 * marks.save([{ event_type: "t", message_count: 0, last_seq: 7, last_event_at: null }]);
 * marks.close();
 * const again = SeqMarks.open(`${dir}/state.db-seq`, () => {});
 * assert.deepEqual([...again.entries()], [["t", 7]]);
 * again.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class SeqMarks {
  readonly path: string;
  #file: Deno.FsFile;
  #marks: Map<string, number>;
  /** Bytes of content last written: a shorter write pads over the rest. */
  #written: number;
  #encoder = new TextEncoder();

  private constructor(
    path: string,
    file: Deno.FsFile,
    marks: Map<string, number>,
    written: number,
  ) {
    this.path = path;
    this.#file = file;
    this.#marks = marks;
    this.#written = written;
  }

  static open(path: string, onWarning: (text: string) => void): SeqMarks {
    const file = Deno.openSync(path, { read: true, write: true, create: true, mode: 0o600 });
    try {
      const size = file.statSync().size;
      const bytes = new Uint8Array(size);
      let read = 0;
      while (read < size) {
        const n = file.readSync(bytes.subarray(read));
        if (n === null) break;
        read += n;
      }
      const text = new TextDecoder().decode(bytes.subarray(0, read)).trim();
      const marks = new Map<string, number>();
      if (text !== "") {
        try {
          const parsed = JSON.parse(text);
          for (const [name, seq] of Object.entries(parsed as Record<string, unknown>)) {
            if (Number.isSafeInteger(seq) && (seq as number) > 0) marks.set(name, seq as number);
          }
        } catch (error) {
          onWarning(`Cannot read the seq marks in ${path}, ignoring them: ${errorText(error)}`);
        }
      }
      if (size < SEQ_MARKS_BYTES) {
        try {
          file.seekSync(size, Deno.SeekMode.Start);
          writeAllSync(file, new Uint8Array(SEQ_MARKS_BYTES - size).fill(0x20));
          file.syncDataSync();
        } catch (error) {
          onWarning(`Cannot reserve space for the seq marks in ${path}: ${errorText(error)}`);
        }
      }
      return new SeqMarks(path, file, marks, new TextEncoder().encode(text).byteLength);
    } catch (error) {
      file.close();
      throw error;
    }
  }

  get size(): number {
    return this.#marks.size;
  }

  entries(): IterableIterator<[string, number]> {
    return this.#marks.entries();
  }

  /** Raises the marks to the types' `last_seq` and writes them; throws when the write fails. */
  save(types: StoredEventType[]): void {
    let changed = false;
    for (const t of types) {
      if ((this.#marks.get(t.event_type) ?? 0) < t.last_seq) {
        this.#marks.set(t.event_type, t.last_seq);
        changed = true;
      }
    }
    if (changed) this.#write();
  }

  /** Drops the marks that `types`, just written to the database, cover. */
  forget(types: StoredEventType[]): void {
    let changed = false;
    for (const t of types) {
      const mark = this.#marks.get(t.event_type);
      if (mark !== undefined && mark <= t.last_seq) {
        this.#marks.delete(t.event_type);
        changed = true;
      }
    }
    if (!changed) return;
    try {
      this.#write();
    } catch {
      // A stale mark only makes a restart skip a few seqs; never reuse them.
    }
  }

  #write(): void {
    const content = this.#encoder.encode(JSON.stringify(Object.fromEntries(this.#marks)));
    const bytes = new Uint8Array(Math.max(content.byteLength, this.#written)).fill(0x20);
    bytes.set(content);
    this.#file.seekSync(0, Deno.SeekMode.Start);
    writeAllSync(this.#file, bytes);
    this.#written = content.byteLength;
  }

  close(): void {
    try {
      this.#file.close();
    } catch {
      // already closed
    }
  }
}

function writeAllSync(file: Deno.FsFile, bytes: Uint8Array): void {
  let offset = 0;
  while (offset < bytes.byteLength) offset += file.writeSync(bytes.subarray(offset));
}
