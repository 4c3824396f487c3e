import { expect } from "bun:test";
import { AppError, pgCode } from "../../server/errors";

/** The AppError a service call fails with; fails the test if the call succeeds. */
export async function failure(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return err as AppError;
  }
  throw new Error("expected the call to fail");
}

/** The SQLSTATE a statement fails with, or "no error" when the database accepted it. */
export async function sqlstate(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (err) {
    return pgCode(err);
  }
  return "no error";
}
