import { DaemonAlreadyRunningError, UnsafeSocketDirError } from "./errors.ts";

/** The held lock; release it with `release()`. */
export interface DirLock {
  path: string;
  release(): void;
}

/** What {@linkcode prepareDir} found and did. */
export interface PreparedDir {
  /** The uid of this process, as the file system sees it (`null` where it has none). */
  uid: number | null;
  /**
   * Entries owned by another user that were removed from a directory that
   * was writable by group or others (they may have been planted).
   */
  removed: string[];
}

/**
 * Creates the directory (mode 0700, with parents) and checks that it is
 * ours: its uid must equal that of a file we have just created in it (no
 * `--allow-sys` needed), and a mode open to group or others is narrowed to
 * 0700, or refused when that fails. A directory that was writable by group
 * or others may hold files another user planted (a `daemon.lock` or
 * `state.db` symlink pointing at a victim file): once narrowed, every entry
 * owned by another user is removed, and the names are returned for the log.
 */
export async function prepareDir(dir: string, what: string): Promise<PreparedDir> {
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  let uid: number | null;
  try {
    const probe = await Deno.makeTempFile({ dir, prefix: ".probe-" });
    try {
      uid = (await Deno.lstat(probe)).uid;
    } finally {
      await Deno.remove(probe).catch(() => {});
    }
  } catch (cause) {
    if (cause instanceof Deno.errors.PermissionDenied) {
      throw new UnsafeSocketDirError(
        `Cannot use ${what} '${dir}': it is not writable by this user`,
        { cause },
      );
    }
    throw cause;
  }
  const info = await Deno.stat(dir);
  if (!info.isDirectory) {
    throw new UnsafeSocketDirError(`Cannot use ${what} '${dir}': it is not a directory`);
  }
  if (uid !== null && info.uid !== null && info.uid !== uid) {
    throw new UnsafeSocketDirError(
      `Cannot use ${what} '${dir}': expected it to be owned by uid ${uid}, received uid ${info.uid}`,
    );
  }
  const removed: string[] = [];
  if (info.mode !== null && (info.mode & 0o077) !== 0) {
    const mode = (info.mode & 0o777).toString(8);
    try {
      await Deno.chmod(dir, 0o700);
    } catch (cause) {
      throw new UnsafeSocketDirError(
        `Cannot use ${what} '${dir}': mode ${mode} lets group or others in and cannot be changed to 700`,
        { cause },
      );
    }
    // Narrowed first, so nobody else can add entries while we look.
    if ((info.mode & 0o022) !== 0 && uid !== null) {
      for await (const entry of Deno.readDir(dir)) {
        const path = `${dir}/${entry.name}`;
        const found = await Deno.lstat(path).catch(() => null);
        if (found === null || found.uid === null || found.uid === uid) continue;
        try {
          await Deno.remove(path, { recursive: true });
        } catch (cause) {
          throw new UnsafeSocketDirError(
            `Cannot use ${what} '${dir}': it was mode ${mode} (writable by others) and holds '${entry.name}', owned by uid ${found.uid}, which cannot be removed`,
            { cause },
          );
        }
        removed.push(entry.name);
      }
    }
  }
  return { uid, removed };
}

/** The kind of file a path must be, when it exists. */
export type EntryKind = "file" | "socket";

/**
 * Checks, without following links, that `path` is absent or is a `kind` of
 * file owned by `uid` with no other hard link: the daemon never opens its
 * lock, database or sockets through a link someone planted.
 *
 * @returns The entry's info, or `null` when the path does not exist.
 * @throws {UnsafeSocketDirError} One line naming the path and what it is instead.
 */
