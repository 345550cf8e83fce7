/**
 * Gives the Node libraries the bridge loads (MQTT.js and its dependencies
 * `debug` and `readable-stream`) an empty `process.env`. They only look for
 * optional debug switches, but `debug` lists every variable at load time,
 * which would need `--allow-env` for all of them; with this, the bridge's
 * env permission stays limited to the variables it reads itself through
 * `Deno.env`. Import it before those libraries.
 *
 * @module
 */

import process from "node:process";

Object.defineProperty(process, "env", {
  value: {},
  writable: true,
  configurable: true,
  enumerable: true,
});
