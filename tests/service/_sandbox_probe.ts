/**
 * Run by `sandbox_test.ts` under exactly the daemon's permission flags:
 * tries what a compromised daemon might, and prints one JSON object mapping
 * each attempt to `"ok"` or the error's class name.
 *
 * Usage: `deno run <flags> _sandbox_probe.ts SOCKET_DIR STATE_DIR OUTSIDE_DIR`
 *
 * @module
 */

const [socketDir, stateDir, outsideDir] = Deno.args;
if (!socketDir || !stateDir || !outsideDir) {
  throw new TypeError("Cannot probe: expected SOCKET_DIR STATE_DIR OUTSIDE_DIR");
}

const results: Record<string, string> = {};

async function attempt(name: string, fn: () => unknown): Promise<void> {
  try {
    const value = await fn();
    if (value && typeof value === "object" && "close" in value) {
      (value as { close(): void }).close();
    }
    results[name] = "ok";
  } catch (err) {
    results[name] = err instanceof Error ? err.name : String(err);
  }
}

// Allowed: its own directories, Unix sockets there, the env it needs.
await attempt("write socket dir", () => Deno.writeTextFile(`${socketDir}/probe.txt`, "x"));
await attempt("read socket dir", () => Deno.readTextFile(`${socketDir}/probe.txt`));
await attempt("write state dir", () => Deno.writeTextFile(`${stateDir}/probe.txt`, "x"));
await attempt("read state dir", () => Deno.readTextFile(`${stateDir}/probe.txt`));
await attempt(
  "listen unix in socket dir",
  () => Deno.listen({ transport: "unix", path: `${socketDir}/p.sock` }),
);
await attempt("read env HOME", () => Deno.env.get("HOME"));

// Refused: anything outside them, TCP, subprocesses, ffi, sys, other env.
await attempt("read outside file", () => Deno.readTextFile(`${outsideDir}/secret.txt`));
await attempt("read /etc/passwd", () => Deno.readTextFile("/etc/passwd"));
await attempt("write outside file", () => Deno.writeTextFile(`${outsideDir}/written.txt`, "x"));
await attempt(
  "write parent of socket dir",
  () => Deno.writeTextFile(`${socketDir}/../escape.txt`, "x"),
);
await attempt(
  "listen unix outside",
  () => Deno.listen({ transport: "unix", path: `${outsideDir}/evil.sock` }),
);
await attempt("listen tcp 127.0.0.1", () => Deno.listen({ hostname: "127.0.0.1", port: 0 }));
await attempt("listen tcp 0.0.0.0", () => Deno.listen({ hostname: "0.0.0.0", port: 0 }));
await attempt("listen tcp [::1]", () => Deno.listen({ hostname: "::1", port: 0 }));
await attempt("listen tcp [::]", () => Deno.listen({ hostname: "::", port: 0 }));
await attempt("connect tcp 1.1.1.1:443", () => Deno.connect({ hostname: "1.1.1.1", port: 443 }));
await attempt("connect tcp localhost", () => Deno.connect({ hostname: "localhost", port: 9 }));
await attempt(
  "connect tcp ::ffff:127.0.0.1",
  () => Deno.connect({ hostname: "::ffff:127.0.0.1", port: 9 }),
);
await attempt("fetch http://127.0.0.1:8080", async () => {
  const res = await fetch("http://127.0.0.1:8080/");
  await res.body?.cancel();
});
await attempt("resolve dns", () => Deno.resolveDns("example.com", "A"));
await attempt("run subprocess", () => new Deno.Command("true").output());
await attempt("read env PATH", () => Deno.env.get("PATH"));
await attempt("sys hostname", () => Deno.hostname());
await attempt("ffi dlopen", () => Deno.dlopen("libc.so.6", {}));

// deno-lint-ignore no-console
console.log(JSON.stringify(results));
