// A study aggregate across two gateways on one PostgreSQL database, as a round-robin load balancer sends it: step 1
// (the encrypted sums, a query id) at one gateway, step 2 (the researcher's partials) at the other. The open query
// lives in the shared store, so the counts come out whichever gateway finishes it; it is still single use across
// both, and the open-query limits count both gateways' queries together.
import { expect } from "chai";
import { Wallet } from "ethers";
import { partialDecrypt } from "@hygeia/crypto";
import { partialContext } from "@hygeia/research";
import { startPostgres, type TestPostgres } from "../support/postgres.ts";
import { startMoreGateway, startTestStack, type MoreGateway, type TestStack } from "../support/stack.ts";
import { closeAuthWorld, presentRole, signIn } from "../support/auth.ts";
import { expectProblem, request, type TestResponse } from "../support/http.ts";
import { party } from "../records/world.ts";
import {
  approve,
  contributor,
  irbOf,
  optIn,
  registerStudy,
  serveStudy,
  type Irb,
  type Study,
} from "../studies/world.ts";

const SECRET = "shared-session-secret-of-the-test-gateways-0123456789";
const B_ACCOUNT = 10;
const SEX = "aggregate:sex:female,male,other,unknown";
const K = 3;

type Gateway = TestStack | MoreGateway;

describe("a study aggregate across two gateways sharing one PostgreSQL database", function () {
  this.timeout(300_000);
  let postgres: TestPostgres;
  let stack: TestStack;
  let b: MoreGateway;
  let irb: Irb;
  let token: string;
  let study: Study;

  /** Step 1 at `gateway`: the query id and its encrypted sums. */
  async function openAt(gateway: Gateway): Promise<{ queryId: string; sums: string[] }> {
    const res = await request(gateway, "POST", `/v1/studies/${study.studyId}/aggregates`, {
      token,
      json: { dimension: "sex" },
    });
    expect(res.status, res.text).to.equal(200);
    return res.json as { queryId: string; sums: string[] };
  }

  /** Step 2 at `gateway`: the researcher's partial decryption of each sum. */
  function finishAt(gateway: Gateway, query: { queryId: string; sums: string[] }): Promise<TestResponse> {
    const partials = query.sums.map((sum, j) => {
      const { partial, proof } = partialDecrypt(
        study.tally,
        Buffer.from(sum, "base64url"),
        partialContext(query.queryId, j),
      );
      return { partial: Buffer.from(partial).toString("base64url"), proof: Buffer.from(proof).toString("base64url") };
    });
    return request(gateway, "POST", `/v1/studies/${study.studyId}/aggregates/${query.queryId}`, {
      token,
      json: { partials },
    });
  }

  before(async function () {
    postgres = await startPostgres();
    stack = await startTestStack({
      config: {
        database: { url: await postgres.createDatabase() },
        sessions: { secret: SECRET },
        gatewaySecret: `${SECRET}-keys`,
        research: { minCell: K },
        audit: { anchorEveryMs: 86_400_000, anchorEveryEvents: 1_000_000 },
      },
      moreGatewayAccounts: [B_ACCOUNT, B_ACCOUNT + 1],
    });
    b = await startMoreGateway(stack, { account: B_ACCOUNT, origin: "hygeia.test/gateway-b" });
    irb = await irbOf(stack, stack.accounts.irb);
    token = await signIn(stack, stack.accounts.researcher);
    await presentRole(stack, token, stack.accounts.researcher, "researcher");
    study = await registerStudy(
      stack,
      stack.accounts.researcher,
      await approve(irb, stack.accounts.researcher, "scale-counts-2026"),
      {
        scopes: ["fhir:Patient", SEX],
      },
    );
    const served = await serveStudy(stack, token, study);
    expect(served.status, served.text).to.equal(201);
    // 3 female, 3 male: both cells at least k.
    const researcher = stack.accounts.researcher.address.toLowerCase();
    for (const [i, sex] of [0, 0, 0, 1, 1, 1].entries()) {
      const wallet = Wallet.createRandom().connect(stack.provider);
      await stack.provider.send("anvil_setBalance", [wallet.address, "0xde0b6b3a7640000"]);
      const patient = contributor(party(wallet, await signIn(stack, wallet)), 300 + i);
      await optIn(stack, patient, study, researcher, { facts: { sex } });
    }
    await b.services.chain.indexer.sync(); // B checks the consents again at step 2: it must have seen the grants
  });

  after(async function () {
    await irb?.agent.close();
    if (stack) await closeAuthWorld(stack);
    await b?.close();
    await stack?.close();
    await postgres?.stop();
  });

  const counts = { dimension: "sex", cells: { female: 3, male: 3, other: 0, unknown: 0 }, total: 6, k: K };

  it("releases the counts when step 1 goes to one gateway and step 2 to the other, either way round", async function () {
    const atB = await finishAt(b, await openAt(stack));
    expect(atB.status, atB.text).to.equal(200);
    expect(atB.json).to.deep.equal(counts);
    const atA = await finishAt(stack, await openAt(b));
    expect(atA.status, atA.text).to.equal(200);
    expect(atA.json).to.deep.equal(counts);
  });

  it("finishes a query once across both gateways: of step 2 sent to both at once, one releases", async function () {
    for (let round = 0; round < 3; round++) {
      const query = await openAt(round % 2 === 0 ? stack : b);
      const answers = await Promise.all([finishAt(stack, query), finishAt(b, query), finishAt(b, query)]);
      expect(answers.map((res) => res.status).sort()).to.deep.equal([200, 404, 404]);
      for (const res of answers.filter((res) => res.status !== 200))
        expectProblem(res, 404, "AGGREGATE_QUERY_NOT_FOUND");
      expect(answers.find((res) => res.status === 200)!.json).to.deep.equal(counts);
      expectProblem(await finishAt(stack, query), 404, "AGGREGATE_QUERY_NOT_FOUND");
    }
  });

  it("counts both gateways' open queries against the study's limit (16), then answers 429 at either", async function () {
    // Last: the queries opened here stay open (five minutes) and would refuse the tests after it.
    const opened = await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        request(i % 2 === 0 ? stack : b, "POST", `/v1/studies/${study.studyId}/aggregates`, {
          token,
          json: { dimension: "sex" },
        }),
      ),
    );
    expect(opened.map((res) => res.status)).to.deep.equal(Array.from({ length: 16 }, () => 200));
    for (const gateway of [stack, b])
      expectProblem(
        await request(gateway, "POST", `/v1/studies/${study.studyId}/aggregates`, {
          token,
          json: { dimension: "sex" },
        }),
        429,
        "AGGREGATE_QUERIES_EXHAUSTED",
      );
    // Finishing one (at the gateway that did not open it) frees a place.
    const first = opened[0]!.json as { queryId: string; sums: string[] };
    expect((await finishAt(b, first)).status).to.equal(200);
    expect((await openAt(b)).queryId).to.be.a("string");
  });
});
