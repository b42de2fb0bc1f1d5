// The patient's X25519 key from a wallet signature, signed two ways: by an ethers Wallet (CLI keystores) and by an
// EIP-1193 provider's eth_signTypedData_v4 (browser wallets). Here the EIP-1193 signer is anvil's JSON-RPC node,
// which holds the same account: both must give the same key.
// Run: node packages/crypto/examples/wallet-key.ts
import assert from "node:assert/strict";
import { JsonRpcProvider } from "ethers";
import { LOCAL_MNEMONIC, startLocalChain } from "@hygeia/chain";

const chain = await startLocalChain(); // anvil, funded from the public test mnemonic
const rpc = new JsonRpcProvider(chain.rpcUrl, undefined, { cacheTimeout: -1 });
// Stop anvil even if an assertion below fails.
const privateKey = Wallet.fromPhrase(LOCAL_MNEMONIC).privateKey; // account #0: never use on a real network

// #region ethers
import { Wallet } from "ethers";
import { deriveKeyPairFromWalletSignature, keyDerivationTypedDataForEthers } from "@hygeia/crypto";

const wallet = new Wallet(privateKey);
// types without EIP712Domain (ethers derives it from domain), so ethers' signTypedData takes them as they are
const { domain, types, message } = keyDerivationTypedDataForEthers();
const signedByEthers = await wallet.signTypedData(domain, types, message);
const fromEthers = deriveKeyPairFromWalletSignature(signedByEthers, { expectedAddress: wallet.address });
// #endregion ethers

// #region eip1193
import { deriveKeyPairFromEip1193Wallet, keyDerivationSignRequest, type Eip1193Provider } from "@hygeia/crypto";

// In a page: const provider = window.ethereum. Here: anvil's signer, behind the same one-method interface.
const provider: Eip1193Provider = { request: ({ method, params }) => rpc.send(method, [...(params ?? [])]) };
const [account] = (await provider.request({ method: "eth_requestAccounts" })) as string[];

// The raw request: eth_signTypedData_v4 with the full JSON payload (EIP712Domain and primaryType included).
const signedByWallet = await provider.request(keyDerivationSignRequest(account!));
// signedByWallet === signedByEthers: same account, same message, deterministic (RFC 6979) signatures

// Or all in one call. At onboarding, ask twice to refuse a wallet that signs differently each time.
const fromWallet = await deriveKeyPairFromEip1193Wallet(provider, account!, { confirmDeterministic: true });
// fromWallet.publicKey equals fromEthers.publicKey: the same X25519 key on every device with this wallet
// #endregion eip1193

assert.equal(account!.toLowerCase(), wallet.address.toLowerCase());
assert.equal(signedByWallet, signedByEthers);
assert.deepEqual(fromWallet.publicKey, fromEthers.publicKey);
assert.deepEqual(fromWallet.secretKey, fromEthers.secretKey);
rpc.destroy();
await chain.stop();
console.log("wallet-key: ok");
