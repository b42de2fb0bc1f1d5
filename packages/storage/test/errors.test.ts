// The package's errors live in one module (src/errors.ts) and are exported from the package root.
import { expect } from "chai";
import * as errors from "../src/errors.ts";
import * as storage from "../src/index.ts";

describe("storage errors", () => {
  it("defines UnauthenticatedManifestError in errors.ts with the other errors, an InvalidManifestError", () => {
    expect(errors).to.have.property("UnauthenticatedManifestError");
    expect(storage.UnauthenticatedManifestError).to.equal(errors.UnauthenticatedManifestError);
    const error = new errors.UnauthenticatedManifestError(1);
    expect(error).to.be.instanceOf(errors.InvalidManifestError);
    expect(error.code).to.equal("INVALID_MANIFEST");
    expect(error.sealVersion).to.equal(1);
    expect(error.name).to.equal("UnauthenticatedManifestError");
  });
});
