// What the SDK tests share to look at a refusal.
import { HygeiaSdkError } from "../../src/errors.ts";

/** The SDK error `promise` rejects with; anything else (or a resolution) fails the test. */
export async function rejection(promise: Promise<unknown>): Promise<HygeiaSdkError> {
  try {
    await promise;
  } catch (error) {
    if (!(error instanceof HygeiaSdkError)) throw error;
    return error;
  }
  throw new Error("expected a rejection");
}
