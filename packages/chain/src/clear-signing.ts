/**
 * ERC-7730 clear-signing descriptor of the consent messages a patient's wallet signs (`Grant`, `Revoke`,
 * `ConsentBatch`, on the ConsentRegistry's EIP-712 domain), so hardware and mobile wallets that read ERC-7730 show
 * them as sentences ("Grant access to health records: who may read, for which purpose, until when") instead of raw
 * fields. Built from the same type lists the SDK signs with (eip712.ts), so the two cannot drift apart.
 *
 * Written here rather than with a library: ERC-7730 has no npm implementation; the format is plain JSON (the v1
 * schema of the LedgerHQ/clear-signing-erc7730-registry repository, `display.formats` keyed by primary type, `fields`
 * as a list of `{ path, label, format, params }`, array elements as `[]` in paths).
 *
 * What a wallet cannot show: the scope. A scope id is keyed with the patient's secret (private-scopes.ts), so it
 * names nothing to anyone else, the wallet included: it is shown raw, and the page shows the readable scope
 * ("laboratory records") before it asks for the signature.
 */
import {
  CONSENT_BATCH_TYPES,
  CONSENT_DOMAIN_NAME,
  CONSENT_DOMAIN_VERSION,
  EIP712_DOMAIN_TYPE,
  GRANT_TYPES,
  REVOKE_TYPES,
} from "./eip712.ts";
import { PURPOSES, purposeLabel } from "./purposes.ts";

export interface Erc7730Field {
  path: string;
  label: string;
  format: "raw" | "addressName" | "date" | "enum";
  params?: Record<string, unknown>;
}

export interface Erc7730Format {
  intent: string;
  fields: Erc7730Field[];
  required: string[];
  excluded: string[];
}

export interface Erc7730Descriptor {
  $schema: string;
  context: {
    $id: string;
    eip712: {
      deployments: { chainId: number; address: string }[];
      domain: { name: string; version: string };
      schemas: { primaryType: string; types: Record<string, readonly { name: string; type: string }[]> }[];
    };
  };
  metadata: {
    owner: string;
    info: { legalName: string; url: string };
    enums: { purpose: Record<string, string> };
  };
  display: { formats: Record<"Grant" | "Revoke" | "ConsentBatch", Erc7730Format> };
}

export const ERC7730_SCHEMA_URL =
  "https://github.com/LedgerHQ/clear-signing-erc7730-registry/blob/master/specs/erc7730-v1.schema.json";

const GRANTEE = (path: string): Erc7730Field => ({
  path,
  label: "Who may read",
  format: "addressName",
  params: { types: ["eoa", "contract"], sources: ["local", "ens"] },
});
const SCOPE = (path: string): Erc7730Field => ({ path, label: "Which records (private scope id)", format: "raw" });
const PURPOSE = (path: string): Erc7730Field => ({
  path,
  label: "For",
  format: "enum",
  params: { $ref: "$.metadata.enums.purpose" },
});
const UNTIL = (path: string): Erc7730Field => ({
  path,
  label: "Until",
  format: "date",
  params: { encoding: "timestamp" },
});
const DEADLINE: Erc7730Field = {
  path: "deadline",
  label: "Sign before",
  format: "date",
  params: { encoding: "timestamp" },
};

/**
 * The descriptor for the ConsentRegistry of `deployment` (its chain and address); `owner.url` is where its operator
 * is found (the gateway passes its public URL).
 */
export function consentClearSigning(
  deployment: { chainId: number; contracts: { ConsentRegistry: string } },
  owner: { legalName: string; url: string },
): Erc7730Descriptor {
  const schema = (primaryType: string, types: Record<string, readonly { name: string; type: string }[]>) => ({
    primaryType,
    types: { EIP712Domain: EIP712_DOMAIN_TYPE, ...types },
  });
  return {
    $schema: ERC7730_SCHEMA_URL,
    context: {
      $id: "Hygeia ConsentRegistry",
      eip712: {
        deployments: [{ chainId: deployment.chainId, address: deployment.contracts.ConsentRegistry.toLowerCase() }],
        domain: { name: CONSENT_DOMAIN_NAME, version: CONSENT_DOMAIN_VERSION },
        schemas: [
          schema("Grant", GRANT_TYPES),
          schema("Revoke", REVOKE_TYPES),
          schema("ConsentBatch", CONSENT_BATCH_TYPES),
        ],
      },
    },
    metadata: {
      owner: owner.legalName,
      info: { legalName: owner.legalName, url: owner.url },
      enums: { purpose: Object.fromEntries(PURPOSES.map((purpose) => [String(purpose), purposeLabel(purpose)])) },
    },
    display: {
      formats: {
        Grant: {
          intent: "Grant access to your health records",
          fields: [GRANTEE("grantee"), SCOPE("scope"), PURPOSE("purpose"), UNTIL("expiry"), DEADLINE],
          required: ["grantee", "scope", "purpose", "expiry"],
          // The slot version makes a signature single-use: nothing for a person to check.
          excluded: ["version"],
        },
        Revoke: {
          intent: "Revoke access to your health records",
          fields: [GRANTEE("grantee"), SCOPE("scope"), PURPOSE("purpose"), DEADLINE],
          required: ["grantee", "scope", "purpose"],
          excluded: ["version"],
        },
        ConsentBatch: {
          intent: "Change who may read your health records",
          fields: [
            GRANTEE("grants.[].grantee"),
            SCOPE("grants.[].scope"),
            PURPOSE("grants.[].purpose"),
            UNTIL("grants.[].expiry"),
            { ...GRANTEE("revokes.[].grantee"), label: "No longer may read" },
            SCOPE("revokes.[].scope"),
            PURPOSE("revokes.[].purpose"),
            DEADLINE,
          ],
          required: ["grants.[].grantee", "grants.[].purpose", "grants.[].expiry", "revokes.[].grantee"],
          excluded: ["grants.[].version", "revokes.[].version"],
        },
      },
    },
  };
}
