import assert from "node:assert/strict";
import { DirWatcher } from "../../monitor/_dir_watcher.ts";
import { withTmpDir } from "../_helpers.ts";

Deno.test("a directory watcher opened while the daemon makes the directory hears what is made in it", async () => {
  // Deno.watchFs on a directory created during the call can succeed and
  // stay deaf (its path is resolved before the watch is added): a
  // subscription then waited for ever for sockets that were there. Each
  // round races the watcher against `mkdir -p`, as a subscription does
  // against a starting daemon; before the fix about 1 round in 30 was deaf.
  const rounds = 200;
  let raced = 0;
  for (let round = 0; round < rounds; round++) {
    await using root = await withTmpDir();
    const target = `${root.path}/not/yet/sockets`;
    const made = Deno.mkdir(target, { recursive: true });
    let watcher: DirWatcher | null = null;
    // Open as soon as the target can be watched, as the subscription does.
    for (let spin = 0; spin < 100_000 && watcher === null; spin++) {
      const opened = DirWatcher.open(target);
      assert.ok(opened !== null, `round ${round}: nothing could be watched`);
      if (opened.dir === target) watcher = opened;
      else opened.close();
    }
    await made;
    if (watcher === null) {
      watcher = DirWatcher.open(target)!;
    } else {
      raced++;
    }
    try {
      await Deno.writeTextFile(`${target}/query.sock`, "");
      await watcher.changed(AbortSignal.timeout(2000)).catch((error) => {
        throw new Error(`round ${round}: the watcher heard nothing (${error})`);
      });
    } finally {
      watcher.close();
    }
  }
  assert.ok(raced > rounds / 2, `only ${raced} of ${rounds} rounds raced the mkdir`);
});

Deno.test("a directory watcher watches the nearest existing parent and reports when a nearer one appears", async () => {
  await using root = await withTmpDir();
  const target = `${root.path}/a/b`;
  const watcher = DirWatcher.open(target)!;
  try {
    assert.equal(watcher.dir, root.path);
    assert.equal(watcher.stale(), false);
    await Deno.mkdir(`${root.path}/a`);
    await watcher.changed(AbortSignal.timeout(2000));
    assert.equal(watcher.stale(), true);
  } finally {
    watcher.close();
  }
});

Deno.test("a directory watcher whose directory is removed reports it, and is stale", async () => {
  await using root = await withTmpDir();
  const target = `${root.path}/sockets`;
  await Deno.mkdir(target);
  const watcher = DirWatcher.open(target)!;
  try {
    assert.equal(watcher.dir, target);
    assert.equal(watcher.stale(), false);
    await Deno.remove(target);
    await watcher.changed(AbortSignal.timeout(2000));
    assert.equal(watcher.stale(), true);
    await Deno.mkdir(target); // Made again: a new directory, not the one watched.
    assert.equal(watcher.stale(), true);
  } finally {
    watcher.close();
  }
});
