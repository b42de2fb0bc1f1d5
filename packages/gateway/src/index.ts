// @hygeia/gateway: the package's single public entry.
export * from "./errors.ts";
export * from "./problems.ts";
export * from "./config.ts";
export * from "./context.ts";
export * from "./app.ts";
export * from "./config-load.ts";
export * from "./services.ts";
export * from "./schemas.ts";
export { installShutdown, shutdown, type ShutdownOptions } from "./shutdown.ts";
export {
  AuditLogClaimError,
  DATABASE_FILE,
  SqliteGatewayStore,
  StoreFailureError,
  StoreOpenError,
  openSqliteStore,
  type AuditLogClaimErrorCode,
  type SqliteStoreOptions,
  type StoreOpenErrorCode,
} from "./store/sqlite/index.ts";
export { PostgresGatewayStore, openPostgresStore, type PostgresStoreOptions } from "./store/postgres/index.ts";
export { startStoreSweeper, type StoreSweeper, type StoreSweeperOptions } from "./store/sweeper.ts";
export type * from "./store/types.ts";
export type * from "./auth/session.ts";
export type * from "./audit/types.ts";
export type * from "./notify/types.ts";
