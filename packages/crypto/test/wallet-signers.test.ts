// The key-derivation message signed by real signers, in the shape each one takes: ethers' Wallet.signTypedData
// (domain, types without EIP712Domain, message) and an EIP-1193 provider's eth_signTypedData_v4 (anvil's, over
// JSON-RPC: an implementation independent of ours and of ethers'). Both must give the committed vector's key.
import { readFileSync } from "node:fs";
import { expect } from "chai";
import { JsonRpcProvider, TypedDataEncoder, Wallet } from "ethers";
import { startLocalChain } from "@hygeia/chain";
import type { LocalChain } from "@hygeia/chain";
import {
  InvalidArgumentError,
  InvalidSignatureError,
  NonDeterministicSignerError,
  deriveKeyPairFromEip1193Wallet,
  deriveKeyPairFromWalletSignature,
  keyDerivationDigest,
  keyDerivationSignRequest,
  keyDerivationTypedData,
  keyDerivationTypedDataForEthers,
} from "../src/index.ts";
import type { Eip1193Provider } from "../src/index.ts";
import { expectCryptoError, hex, rejection, thrown } from "./helpers.ts";

interface DerivationVectors {
  wallet: {
    address: string;
    privateKey: string;
    cases: { keyIndex: number; signature: string; x25519PublicKey: string }[];
  };
}
const vectors = JSON.parse(
  readFileSync(new URL("vectors/derivation.json", import.meta.url), "utf8"),
) as DerivationVectors;
const { address, privateKey, cases } = vectors.wallet; // Hardhat / anvil account #0

