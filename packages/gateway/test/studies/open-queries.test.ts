// Break-it: open aggregate queries are capped at 1,000 for the whole gateway (tally.ts MAX_OPEN_QUERIES), not per
// study or researcher. One researcher opening step-1 queries of its own study (and never finishing them) fills
// the cap for five minutes (QUERY_TTL_MS), and every other study's researcher gets 429
// AGGREGATE_QUERIES_EXHAUSTED. 1,000 queries per 5 minutes is 200 a minute: under the default per-session limit
// (300 a minute), so one session keeps it full for good.
//
// It failed before the per-study cap (break-it review); it now pins it.
import { expect } from "chai";
import { startTestStack, type TestStack } from "../support/stack.ts";
import { request } from "../support/http.ts";
import { closeAuthWorld, presentRole, signIn } from "../support/auth.ts";
import { approve, irbOf, registerStudy, serveStudy, type Irb } from "./world.ts";

const SEX = "aggregate:sex:female,male,other,unknown";

describe("gateway studies (break-it review): one researcher cannot exhaust every study's aggregate queries", function () {
  let stack: TestStack;
  let irb: Irb;

  before(async function () {
    stack = await startTestStack();
    irb = await irbOf(stack, stack.accounts.irb);
  });
  after(async function () {
    await irb?.agent.close();
    if (stack) await closeAuthWorld(stack);
    await stack?.close();
  });

  it("still opens a query of another researcher's study while one researcher holds many open", async function () {
    this.timeout(300_000);
    const attacker = stack.accounts.researcher;
    const victim = stack.accounts.bob; // a second researcher, with its own IRB-approved study
    const attackerToken = await signIn(stack, attacker);
    await presentRole(stack, attackerToken, attacker, "researcher");
    const victimToken = await signIn(stack, victim);
    await presentRole(stack, victimToken, victim, "researcher");
    const own = await registerStudy(stack, attacker, await approve(irb, attacker, "breakit-flood-2026"), {
      scopes: [SEX],
    });
    expect((await serveStudy(stack, attackerToken, own)).status).to.equal(201);
    const theirs = await registerStudy(stack, victim, await approve(irb, victim, "breakit-victim-2026"), {
      scopes: [SEX],
    });
    expect((await serveStudy(stack, victimToken, theirs)).status).to.equal(201);

    // The attacker opens step-1 queries of its own study and never sends step 2.
    let opened = 0;
    let refused: { status: number; json: unknown } | undefined;
    for (let batch = 0; batch < 50 && refused === undefined; batch++) {
      const answers = await Promise.all(
        Array.from({ length: 25 }, () =>
          request(stack, "POST", `/v1/studies/${own.studyId}/aggregates`, {
            token: attackerToken,
            json: { dimension: "sex" },
          }),
        ),
      );
      for (const res of answers) {
        if (res.status === 200) opened += 1;
        else refused ??= { status: res.status, json: res.json };
      }
    }
    // Capped per study: the flood stops at its own study's limit.
    expect(refused?.status, `the attacker opened ${opened} queries`).to.equal(429);
    expect(opened).to.be.below(1000);

    const res = await request(stack, "POST", `/v1/studies/${theirs.studyId}/aggregates`, {
      token: victimToken,
      json: { dimension: "sex" },
    });
    expect(
      res.status,
      `another researcher's study is refused after ${opened} queries of one study: ${res.text}`,
    ).to.equal(200);
  });
});
