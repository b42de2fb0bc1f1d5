// The ERC-7730 descriptor of the consent messages: it describes exactly what the wallet signs (the digest a wallet
// computes from the descriptor's schema, domain and deployment is the SDK's), every field of each message is shown or
// deliberately excluded, every path names a field, and every format is one ERC-7730 defines with its parameters.
import { expect } from "chai";
import { TypedDataEncoder, Wallet } from "ethers";
import {
  Purpose,
  PURPOSES,
  buildConsentBatchTypedData,
  buildGrantTypedData,
  buildRevokeTypedData,
  consentClearSigning,
  consentDomain as mainDomain,
  purposeLabel,
  type Erc7730Descriptor,
} from "../src/index.ts";

const DEPLOYMENT = { chainId: 31337, contracts: { ConsentRegistry: "0xe7f1725e7734ce288f8367e1bb143e90bb3f0512" } };
const descriptor: Erc7730Descriptor = consentClearSigning(DEPLOYMENT, {
  legalName: "Hygeia test",
  url: "http://127.0.0.1:8787",
});
const SCOPE = `0x${"ab".repeat(32)}`;
const grantee = Wallet.createRandom().address;

type Types = Record<string, readonly { name: string; type: string }[]>;
type MutableTypes = Record<string, { name: string; type: string }[]>;

/** Every leaf path of `type` ("grants.[].grantee" for arrays of structs). */
function leafPaths(types: Types, type: string, prefix = ""): string[] {
  return types[type]!.flatMap(({ name, type: fieldType }) => {
    const path = `${prefix}${name}`;
    const element = fieldType.endsWith("[]") ? fieldType.slice(0, -2) : fieldType;
    const inner = fieldType.endsWith("[]") ? `${path}.[].` : `${path}.`;
    return types[element] ? leafPaths(types, element, inner) : [path];
  });
}

function schemaOf(primaryType: string): Types {
  const schema = descriptor.context.eip712.schemas.find((s) => s.primaryType === primaryType);
  expect(schema, primaryType).to.not.equal(undefined);
  return schema!.types;
}

describe("chain: ERC-7730 clear-signing descriptor of the consent messages", function () {
  const domain = {
    ...descriptor.context.eip712.domain,
    chainId: descriptor.context.eip712.deployments[0]!.chainId,
    verifyingContract: descriptor.context.eip712.deployments[0]!.address,
  };
  const withoutDomain = (types: Types): MutableTypes =>
    Object.fromEntries(
      Object.entries(types)
        .filter(([name]) => name !== "EIP712Domain")
        .map(([name, fields]) => [name, [...fields]]),
    );
  const consentDomain = mainDomain(DEPLOYMENT.chainId, DEPLOYMENT.contracts.ConsentRegistry);

  it("describes the very digest the SDK has the wallet sign, for Grant, Revoke and ConsentBatch", function () {
    const cases = [
      buildGrantTypedData(consentDomain, {
        grantee,
        scope: SCOPE,
        purpose: Purpose.Treatment,
        expiry: 1_900_000_000,
        version: 1,
        deadline: 1_800_000_000,
      }),
      buildRevokeTypedData(consentDomain, { grantee, scope: SCOPE, purpose: Purpose.Payment, version: 2, deadline: 1 }),
      buildConsentBatchTypedData(consentDomain, {
        grants: [{ grantee, scope: SCOPE, purpose: Purpose.Treatment, expiry: 1_900_000_000, version: 1 }],
        revokes: [{ grantee, scope: SCOPE, purpose: Purpose.Research, version: 3 }],
        deadline: 1_800_000_000,
      }),
    ];
    for (const typed of cases) {
      const signed = TypedDataEncoder.hash(typed.domain, withoutDomain(typed.types as Types), typed.message);
      const described = TypedDataEncoder.hash(domain, withoutDomain(schemaOf(typed.primaryType)), typed.message);
      expect(described, typed.primaryType).to.equal(signed);
    }
  });

  it("shows or deliberately excludes every field, and names only fields that exist", function () {
    for (const [primaryType, format] of Object.entries(descriptor.display.formats)) {
      const leaves = leafPaths(schemaOf(primaryType), primaryType);
      const shown = format.fields.map((field) => field.path);
      expect([...shown, ...format.excluded].sort(), primaryType).to.deep.equal([...leaves].sort());
      for (const path of format.required) expect(shown, `${primaryType} requires ${path}`).to.include(path);
      expect(format.intent).to.match(/health records/);
    }
  });

  it("uses ERC-7730 formats with their parameters, and names every purpose in words", function () {
    for (const format of Object.values(descriptor.display.formats))
      for (const field of format.fields) {
        expect(["raw", "addressName", "date", "enum"]).to.include(field.format);
        if (field.format === "date") expect(field.params).to.deep.equal({ encoding: "timestamp" });
        if (field.format === "enum") expect(field.params).to.deep.equal({ $ref: "$.metadata.enums.purpose" });
        expect(field.label.length).to.be.within(1, 40);
      }
    expect(descriptor.metadata.enums.purpose).to.deep.equal(
      Object.fromEntries(PURPOSES.map((purpose) => [String(purpose), purposeLabel(purpose)])),
    );
    expect(descriptor.context.eip712.deployments).to.deep.equal([
      { chainId: 31337, address: DEPLOYMENT.contracts.ConsentRegistry.toLowerCase() },
    ]);
  });
});
