/**
 * Errors as typed values: every failure the client reports is a `RegistryError` whose `code` is the service's
 * `extensions.code` (BAD_INPUT, UNAUTHENTICATED, ...) or, for what fails before or outside the service, one of the
 * client's own codes (NETWORK, HTTP, WALLET, BROADCAST).
 */

/** The codes the service sends in `extensions.code` (docs/api.md "Errors"). */
export type ServiceErrorCode =
  | "BAD_INPUT"
  | "UNAUTHENTICATED"
  | "FORBIDDEN"
  | "NOT_FOUND"
  | "CONFLICT"
  | "ORACLE_UNAVAILABLE"
  | "INSUFFICIENT_CAPACITY"
  | "ACTIVATION_CONDITION_NOT_MET"
  | "CHAIN_UNAVAILABLE"
  | "INSUFFICIENT_FUNDS"
  | "QUOTA_EXCEEDED"
  | "UNAVAILABLE"
  | "RATE_LIMITED"
  | "SLOW_CONSUMER"
  | "INTERNAL";

/** Failures on the client's side of the wire: no answer, an answer that is not GraphQL, the wallet, the chain. */
export type ClientErrorCode = "NETWORK" | "HTTP" | "WALLET" | "BROADCAST";

export type ErrorCode = ServiceErrorCode | ClientErrorCode;

/** One GraphQL error as the service sends it. */
export interface GraphQLErrorPayload {
  message: string;
  path?: ReadonlyArray<string | number>;
  extensions?: Record<string, unknown>;
}

export class RegistryError extends Error {
  override readonly name = "RegistryError";
  /** `extensions` of the error (field, max, limit, requestId, ...), without `code`. */
  readonly details: Record<string, unknown>;

  constructor(
    readonly code: ErrorCode,
    message: string,
    details: Record<string, unknown> = {},
    readonly path?: ReadonlyArray<string | number>,
    /** The other errors of the same response, if it had several. */
    readonly others: readonly RegistryError[] = [],
  ) {
    super(message);
    this.details = details;
  }

  static fromGraphQL(errors: readonly GraphQLErrorPayload[]): RegistryError {
    const [first, ...rest] = errors.map((e) => {
      const { code, ...details } = e.extensions ?? {};
      return new RegistryError(
        (typeof code === "string" ? code : "INTERNAL") as ErrorCode,
        e.message,
        details,
        e.path,
      );
    });
    if (first === undefined) return new RegistryError("INTERNAL", "an error without a message");
    return rest.length ? new RegistryError(first.code, first.message, first.details, first.path, rest) : first;
  }
}

/** Narrows an unknown failure to a RegistryError with one of `codes` (any code when none are given). */
export function isRegistryError(error: unknown, ...codes: ErrorCode[]): error is RegistryError {
  return error instanceof RegistryError && (codes.length === 0 || codes.includes(error.code));
}
