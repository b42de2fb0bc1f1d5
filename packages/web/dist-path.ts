// Where the built pages are (`npm run build -w @hygeia/web`, run by `npm start` and `npm test`): the gateway serves
// this directory at `/`.
import { fileURLToPath } from "node:url";

export const WEB_DIST_DIR = fileURLToPath(new URL("./dist/", import.meta.url));
