/**
 * Waiting for the daemon's sockets without a timer: the socket directory,
 * or while it does not exist its nearest existing parent, watched with
 * inotify (`Deno.watchFs`). Private to the monitor.
 *
 * @module
 */

/** The parent directory of an absolute path, or `null` at the root. */
function parentOf(path: string): string | null {
  const parent = path.replace(/\/[^/]*$/, "");
  return parent === path || parent === "" ? null : parent;
}

/**
 * Watches the socket directory (or, while it does not exist, its nearest
 * existing parent) for the daemon's sockets to appear: inotify, no timer.
 */
export class DirWatcher {
  #watcher: Deno.FsWatcher;
  #iterator: AsyncIterator<Deno.FsEvent>;
  #dir: string;
  #target: string;
  /** Set when the watched directory itself was removed: this watch hears nothing more. */
  #gone = false;

  private constructor(watcher: Deno.FsWatcher, dir: string, target: string) {
    this.#watcher = watcher;
    this.#iterator = watcher[Symbol.asyncIterator]();
    this.#dir = dir;
    this.#target = target;
  }

  /**
   * Starts watching; `null` when nothing can be watched (then retry on a timer).
   *
   * Each directory is `stat`ed before it is watched: a `Deno.watchFs` call
   * that races the directory's creation (the daemon's `mkdir -p`) can
   * succeed yet never report an event (Deno 2.9 resolves the watched path
   * before it adds the inotify watch; about 1 in 30 such races here). A
   * directory seen to exist first is watched with its real path.
   */
  static open(socketDir: string): DirWatcher | null {
    let dir = socketDir;
    for (;;) {
      try {
        Deno.statSync(dir);
        return new DirWatcher(Deno.watchFs(dir, { recursive: false }), dir, socketDir);
      } catch (error) {
        const parent = parentOf(dir);
        if (!(error instanceof Deno.errors.NotFound) || parent === null) return null;
        dir = parent;
      }
    }
  }

  /**
   * Whether to watch another directory instead: a directory nearer the
   * socket directory than the watched one exists now (`mkdir -p` made
   * several levels at once), or the watched one is gone (removed, then
   * perhaps made again: a new directory, which this watch never hears).
   */
  stale(): boolean {
    if (this.#gone) return true;
    for (
      let dir: string | null = this.#target;
      dir !== null && dir !== this.#dir;
      dir = parentOf(dir)
    ) {
      try {
        Deno.statSync(dir);
        return true;
      } catch {
        // Not there yet: try its parent.
      }
    }
    return false;
  }

  /** Resolves when something in the watched directory changes. */
  async changed(signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    const onAbort = (): void => this.close();
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      const next = await this.#iterator.next();
      if (next.done) throw signal.reason ?? new Error("Directory watcher closed");
      const { kind, paths } = next.value;
      if (kind === "remove" && paths.includes(this.#dir)) this.#gone = true;
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }

  /** The directory watched: the socket directory, or its nearest existing parent. */
  get dir(): string {
    return this.#dir;
  }

  close(): void {
    try {
      this.#watcher.close();
    } catch {
      // Already closed.
    }
  }
}
