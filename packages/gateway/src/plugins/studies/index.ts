// Research studies (registered under /v1 by the records plugin, whose upload staging contributions use): serving
// a registered study once its ethics approval verifies, patients' encrypted contributions, the researcher's
// consent-checked dataset pull with its signed manifest.
//
// The gateway sees no plaintext here either: a contribution is a CID, an opaque scope id and a wrap sealed to the
// study's key; the de-identification happens in the patient's wallet before encryption.
import type { FastifyBaseLogger, FastifyInstance, RawServerDefault } from "fastify";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import type { UploadStaging } from "../records/staging.ts";
import { contributionRoutes } from "./contributions.ts";
import { datasetRoutes } from "./dataset.ts";
import { studyRoutes } from "./studies.ts";
import { aggregateRoutes } from "./aggregates.ts";
import { StudyTallies } from "./tally.ts";
import { loadSharedKey } from "../../auth/tokens.ts";

export type StudiesApp = FastifyInstance<
  RawServerDefault,
  IncomingMessage,
  ServerResponse,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

export interface StudiesPluginOptions {
  /** The records plugin's upload staging: a contribution is a staged upload registered to a study. */
  staging: UploadStaging;
}

export async function studiesPlugin(root: FastifyInstance, options: StudiesPluginOptions): Promise<void> {
  const app = root.withTypeProvider<TypeBoxTypeProvider>();
  const tallies = new StudyTallies(
    await loadSharedKey(
      app.config.dataDir,
      app.config.gatewaySecret,
      "tally",
      "every study's encrypted facts become uncountable (the gateway's share of each tally key is derived from it)",
    ),
    app.services.now,
  );
  studyRoutes(app, tallies);
  contributionRoutes(app, options.staging, tallies);
  datasetRoutes(app);
  aggregateRoutes(app, tallies);
}
