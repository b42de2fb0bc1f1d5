// EIP-1271: a contract wallet signs in. The wallet is a minimal contract whose isValidSignature accepts its
// owner's EIP-191 signatures; it is compiled here with solc (the project's compiler) and deployed on the stack.
import { expect } from "chai";
import { createRequire } from "node:module";
import { ContractFactory, Wallet } from "ethers";
import { startTestStack, type TestStack } from "../support/stack.ts";
import { expectProblem, request } from "../support/http.ts";
import { getNonce, siweMessage } from "../support/auth.ts";

const SOURCE = `// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;
contract OwnerWallet {
  address public immutable owner;
  constructor(address owner_) { owner = owner_; }
  function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
    if (signature.length != 65) return 0xffffffff;
    bytes32 r = bytes32(signature[0:32]);
    bytes32 s = bytes32(signature[32:64]);
    uint8 v = uint8(signature[64]);
    return ecrecover(hash, v, r, s) == owner ? bytes4(0x1626ba7e) : bytes4(0xffffffff);
  }
}`;

interface SolcOutput {
  contracts: Record<string, Record<string, { abi: unknown[]; evm: { bytecode: { object: string } } }>>;
  errors?: { severity: string; formattedMessage: string }[];
}

function compileWallet(): { abi: unknown[]; bytecode: string } {
  const solc = createRequire(import.meta.url)("solc") as { compile(input: string): string };
  const output = JSON.parse(
    solc.compile(
      JSON.stringify({
        language: "Solidity",
        sources: { "OwnerWallet.sol": { content: SOURCE } },
        settings: { outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } } },
      }),
    ),
  ) as SolcOutput;
  const errors = (output.errors ?? []).filter((e) => e.severity === "error");
  if (errors.length > 0) throw new Error(errors.map((e) => e.formattedMessage).join("\n"));
  const wallet = output.contracts["OwnerWallet.sol"]!.OwnerWallet!;
  return { abi: wallet.abi, bytecode: `0x${wallet.evm.bytecode.object}` };
}

describe("gateway auth: contract wallets (EIP-1271)", function () {
  let stack: TestStack;
  let walletAddress: string;
  const owner = Wallet.createRandom();

  before(async function () {
    stack = await startTestStack();
    const { abi, bytecode } = compileWallet();
    const contract = await new ContractFactory(abi as never, bytecode, stack.accounts.bob).deploy(owner.address);
    await contract.waitForDeployment();
    walletAddress = await contract.getAddress();
  });
  after(async function () {
    await stack?.close();
  });

  it("signs in a contract wallet whose isValidSignature accepts the signature", async function () {
    const message = siweMessage(walletAddress, await getNonce(stack));
    const signature = await owner.signMessage(message);
    const res = await request(stack, "POST", "/v1/auth/verify", { json: { message, signature } });
    expect(res.status, res.text).to.equal(200);
    expect((res.json as { address: string }).address).to.equal(walletAddress.toLowerCase());
  });

  it("refuses a signature the contract wallet does not accept", async function () {
    const message = siweMessage(walletAddress, await getNonce(stack));
    const signature = await Wallet.createRandom().signMessage(message);
    const res = await request(stack, "POST", "/v1/auth/verify", { json: { message, signature } });
    expectProblem(res, 401, "SIWE_SIGNATURE_INVALID");
  });
});
