import { initTRPC, TRPCError } from "@trpc/server";
import { ZodError } from "zod";
import type { Ctx } from "../context";
import { AppError, ERRORS, type ErrorCode, toAppError, toProblem } from "../errors";

/** The AppError behind a tRPC error: ours, a zod input error, or one of tRPC's own. */
function appErrorOf(error: TRPCError): AppError {
  const cause = error.cause;
  if (cause instanceof AppError || cause instanceof ZodError) return toAppError(cause);
  if (error.code === "INTERNAL_SERVER_ERROR") return toAppError(cause ?? error);
  const code = (Object.keys(ERRORS) as ErrorCode[]).find((k) => ERRORS[k].trpc === error.code) ?? "BAD_REQUEST";
  return new AppError(code, error.message);
}

/**
 * tRPC with our error shape: `data.problem` is the same problem document REST sends (code, detail,
 * field errors, request id), and no stack trace ever leaves the server.
 */
const t = initTRPC.context<Ctx>().create({
  errorFormatter({ shape, error, ctx }) {
    const problem = toProblem(appErrorOf(error), ctx?.requestId ?? "");
    return {
      message: problem.detail,
      code: shape.code,
      data: { code: shape.code, httpStatus: problem.status, problem },
    };
  },
});

/** Gives every thrown error the tRPC code of its AppError, so HTTP statuses match REST. */
const mapErrors = t.middleware(async ({ next }) => {
  const result = await next();
  if (!result.ok && !(result.error.cause instanceof ZodError)) {
    const appError = appErrorOf(result.error);
    throw new TRPCError({ code: ERRORS[appError.code].trpc, message: appError.message, cause: appError });
  }
  return result;
});

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;
export const publicProcedure = t.procedure.use(mapErrors);

/** A procedure that needs any signed-in caller; the service decides the rest. */
export const authedProcedure = publicProcedure.use(({ ctx, next }) => {
  if (ctx.principal.kind === "anonymous") throw new AppError("UNAUTHORIZED", "Credentials are required");
  return next();
});
