// The webhook SSRF rules, directly: which URLs may be registered and which resolved addresses may be called.
import { expect } from "chai";
import { addressAllowed, checkWebhookUrl, guardedLookup, signWebhook } from "../../src/notify/webhook.ts";

describe("webhook URL rules (SSRF)", () => {
  it("accepts https to public hosts and addresses", () => {
    expect(checkWebhookUrl("https://portal.example.org/hooks/1", false).toString()).to.equal(
      "https://portal.example.org/hooks/1",
    );
    expect(() => checkWebhookUrl("https://93.184.216.34/hook", false)).to.not.throw();
    expect(() => checkWebhookUrl("https://[2606:4700::1111]/hook", false)).to.not.throw();
  });

  it("allows plain http only to loopback, and only on a loopback gateway", () => {
    expect(() => checkWebhookUrl("http://127.0.0.1:9000/hook", true)).to.not.throw();
    expect(() => checkWebhookUrl("http://localhost:9000/hook", true)).to.not.throw();
    for (const url of ["http://127.0.0.1:9000/hook", "http://localhost/hook", "https://127.0.0.1/hook"])
      expect(() => checkWebhookUrl(url, false), url).to.throw(/webhook URL/);
    expect(() => checkWebhookUrl("http://example.org/hook", true)).to.throw(/https/);
  });

  it("refuses private, link-local, reserved and mapped addresses, credentials and other schemes", () => {
    for (const url of [
      "https://10.1.2.3/",
      "https://172.20.0.1/",
      "https://192.168.1.1/",
      "https://169.254.169.254/latest/meta-data",
      "https://100.64.0.1/",
      "https://0.0.0.0/",
      "https://[::1]/",
      "https://[fe80::1]/",
      "https://[fd12::1]/",
      "https://[::ffff:10.0.0.1]/",
      "https://u:p@example.org/",
      "file:///etc/passwd",
      "gopher://example.org/",
    ])
      expect(() => checkWebhookUrl(url, false), url).to.throw(/webhook URL/);
    expect(() => checkWebhookUrl("https://10.1.2.3/", true)).to.throw(/private/);
  });

  it("judges resolved addresses the same way (IPv4-mapped IPv6 as its IPv4 address)", () => {
    expect(addressAllowed("8.8.8.8", false)).to.equal(true);
    expect(addressAllowed("10.0.0.1", true)).to.equal(false);
    expect(addressAllowed("::ffff:192.168.0.1", true)).to.equal(false);
    expect(addressAllowed("::ffff:c0a8:1", true)).to.equal(false);
    expect(addressAllowed("::ffff:808:808", false)).to.equal(true);
    expect(addressAllowed("127.0.0.1", false)).to.equal(false);
    expect(addressAllowed("127.0.0.1", true)).to.equal(true);
    expect(addressAllowed("not-an-ip", true)).to.equal(false);
  });

  it("judges IPv6 addresses that embed an IPv4 address (compatible, 6to4, NAT64) by that IPv4 address", () => {
    for (const url of [
      "https://[::a9fe:a9fe]/", // ::/96 IPv4-compatible: 169.254.169.254
      "https://[::169.254.169.254]/latest/meta-data",
      "https://[::a00:1]/", // 10.0.0.1
      "https://[2002:a9fe:a9fe::]/", // 6to4 2002::/16: 169.254.169.254
      "https://[2002:c0a8:101::1]/", // 192.168.1.1
      "https://[2002:7f00:1::]/", // 127.0.0.1
      "https://[64:ff9b::a9fe:a9fe]/", // NAT64 64:ff9b::/96
      "https://[64:ff9b::10.0.0.1]/",
      "https://[64:ff9b:1::a9fe:a9fe]/", // local-use NAT64 64:ff9b:1::/48: refused outright
      "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", // Teredo 2001::/32 (obfuscated IPv4): refused outright
    ])
      expect(() => checkWebhookUrl(url, false), url).to.throw(/private or reserved/);
    for (const address of ["::a9fe:a9fe", "::7f00:1", "2002:a9fe:a9fe::", "2002:0a00:0001:1::5", "64:ff9b::c0a8:1"]) {
      expect(addressAllowed(address, false), address).to.equal(false);
      expect(addressAllowed(address, true), `${address} (loopback gateway)`).to.equal(false);
    }
    // The same ranges around a public IPv4 address stay usable; ::1 is still loopback only.
    for (const address of ["::808:808", "2002:808:808::1", "64:ff9b::808:808"])
      expect(addressAllowed(address, false), address).to.equal(true);
    expect(addressAllowed("::1", true)).to.equal(true);
    expect(addressAllowed("::1", false)).to.equal(false);
    expect(addressAllowed("::", true)).to.equal(false);
  });

  it("refuses at connection time a name that resolves to a refused address", async () => {
    const lookup = guardedLookup(false);
    const error = await new Promise<NodeJS.ErrnoException | null>((resolve) =>
      lookup("localhost", {}, (err) => resolve(err)),
    );
    expect(error?.code).to.equal("EWEBHOOKADDRESS");
  });

  it("signs the body with the time under the secret", () => {
    expect(signWebhook("secret", "{}", 1)).to.match(/^t=1,v1=[0-9a-f]{64}$/);
    expect(signWebhook("secret", "{}", 1)).to.not.equal(signWebhook("other", "{}", 1));
  });
});
