// A real PostgreSQL server for tests (the PostgreSQL store's tests, the 3-gateway e2e and fault tests, the scale
// bench): a fresh cluster in a temp dir, on a free loopback port, removed again by stop().
//
// - Binaries: $HYGEIA_TEST_POSTGRES_BIN, else the newest /usr/lib/postgresql/<version>/bin, else `pg_config
//   --bindir`. When none is found and we are root (CI machines may be brand new), Debian's `postgresql` is
//   installed with apt-get first (without the "main" cluster its package would create and may start on 5432).
// - initdb and pg_ctl refuse to run as root: as root they run as the unprivileged `postgres` user (runuser), on a
//   temp dir chowned to it.
// - The server listens on 127.0.0.1 only (its unix socket inside the temp dir), fsync on, trust authentication:
//   for local test use only, never a configuration to copy.
// - No server is left behind: stop() removes it (call it in `after`), and every server still running when the
//   process exits (a failing test, Ctrl-C, --exit) is stopped immediately and its dir removed.
import { execFile, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  appendFileSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import getPort from "get-port";
import { Client } from "pg";

export interface TestPostgres {
  /** `postgresql://postgres@127.0.0.1:<port>/postgres`: the server's default database (trust auth, no password). */
  readonly url: string;
  readonly port: number;
  /** The cluster's data directory (inside the temp dir stop() removes). */
  readonly dataDir: string;
  /** Stops the server (fast shutdown, immediate if that fails) and removes its files. Idempotent. */
  stop(): Promise<void>;
  /** Stops the server (fast shutdown: every connection is ended) and starts it again on the same port and data. */
  restart(): Promise<void>;
  /** Creates a database (default: a fresh random name) and returns its URL. */
  createDatabase(name?: string): Promise<string>;
}

const PG_ROOT = "/usr/lib/postgresql";
const IS_ROOT = process.getuid?.() === 0;

interface Run {
  stdout: string;
  stderr: string;
}

function run(
  file: string,
  args: string[],
  options: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { timeout: options.timeoutMs ?? 120_000, env: options.env ?? process.env, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${file} ${args.join(" ")} failed: ${error.message}\n${stderr}`, { cause: error }));
        else resolve({ stdout, stderr });
      },
    );
  });
}

/**
 * runuser by its path: it lives in /usr/sbin, which a minimal PATH (CI's `env -i PATH=/usr/bin:/bin`) leaves out.
 */
const RUNUSER =
  ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser", "/bin/runuser"].find((path) => existsSync(path)) ??
  "runuser";

/** The command line that runs a PostgreSQL binary: as the `postgres` user when we are root (they refuse root). */
function asPostgres(bin: string, args: string[]): [string, string[]] {
  return IS_ROOT ? [RUNUSER, ["-u", "postgres", "--", bin, ...args]] : [bin, args];
}

function binDirWith(dir: string): string | undefined {
  return existsSync(join(dir, "initdb")) && existsSync(join(dir, "pg_ctl")) ? dir : undefined;
}

/** The newest installed server's bin dir, or undefined. */
function findBinDir(): string | undefined {
  const fromEnv = process.env["HYGEIA_TEST_POSTGRES_BIN"];
  if (fromEnv) return binDirWith(fromEnv);
  if (existsSync(PG_ROOT)) {
    const versions = readdirSync(PG_ROOT)
      .filter((name) => /^\d+(\.\d+)?$/.test(name))
      .sort((a, b) => Number(b) - Number(a));
    for (const version of versions) {
      const found = binDirWith(join(PG_ROOT, version, "bin"));
      if (found) return found;
    }
  }
  const pgConfig = spawnSync("pg_config", ["--bindir"], { encoding: "utf8" });
  return pgConfig.status === 0 ? binDirWith(pgConfig.stdout.trim()) : undefined;
}

async function installPostgres(): Promise<void> {
  if (!IS_ROOT) {
    throw new Error(
      "PostgreSQL server binaries not found: install PostgreSQL (Debian: apt-get install postgresql) or set " +
        "HYGEIA_TEST_POSTGRES_BIN to the directory holding initdb and pg_ctl",
    );
  }
  // The package's postinst would create a "main" cluster (and may start it on 5432): the tests run their own.
  mkdirSync("/etc/postgresql-common/createcluster.d", { recursive: true });
  writeFileSync("/etc/postgresql-common/createcluster.d/hygeia-tests.conf", "create_main_cluster = false\n");
  // dpkg and the package scripts need the sbin directories, which a minimal PATH leaves out.
  const env = {
    ...process.env,
    DEBIAN_FRONTEND: "noninteractive",
    PATH: `${process.env.PATH ?? "/usr/bin:/bin"}:/usr/local/sbin:/usr/sbin:/sbin`,
  };
  await run("apt-get", ["update"], { env, timeoutMs: 600_000 });
  await run("apt-get", ["install", "-y", "postgresql"], { env, timeoutMs: 900_000 });
}

let binDir: Promise<string> | undefined;

/** The bin dir, installing PostgreSQL first when needed (once per process). */
function postgresBinDir(): Promise<string> {
  binDir ??= (async () => {
    const found = findBinDir();
    if (found) return found;
    await installPostgres();
    const installed = findBinDir();
    if (!installed) throw new Error(`apt-get installed postgresql, but no ${PG_ROOT}/<version>/bin holds initdb`);
    return installed;
  })();
  binDir.catch(() => (binDir = undefined)); // a failed install may be retried by the next caller
  return binDir;
}

function postgresOwner(): { uid: number; gid: number } {
  const id = (flag: string) => spawnSync("id", [flag, "postgres"], { encoding: "utf8" });
  const uid = id("-u");
  const gid = id("-g");
  if (uid.status !== 0 || gid.status !== 0) throw new Error("there is no `postgres` user to run the server as");
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** Servers of this process not yet stopped: stopped at exit whatever happened. */
const running = new Set<Server>();
let exitHooked = false;

function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.on("exit", () => {
    for (const server of running) server.stopNow();
  });
  // A signal's default action would skip the 'exit' event: stop the servers, then exit as the signal would.
  for (const [signal, code] of [
    ["SIGINT", 130],
    ["SIGTERM", 143],
    ["SIGHUP", 129],
  ] as const) {
    process.once(signal, () => {
      for (const server of running) server.stopNow();
      process.exit(code);
    });
  }
}

class Server implements TestPostgres {
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  readonly #dir: string;
  readonly #bin: string;
  readonly #log: string;
  #stopping: Promise<void> | undefined;

  constructor(bin: string, dir: string, port: number) {
    this.#bin = bin;
    this.#dir = dir;
    this.port = port;
    this.dataDir = join(dir, "data");
    this.#log = join(dir, "server.log");
    this.url = `postgresql://postgres@127.0.0.1:${port}/postgres`;
  }

  #pg(tool: string, args: string[]): [string, string[]] {
    return asPostgres(join(this.#bin, tool), args);
  }

  async init(): Promise<void> {
    await run(...this.#pg("initdb", ["-D", this.dataDir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C"]));
    appendFileSync(
      join(this.dataDir, "postgresql.conf"),
      [
        "",
        "# hygeia tests: loopback only, the socket in the temp dir, durable commits",
        "listen_addresses = '127.0.0.1'",
        `port = ${this.port}`,
        `unix_socket_directories = '${this.#dir}'`,
        "fsync = on",
        "synchronous_commit = on",
        "max_connections = 200",
        "",
      ].join("\n"),
    );
  }

  async start(): Promise<void> {
    await this.#pgCtl(["start", "-w", "-t", "60", "-l", this.#log]);
  }

  async #pgCtl(args: string[]): Promise<void> {
    try {
      await run(...this.#pg("pg_ctl", ["-D", this.dataDir, ...args]));
    } catch (error) {
      const log = existsSync(this.#log) ? readFileSync(this.#log, "utf8").split("\n").slice(-20).join("\n") : "";
      throw new Error(`pg_ctl ${args[0]} failed (port ${this.port}); server log:\n${log}`, { cause: error });
    }
  }

  async restart(): Promise<void> {
    await this.#pgCtl(["restart", "-m", "fast", "-w", "-t", "60", "-l", this.#log]);
  }

  async createDatabase(name: string = `t_${randomBytes(6).toString("hex")}`): Promise<string> {
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`not a plain database name: ${name}`);
    const client = new Client({ connectionString: this.url });
    await client.connect();
    try {
      await client.query(`CREATE DATABASE "${name}"`);
    } finally {
      await client.end();
    }
    return `postgresql://postgres@127.0.0.1:${this.port}/${name}`;
  }

  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      try {
        await this.#pgCtl(["stop", "-m", "fast", "-w", "-t", "30"]);
      } catch {
        await this.#pgCtl(["stop", "-m", "immediate", "-w", "-t", "30"]).catch(() => undefined);
      }
      running.delete(this);
      rmSync(this.#dir, { recursive: true, force: true });
    })();
    return this.#stopping;
  }

  /** Synchronous, for the exit hook: immediate shutdown, then the files go. */
  stopNow(): void {
    running.delete(this);
    spawnSync(...this.#pg("pg_ctl", ["-D", this.dataDir, "stop", "-m", "immediate", "-w", "-t", "10"]), {
      stdio: "ignore",
    });
    rmSync(this.#dir, { recursive: true, force: true });
  }
}

/** A fresh temp dir the server may write (owned by `postgres` when we are root). */
function serverDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "hygeia-pg-"));
  if (IS_ROOT) {
    const { uid, gid } = postgresOwner();
    chownSync(dir, uid, gid);
  }
  return dir;
}

/** Starts a PostgreSQL server of its own for the caller (see the rules at the top); stop() it in `after`. */
export async function startPostgres(): Promise<TestPostgres> {
  const bin = await postgresBinDir();
  hookExit();
  let lastError: unknown;
  // A free port may be taken by someone else before the server binds it: try another.
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const dir = serverDir();
    const server = new Server(bin, dir, await getPort({ host: "127.0.0.1" }));
    running.add(server);
    try {
      await server.init();
      await server.start();
      return server;
    } catch (error) {
      lastError = error;
      await server.stop().catch(() => undefined);
      running.delete(server);
      rmSync(dir, { recursive: true, force: true });
    }
  }
  throw lastError;
}
