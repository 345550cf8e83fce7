/**
 * Item 3a of issue 12: a length header announcing 1 MiB must not make the
 * daemon hold 1 MiB per connection before the bytes arrive.
 *
 * @module
 */

import assert from "node:assert/strict";
import { RawClient, withTmpDir } from "../_helpers.ts";
import {
  assertExchange,
  counters,
  type Obj,
  rssKiB,
  sleep,
  spawnDaemon,
  startDaemon,
  until,
} from "./_fixture.ts";

const CONNECTIONS = 200;

Deno.test(`${CONNECTIONS} connections that each announce a 1 MiB frame and send 100 bytes of it hold buffers for what arrived, not for 1 MiB each`, async () => {
  await using d = await startDaemon();
  const conns: Deno.UnixConn[] = [];
  try {
    const start = new Uint8Array(4 + 100);
    new DataView(start.buffer).setUint32(0, 1024 * 1024);
    start.fill(0x20, 4);
    const before = Deno.memoryUsage().external;
    for (let i = 0; i < CONNECTIONS; i++) {
      const path = d.sock(i % 2 === 0 ? "command.sock" : "query.sock");
      const conn = await Deno.connect({ transport: "unix", path });
      conns.push(conn);
      await conn.write(start);
    }
    await sleep(300);
    // ArrayBuffers count here whether or not their pages were touched: this
    // is what the daemon asked for, and what a longer attack fills in.
    const perConnection = (Deno.memoryUsage().external - before) / CONNECTIONS / 1024;
    // deno-lint-ignore no-console
    console.log(`${perConnection.toFixed(0)} KiB of buffers per half-sent 1 MiB frame`);
    // Read buffers are 64 KiB per publisher and 16 KiB per query client; a
    // body buffer of the announced length would add 1024 KiB.
    assert.ok(perConnection < 200, `${perConnection.toFixed(0)} KiB a connection`);
  } finally {
    for (const conn of conns) conn.close();
  }
});

Deno.test("Half-received frames past --max-partial-bytes together close the connection that went over, and the rest go on", async () => {
  await using d = await startDaemon({ maxPartialFrameBytes: 1024 * 1024, eventTypes: ["ok"] });
  const conns: Deno.UnixConn[] = [];
  try {
    const start = new Uint8Array(4 + 100 * 1024);
    new DataView(start.buffer).setUint32(0, 1024 * 1024);
    start.fill(0x20, 4);
    for (let i = 0; i < 20; i++) {
      const conn = await Deno.connect({ transport: "unix", path: d.sock("command.sock") });
      conns.push(conn);
      await conn.write(start);
    }
    await until(async () => {
      const c = await counters(d.sock("query.sock"));
      return ((c.bad_frames as Obj).partial_bytes_limit as number ?? 0) >= 10;
    }, "connections over the cap to be closed");
    const c = await counters(d.sock("query.sock"));
    // 100 KiB each (128 KiB of buffer): at most 8 fit under 1 MiB.
    assert.ok((c.publishers_connected as number) <= 9, JSON.stringify(c));
    await assertExchange(d, "ok");
  } finally {
    for (const conn of conns) conn.close();
  }
});

Deno.test("A frame not completed within --frame-timeout closes its connection and is counted; a complete one is not", async () => {
  await using d = await startDaemon({ frameTimeout: 300, eventTypes: ["after"] });
  using slow = await RawClient.connect(d.sock("command.sock"));
  using query = await RawClient.connect(d.sock("query.sock"));
  const header = new Uint8Array([0, 0, 1, 0, 0x7b]);
  await slow.conn.write(header);
  await query.conn.write(header);
  assert.ok(await slow.closedByPeer(3000), "the half-sent frame's connection stayed open");
  assert.ok(await query.closedByPeer(3000), "the half-sent query's connection stayed open");
  const c = await counters(d.sock("query.sock"));
  assert.equal((c.bad_frames as Obj).frame_timeout, 2);
  assert.equal((c.bad_frames as Obj).frame_truncated, undefined, "counted twice");
  await assertExchange(d, "after");
});

Deno.test("The partial-frame attack (2000 connections, 1 MiB headers, 1 KiB sent): RSS stays bounded and every connection is closed at the frame timeout", async () => {
  await using tmp = await withTmpDir();
  const socketDir = `${tmp.path}/sockets`;
  await using daemon = await spawnDaemon(socketDir, `${tmp.path}/state`, [
    "--frame-timeout",
    "3",
    "--max-connections",
    "4000",
  ]);
  await sleep(300);
  const before = await rssKiB(daemon.pid);
  const conns: Deno.UnixConn[] = [];
  try {
    const start = new Uint8Array(4 + 1024);
    new DataView(start.buffer).setUint32(0, 1024 * 1024);
    start.fill(0x20, 4);
    for (let i = 0; i < 2000; i++) {
      const path = `${socketDir}/${i % 2 === 0 ? "command" : "query"}.sock`;
      const conn = await Deno.connect({ transport: "unix", path });
      conns.push(conn);
      await conn.write(start);
    }
    await sleep(500);
    const during = await rssKiB(daemon.pid);
    await until(
      async () => {
        const c = await counters(`${socketDir}/query.sock`);
        return ((c.bad_frames as Obj).frame_timeout as number ?? 0) >= 2000;
      },
      "the frame timeout to close them",
      15_000,
    );
    const after = await rssKiB(daemon.pid);
    // deno-lint-ignore no-console
    console.log(
      `partial-frame attack, 2000 connections: RSS ${Math.round(before / 1024)} MiB before, ` +
        `${Math.round(during / 1024)} MiB during, ${
          Math.round(after / 1024)
        } MiB after the 3 s frame timeout`,
    );
    assert.ok(during - before < 400 * 1024, `RSS grew ${Math.round((during - before) / 1024)} MiB`);
    const c = await counters(`${socketDir}/query.sock`);
    assert.equal(c.publishers_connected, 0);
  } finally {
    for (const conn of conns) conn.close();
  }
});