export function assertOwnEntry(
  path: string,
  kind: EntryKind,
  uid: number | null,
): Deno.FileInfo | null {
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
  const refuse = (received: string): never => {
    throw new UnsafeSocketDirError(
      `Cannot use '${path}': expected a ${
        kind === "file" ? "regular file" : "socket"
      } of this user, received ${received}; remove it and start again`,
    );
  };
  if (info.isSymlink) {
    let target = "?";
    try {
      target = Deno.readLinkSync(path);
    } catch {
      // the kind is what matters
    }
    refuse(`a symbolic link to '${target}' (the daemon never opens its files through a link)`);
  }
  const isKind = kind === "file" ? info.isFile : info.isSocket === true;
  if (!isKind) refuse(describeKind(info));
  if (uid !== null && info.uid !== null && info.uid !== uid) {
    refuse(`a file owned by uid ${info.uid}`);
  }
  if (kind === "file" && info.nlink !== null && info.nlink > 1) {
    refuse(`a file with ${info.nlink} hard links`);
  }
  return info;
}

function describeKind(info: Deno.FileInfo): string {
  if (info.isDirectory) return "a directory";
  if (info.isFile) return "a regular file";
  if (info.isSocket) return "a socket";
  if (info.isFifo) return "a named pipe";
  if (info.isCharDevice || info.isBlockDevice) return "a device";
  return "an unknown kind of file";
}

/**
 * Takes the single-instance lock: an exclusive advisory lock on
 * `<dir>/<name>`, holding the daemon's pid. Throws
 * {@linkcode DaemonAlreadyRunningError} without touching anything else when
 * another process holds it, and {@linkcode UnsafeSocketDirError} when the
 * path is a link or not a plain file of ours (the file opened is checked to
 * be the one at the path, so a link swapped in between is caught too).
 */
export async function acquireLock(
  dir: string,
  name: string,
  uid: number | null = null,
): Promise<DirLock> {
  const path = `${dir}/${name}`;
  let file: Deno.FsFile | null = null;
  // A daemon stopping removes its lock file before unlocking it: a lock
  // taken on that unlinked file locks nothing, so take it again on the new one.
  for (let attempt = 0; attempt < 3 && file === null; attempt++) {
    assertOwnEntry(path, "file", uid);
    const opened = await Deno.open(path, { read: true, write: true, create: true, mode: 0o600 });
    let locked = false;
    try {
      const info = await opened.stat();
      const same = (): boolean => {
        const atPath = assertOwnEntry(path, "file", uid);
        return atPath !== null && atPath.ino === info.ino && atPath.dev === info.dev;
      };
      if (!same()) {
        throw new UnsafeSocketDirError(
          `Cannot use '${path}': the file changed while it was opened; remove it and start again`,
        );
      }
      locked = await opened.tryLock(true);
      if (locked && !same()) {
        locked = false;
        continue;
      }
    } finally {
      if (locked) file = opened;
      else opened.close();
    }
    if (!locked) break;
  }
  if (file === null) {
    const pid = (await Deno.readTextFile(path).catch(() => "")).trim();
    throw new DaemonAlreadyRunningError(
      `Cannot start daemon: another daemon${pid ? ` (pid ${pid})` : ""} holds the lock '${path}'`,
    );
  }
  const held: Deno.FsFile = file;
  await held.truncate(0);
  await held.write(new TextEncoder().encode(`${Deno.pid}\n`));
  let released = false;
  return {
    path,
    release(): void {
      if (released) return;
      released = true;
      try {
        Deno.removeSync(path);
      } catch {
        // already gone
      }
      try {
        held.unlockSync();
      } catch {
        // closing releases it anyway
      }
      held.close();
    },
  };
}

/** Removes socket files that a previous daemon left (call with the lock held). */
export async function removeLeftoverSockets(
  dir: string,
  isOurs: (name: string) => boolean,
): Promise<string[]> {
  const removed: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (!isOurs(entry.name)) continue;
    const path = `${dir}/${entry.name}`;
    const info = await Deno.lstat(path).catch(() => null);
    if (info?.isSocket) {
      await Deno.remove(path).catch(() => {});
      removed.push(entry.name);
    }
  }
  return removed;
}

/** Waits (bounded) until none of `paths` exists: closing a Unix listener removes its file a moment later. */
export async function waitUntilGone(paths: string[], maxMs: number): Promise<void> {
  const deadline = Date.now() + maxMs;
  for (const path of paths) {
    while (Date.now() < deadline) {
      try {
        await Deno.lstat(path);
      } catch {
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
}
