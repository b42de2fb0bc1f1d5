#!/usr/bin/env node
// The `hygeia` command. Node >= 22.13 runs the TypeScript sources directly (type stripping); `npm run setup` puts
// Node 24 first on the PATH of npm scripts and npx.
import "../src/main.ts";
