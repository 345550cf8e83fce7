import denoJson from "../deno.json" with { type: "json" };

/** The package version, from deno.json. */
export const VERSION: string = denoJson.version;