describe("key derivation with real signers", function () {
  describe("ethers Wallet.signTypedData(domain, types, message)", function () {
    const wallet = new Wallet("0x" + privateKey);

    for (const { keyIndex, signature, x25519PublicKey } of cases) {
      it(`signs keyDerivationTypedDataForEthers(${keyIndex}) and yields the vector's key`, async function () {
        // Type-checks against ethers' parameter types as is: no casts.
        const { domain, types, message } = keyDerivationTypedDataForEthers(keyIndex);
        const signed = await wallet.signTypedData(domain, types, message);
        expect(signed).to.equal(signature);
        const keyPair = deriveKeyPairFromWalletSignature(signed, { expectedAddress: wallet.address, keyIndex });
        expect(hex(keyPair.publicKey)).to.equal(x25519PublicKey);
      });
    }

    it("hashes to keyDerivationDigest, and its eth_signTypedData_v4 payload is keyDerivationTypedData", function () {
      const { domain, types, message } = keyDerivationTypedDataForEthers(1);
      expect(TypedDataEncoder.hash(domain, types, message)).to.equal("0x" + hex(keyDerivationDigest(1)));
      const payload = TypedDataEncoder.getPayload(domain, types, message);
      // ethers writes uint values as decimal strings; wallets read both.
      expect({ ...payload, message: { ...payload.message, keyIndex: Number(payload.message.keyIndex) } }).to.deep.equal(
        keyDerivationTypedData(1),
      );
    });

    it("is refused by ethers when given the EIP-1193 payload's types (why there are two shapes)", async function () {
      const { domain, types, message } = keyDerivationTypedData();
      const error = await rejection(wallet.signTypedData(domain, types, message));
      expect((error as Error).message).to.match(/ambiguous primary types or unused types/);
    });
  });

  describe("EIP-1193 eth_signTypedData_v4 (anvil's JSON-RPC signer)", function () {
    let chain: LocalChain;
    let rpc: JsonRpcProvider;
    let provider: Eip1193Provider;
    let requests: { method: string; params?: readonly unknown[] }[];

    before(async function () {
      chain = await startLocalChain();
      rpc = new JsonRpcProvider(chain.rpcUrl, undefined, { cacheTimeout: -1 });
      // The one-function EIP-1193 shape a browser wallet (window.ethereum) exposes, over anvil's JSON-RPC.
      provider = {
        request: (args) => {
          requests.push(args);
          return rpc.send(args.method, [...(args.params ?? [])]);
        },
      };
    });
    beforeEach(() => (requests = []));
    after(async function () {
      rpc?.destroy();
      await chain?.stop();
    });

    for (const { keyIndex, signature, x25519PublicKey } of cases) {
      it(`keyDerivationSignRequest(account, ${keyIndex}) is signed like ethers signs, to the same key`, async function () {
        const signed = await provider.request(keyDerivationSignRequest(address, keyIndex));
        expect(signed).to.equal(signature);
        const keyPair = await deriveKeyPairFromEip1193Wallet(provider, address, { keyIndex });
        expect(hex(keyPair.publicKey)).to.equal(x25519PublicKey);
      });
    }

    it("asks twice when confirming the signer is deterministic, and passes for anvil (RFC 6979)", async function () {
      await deriveKeyPairFromEip1193Wallet(provider, address, { confirmDeterministic: true });
      expect(requests.map((request) => request.method)).to.deep.equal(["eth_signTypedData_v4", "eth_signTypedData_v4"]);
    });

    it("refuses a signature from another account than the one asked for", async function () {
      const other = (await rpc.send("eth_accounts", [])) as string[];
      const impostor: Eip1193Provider = {
        request: (args) => rpc.send(args.method, [other[1], ...(args.params ?? []).slice(1)]),
      };
      expectCryptoError(
        await rejection(deriveKeyPairFromEip1193Wallet(impostor, address)),
        InvalidSignatureError,
        "INVALID_SIGNATURE",
      );
    });
  });

  describe("deriveKeyPairFromEip1193Wallet input checks", function () {
    const wallet = new Wallet("0x" + privateKey);
    const signing: Eip1193Provider = {
      request: async ({ params }) => {
        const { domain, types, message } = keyDerivationTypedDataForEthers(
          (JSON.parse(String(params?.[1])) as { message: { keyIndex: number } }).message.keyIndex,
        );
        return wallet.signTypedData(domain, types, message);
      },
    };

    it("refuses a wallet whose two signatures differ", async function () {
      let calls = 0;
      // Second answer: a valid signature of the same account, but over another message (as a random-nonce
      // signer's second signature would be: valid, yet different).
      const flaky: Eip1193Provider = {
        request: async (args) => (calls++ === 0 ? signing.request(args) : cases[1]?.signature),
      };
      expectCryptoError(
        await rejection(deriveKeyPairFromEip1193Wallet(flaky, address, { confirmDeterministic: true })),
        NonDeterministicSignerError,
        "NON_DETERMINISTIC_SIGNER",
      );
    });

    it("refuses a non-string answer, a bad account, a missing provider; passes the wallet's own errors through", async function () {
      expectCryptoError(
        await rejection(deriveKeyPairFromEip1193Wallet({ request: async () => ({ r: "0x" }) }, address)),
        InvalidSignatureError,
        "INVALID_SIGNATURE",
      );
      const badAccount = await rejection(deriveKeyPairFromEip1193Wallet(signing, "0x1234"));
      expectCryptoError(badAccount, InvalidArgumentError, "INVALID_ARGUMENT");
      expect((badAccount as InvalidArgumentError).field).to.equal("account");
      const noProvider = await rejection(
        deriveKeyPairFromEip1193Wallet(undefined as unknown as Eip1193Provider, address),
      );
      expect((noProvider as InvalidArgumentError).field).to.equal("provider");
      const declined = Object.assign(new Error("User rejected the request."), { code: 4001 });
      const rejecting: Eip1193Provider = { request: () => Promise.reject(declined) };
      expect(await rejection(deriveKeyPairFromEip1193Wallet(rejecting, address))).to.equal(declined);
      expect((thrown(() => keyDerivationSignRequest(address, -1)) as InvalidArgumentError).field).to.equal("keyIndex");
    });
  });
});
