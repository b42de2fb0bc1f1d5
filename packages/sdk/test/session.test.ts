// Connecting and signing in against the real stack (anvil + Helia + the SQLite gateway on a socket): the session
// lives on the shared transport, signing out ends it at the gateway, and a chain that is down or another chain is
// named before anything else happens.
import { expect } from "chai";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { startTestStack, type TestStack } from "../../gateway/test/support/stack.ts";
import {
  GatewayProblemError,
  HygeiaConnection,
  HygeiaSdkError,
  ServiceUnreachableError,
  currentSession,
  signIn,
  signOut,
} from "../src/index.ts";

describe("sdk connection and sign-in", function () {
  let stack: TestStack;
  before(async function () {
    stack = await startTestStack();
  });
  after(async function () {
    await stack?.close();
  });

  it("signs in with SIWE, keeps the token on the transport, and signing out ends the session", async function () {
    const connection = await HygeiaConnection.open({
      gatewayUrl: stack.url,
      rpcUrl: stack.local.rpcUrl,
      deployment: stack.deployment,
    });
    try {
      const session = await signIn(connection.transport, stack.accounts.alice);
      expect(session.address).to.equal(stack.accounts.alice.address.toLowerCase());
      expect(connection.transport.token).to.equal(session.token);
      const info = await currentSession(connection.transport);
      expect(info).to.include({ address: session.address });
      expect(info.roles).to.deep.equal([]);

      const token = session.token;
      await signOut(connection.transport);
      expect(connection.transport.token).to.equal(undefined);
      connection.transport.token = token; // the old token is refused from now on
      const error = await currentSession(connection.transport).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(GatewayProblemError);
      expect([(error as GatewayProblemError).code, (error as GatewayProblemError).kind]).to.deep.equal([
        "SESSION_REVOKED",
        "auth",
      ]);
    } finally {
      connection.close();
    }
  });

  it("names the chain and the URL tried when the RPC URL does not answer", async function () {
    const error = await HygeiaConnection.open({
      gatewayUrl: stack.url,
      rpcUrl: "http://127.0.0.1:9", // discard port: nothing listens
      deployment: stack.deployment,
      timeoutMs: 2000,
    }).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(ServiceUnreachableError);
    expect((error as ServiceUnreachableError).service).to.equal("chain");
    expect((error as Error).message).to.include("http://127.0.0.1:9");
  });

  it("gives up on a chain that accepts the connection but never answers, within the timeout", async function () {
    const silent = createServer(() => undefined); // holds every request open
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const rpcUrl = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    try {
      const started = Date.now();
      const error = await HygeiaConnection.open({
        gatewayUrl: stack.url,
        rpcUrl,
        deployment: stack.deployment,
        timeoutMs: 500,
      }).catch((e: unknown) => e);
      expect(Date.now() - started).to.be.below(5000);
      expect(error).to.be.instanceOf(ServiceUnreachableError);
      expect((error as ServiceUnreachableError).url).to.equal(rpcUrl);
    } finally {
      silent.closeAllConnections();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it("refuses a deployment of another chain than the RPC URL serves", async function () {
    const error = await HygeiaConnection.open({
      gatewayUrl: stack.url,
      rpcUrl: stack.local.rpcUrl,
      deployment: { ...stack.deployment, chainId: 1 },
    }).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(HygeiaSdkError);
    expect((error as HygeiaSdkError).code).to.equal("WRONG_CHAIN");
    expect((error as HygeiaSdkError).hint).to.include("--rpc");
  });
});
