// The one place libsodium is loaded. Top-level await makes every API of this package synchronous to use:
// importing @hygeia/crypto resolves only once the WebAssembly module is ready.
import sodium from "libsodium-wrappers";

await sodium.ready;

export { sodium };
