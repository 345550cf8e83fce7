import { DaemonAlreadyRunningError, UnsafeSocketDirError } from "./errors.ts";

/** The held lock; release it with `release()`. */
export interface DirLock {
  path: string;
  release(): void;
}

/**
 * Creates the directory (mode 0700, with parents) and checks that it is
 * ours: its uid must equal that of a file we have just created in it (no
 * `--allow-sys` needed), and a mode open to group or others is narrowed to
 * 0700, or refused when that fails.
 */
export async function prepareDir(dir: string, what: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  let uid: number | null;
  try {
    const probe = await Deno.makeTempFile({ dir, prefix: ".probe-" });
    try {
      uid = (await Deno.stat(probe)).uid;
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
  if (info.mode !== null && (info.mode & 0o077) !== 0) {
    try {
      await Deno.chmod(dir, 0o700);
    } catch (cause) {
      throw new UnsafeSocketDirError(
        `Cannot use ${what} '${dir}': mode ${
          (info.mode & 0o777).toString(8)
        } lets group or others in and cannot be changed to 700`,
        { cause },
      );
    }
  }
}

/**
 * Takes the single-instance lock: an exclusive advisory lock on
 * `<dir>/<name>`, holding the daemon's pid. Throws
 * {@linkcode DaemonAlreadyRunningError} without touching anything else when
 * another process holds it.
 */
export async function acquireLock(dir: string, name: string): Promise<DirLock> {
  const path = `${dir}/${name}`;
  const file = await Deno.open(path, { read: true, write: true, create: true, mode: 0o600 });
  let locked = false;
  try {
    locked = await file.tryLock(true);
  } finally {
    if (!locked) file.close();
  }
  if (!locked) {
    const pid = (await Deno.readTextFile(path).catch(() => "")).trim();
    throw new DaemonAlreadyRunningError(
      `Cannot start daemon: another daemon${pid ? ` (pid ${pid})` : ""} holds the lock '${path}'`,
    );
  }
  await file.truncate(0);
  await file.write(new TextEncoder().encode(`${Deno.pid}\n`));
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
        file.unlockSync();
      } catch {
        // closing releases it anyway
      }
      file.close();
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
