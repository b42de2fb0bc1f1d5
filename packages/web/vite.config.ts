// The web pages' build: Preact's JSX through Vite's own transformer (no Babel preset), one entry per page, the
// SDK in a chunk of its own that the page imports only when the user connects a wallet: the first render needs
// Preact and the page, not ethers and libsodium.
import { join } from "node:path";
import { defineConfig } from "vite";

export default defineConfig({
  root: import.meta.dirname,
  base: "/",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: "dist",
    // Old hashed assets stay: a page loaded before a rebuild still finds the chunks it loads later (the SDK on
    // "Connect wallet"). index.html and the new assets replace nothing else.
    emptyOutDir: false,
    target: ["chrome111", "edge111", "firefox111", "safari16.4"],
    sourcemap: false,
    // The SDK chunk is large by nature (ethers, libsodium); the budget that matters is the initial one (build.ts).
    chunkSizeWarningLimit: 4096,
    rolldownOptions: {
      // Two pages: the patient's wallet (/) and the clinic's desk (/clinic.html).
      input: { wallet: join(import.meta.dirname, "index.html"), clinic: join(import.meta.dirname, "clinic.html") },
      // apg-js (siwe's parser) starts files with a misspelt 'use strict;' directive: harmless, and not ours to fix.
      onwarn(warning, warn) {
        if (warning.code === "MODULE_LEVEL_DIRECTIVE" && warning.id?.includes("node_modules")) return;
        warn(warning);
      },
    },
  },
});
