/**
 * Item 3a of issue 12: a length header announcing 1 MiB must not make the
 * daemon hold 1 MiB per connection before the bytes arrive.
 *
 * @module
 */

import assert from "node:assert/strict";
import { sleep, startDaemon } from "./_fixture.ts";

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
