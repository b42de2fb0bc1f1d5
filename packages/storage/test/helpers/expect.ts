import { expect } from "chai";
import { InvalidArgumentError } from "../../src/index.ts";

/** Awaits `promise`, asserts it rejected with an instance of `type`, and returns the error. */
export async function expectRejection<E extends Error>(
  promise: Promise<unknown>,
  type: abstract new (...args: never[]) => E,
): Promise<E> {
  try {
    await promise;
  } catch (error) {
    expect(error).to.be.instanceOf(type);
    return error as E;
  }
  expect.fail(`expected a ${type.name}`);
}

/** Asserts `error` is the package's InvalidArgumentError (code INVALID_ARGUMENT) naming `field`. */
export function expectField(error: unknown, field: string): void {
  expect(error, `expected an InvalidArgumentError naming ${field}`).to.be.instanceOf(InvalidArgumentError);
  expect((error as InvalidArgumentError).code).to.equal("INVALID_ARGUMENT");
  expect((error as InvalidArgumentError).field).to.equal(field);
}

/** The error `action` throws; fails the test when it returns. */
export function thrown(action: () => unknown): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  return expect.fail("expected a throw");
}

/** The error `promise` rejects with; fails the test when it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  return expect.fail("expected a rejection");
}
