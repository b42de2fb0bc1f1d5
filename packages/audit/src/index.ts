// @hygeia/audit: the package's single public entry. Pure: no I/O, no Node built-ins (the web page imports it).
export * from "./event.ts";
export * from "./merkle.ts";
export * from "./checkpoint.ts";
export { fromBase64, fromHex, toBase64, toHex } from "./base64.ts";
export * from "./verify.ts";
