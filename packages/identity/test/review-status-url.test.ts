// Review of issue 16's fixes, finding 3: the status URL policy refuses local and private addresses in every
// spelling, over https too, allows plain http only to listed hosts, and hands the fetcher the parsed href.
import { expect } from "chai";
import {
  Bitstring,
  StatusListChecker,
  classifyAddress,
  isNonPublicAddress,
  statusEntry,
  statusUrlProblem,
} from "../src/index.ts";

const X = "did:ethr:0x7a69:0x1111111111111111111111111111111111111111";

describe("identity review: status URL policy (finding 3)", function () {
  const refusedByDefault = [
    "http://2130706433/x",
    "http://0x7f000001/x",
    "http://127.1/x",
    "http://017700000001/x",
    "http://[::1]/x",
    "http://[0:0:0:0:0:0:0:1]/x",
    "http://127.0.0.1:22/x",
    "https://169.254.169.254/latest/meta-data/iam/",
    "https://10.0.0.5/admin",
    "https://172.16.3.4/x",
    "https://192.168.1.1/x",
    "https://100.64.0.1/x",
    "https://127.0.0.1:8545/",
    "https://2130706433/x",
    "https://0x7f.1/x",
    "https://[::1]:2375/containers/json",
    "https://[::ffff:127.0.0.1]/x",
    "https://[::ffff:a00:5]/x",
    "https://[fd00::1]/x",
    "https://[fe80::1]/x",
    "https://[::]/x",
    "https://0.0.0.0/x",
    "https://localhost/x",
    "https://localhost./x",
    "https://api.localhost/x",
  ];
  for (const url of refusedByDefault)
    it(`refuses ${url} by default`, function () {
      expect(statusUrlProblem(url, X)).to.be.a("string");
    });

  it("refuses IPv6 literals that embed a local or private IPv4 address, and Teredo / local NAT64 ones", function () {
    for (const url of [
      "https://[::a9fe:a9fe]/latest/meta-data/",
      "https://[2002:a9fe:a9fe::]/latest/meta-data/",
      "https://[64:ff9b::a00:1]/x",
      "https://[::7f00:1]/x",
      "https://[2001::1]/x",
      "https://[64:ff9b:1::1]/x",
    ])
      expect(statusUrlProblem(url, X), url).to.match(/local or private/);
  });

  it("classifies addresses as public, loopback (only this machine's own) or non-public", function () {
    expect(classifyAddress("8.8.8.8")).to.equal("public");
    expect(classifyAddress("::ffff:808:808")).to.equal("public");
    expect(classifyAddress("2002:808:808::1")).to.equal("public");
    expect(classifyAddress("127.0.0.1")).to.equal("loopback");
    expect(classifyAddress("::1")).to.equal("loopback");
    expect(classifyAddress("::ffff:127.0.0.1")).to.equal("loopback");
    expect(classifyAddress("2002:7f00:1::")).to.equal("non-public");
    expect(classifyAddress("2001:db8::1")).to.equal("non-public");
    expect(classifyAddress("not-an-ip")).to.equal("non-public");
    expect(isNonPublicAddress("169.254.169.254")).to.equal(true);
    expect(isNonPublicAddress("2606:4700:4700::1111")).to.equal(false);
  });

  it("allows https to public names and addresses", function () {
    for (const url of ["https://status.example/x", "https://8.8.8.8/x", "https://[2606:4700:4700::1111]/x"])
      expect(statusUrlProblem(url, X), url).to.equal(undefined);
  });

  it("allows plain http and local addresses only to hosts listed in httpHosts, in any spelling of them", function () {
    const policy = { httpHosts: ["127.0.0.1"] };
    expect(statusUrlProblem("http://127.0.0.1:8080/x", X, policy)).to.equal(undefined);
    expect(statusUrlProblem("http://2130706433:8080/x", X, policy)).to.equal(undefined);
    expect(statusUrlProblem("https://127.0.0.1/x", X, policy)).to.equal(undefined);
    expect(statusUrlProblem("http://127.0.0.2/x", X, policy)).to.match(/plain http/);
    expect(statusUrlProblem("http://status.example/x", X)).to.match(/plain http/);
    expect(statusUrlProblem("http://localhost/x", X)).to.match(/plain http/);
  });

  it("hands the fetcher the parsed href, never the raw string", async function () {
    const fetched: string[] = [];
    const checker = new StatusListChecker({
      fetcher: async (url) => {
        fetched.push(url);
        return "jwt";
      },
      verifier: async () => ({
        format: "bitstring",
        issuer: X,
        purpose: "revocation",
        list: new Bitstring(),
        issuedAt: Math.floor(Date.now() / 1000),
        validUntil: Math.floor(Date.now() / 1000) + 3_600,
      }),
      urlPolicy: { httpHosts: ["127.0.0.1"] },
    });
    const raw = "HTTP://0x7f.1:8080/a/../lists/1";
    expect(
      await checker.check(X, [{ ...statusEntry("http://x.example/", "revocation", 1), statusListCredential: raw }]),
    ).to.include({ pass: true });
    expect(fetched).to.deep.equal(["http://127.0.0.1:8080/lists/1"]);
  });
});
