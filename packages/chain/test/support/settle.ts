/** Helpers for tests of refusals and of code that must never hang. */
import { expect } from "chai";
import { ContractRevertError, InvalidInputError } from "../../src/index.ts";

/** Rejects when `promise` has not settled within `ms`: a hang fails the test instead of stalling it. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

/** The error `promise` rejects with; fails the test when it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail("expected a rejection"),
    (error: unknown) => error,
  );
}

/** The ContractRevertError `promise` rejects with; fails the test when it resolves or rejects with another error. */
export async function revertOf(promise: Promise<unknown>): Promise<ContractRevertError> {
  const error = await rejection(promise);
  expect(error).to.be.instanceOf(ContractRevertError);
  return error as ContractRevertError;
}

/** What `call` throws synchronously; fails the test when it returns. */
export function thrown(call: () => unknown): unknown {
  try {
    call();
  } catch (error) {
    return error;
  }
  return expect.fail("expected a throw");
}

/** The InvalidInputError `call` throws synchronously; fails the test when it returns or throws another error. */
export function refusal(call: () => unknown): InvalidInputError {
  const error = thrown(call);
  expect(error).to.be.instanceOf(InvalidInputError);
  return error as InvalidInputError;
}
