/**
 * The client: typed operations over plain `fetch` (HTTP) and `graphql-ws` (subscriptions), the wallet flows
 * (sign-in, buy, activate) and the live views (`watchPolicies`, `watchPolicy`).
 */
import { type Client as WsClient, createClient } from "graphql-ws";
import { type GraphQLErrorPayload, RegistryError } from "./errors.js";
import {
  AuthChallengeDocument,
  AuthenticateDocument,
  type AuthenticateMutation,
  type LatestPriceQuery,
  LatestPriceDocument,
  type PolicyFieldsFragment,
  PolicyHistoryDocument,
  type PolicyHistoryQuery,
  type PolicyParametersInput,
  type QuoteFieldsFragment,
  QuoteDocument,
  RequestPolicyActivationDocument,
  type RequestPolicyCreationMutation,
  RequestPolicyCreationDocument,
  SignOutDocument,
  StatsDocument,
  type StatsQuery,
  SubmitPolicyCreationTxDocument,
  type TypedDocumentString,
} from "./generated/graphql.js";
import { LivePolicy, LivePolicyList, type WatchPoliciesOptions } from "./live.js";
import type { Wallet } from "./wallet.js";

export interface RegistryClientOptions {
  /** The GraphQL endpoint over HTTP, e.g. `http://127.0.0.1:8000/graphql`. */
  url: string;
  /** The same endpoint for WebSockets; derived from `url` (http → ws) when omitted. */
  wsUrl?: string;
  /** A session token from an earlier `signIn` (kept by the caller, e.g. in sessionStorage). */
  token?: string;
  /** A WebSocket implementation where there is no global one (Node 20: the `ws` package). */
  webSocketImpl?: unknown;
  fetch?: typeof fetch;
  /** How a live view retries after its connection drops: first delay, then doubling up to the maximum. */
  retry?: { minMs?: number; maxMs?: number };
}

export interface Session {
  token: string;
  address: string;
  expiresAt: string;
}

export interface BuyPolicyParams {
  wallet: Wallet;
  /** What to protect: amount (sats), strike (USD × 1e8), duration (days), optional tier. */
  parameters: PolicyParametersInput;
  /** Buy at a quote's numbers while it is valid (from `quote`). */
  quoteId?: string;
  /** Repeating a key repeats the first result instead of buying twice; a fresh one per purchase by default. */
  idempotencyKey?: string;
}

export interface BoughtPolicy {
  policy: PolicyFieldsFragment;
  quote: QuoteFieldsFragment;
  txId: string;
  /** The idempotency key used, to retry the same purchase safely. */
  idempotencyKey: string;
}

type Vars<T> = T extends TypedDocumentString<unknown, infer V> ? V : never;

export class RegistryClient {
  readonly url: string;
  readonly wsUrl: string;
  private token: string | undefined;
  private readonly fetchFn: typeof fetch;
  readonly retry: { minMs: number; maxMs: number };

  constructor(private readonly options: RegistryClientOptions) {
    this.url = options.url;
    this.wsUrl = options.wsUrl ?? options.url.replace(/^http/, "ws");
    this.token = options.token;
    this.fetchFn = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.retry = { minMs: options.retry?.minMs ?? 250, maxMs: options.retry?.maxMs ?? 5_000 };
  }

  /** The session token in use (after `signIn`), if any. */
  get sessionToken(): string | undefined {
    return this.token;
  }

  /** Use another session token (or none) from now on; live views opened before keep theirs until they close. */
  setToken(token: string | undefined): void {
    this.token = token;
  }

  /** Run one query or mutation; resolves to its data or rejects with a RegistryError. */
  async request<TResult, TVariables>(
    document: TypedDocumentString<TResult, TVariables>,
    ...[variables]: TVariables extends Record<string, never> ? [] | [TVariables] : [TVariables]
  ): Promise<TResult> {
    const headers: Record<string, string> = {
      "content-type": "application/json",
      accept: "application/graphql-response+json, application/json",
    };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    let response: Response;
    try {
      response = await this.fetchFn(this.url, {
        method: "POST",
        headers,
        body: JSON.stringify({ query: document.toString(), variables: variables ?? {} }),
      });
    } catch (error) {
      throw new RegistryError("NETWORK", `the registry at ${this.url} did not answer`, { cause: String(error) });
    }
    let body: { data?: TResult | null; errors?: GraphQLErrorPayload[] };
    try {
      body = (await response.json()) as typeof body;
    } catch {
      throw new RegistryError("HTTP", `the registry answered HTTP ${response.status} without GraphQL`, {
        status: response.status,
      });
    }
    if (body.errors?.length) throw RegistryError.fromGraphQL(body.errors);
    if (body.data == null) {
      throw new RegistryError("HTTP", `the registry answered HTTP ${response.status} without data`, {
        status: response.status,
      });
    }
    return body.data;
  }

  /**
   * A new graphql-ws client (one socket, opened by its first subscription) with this client's session token.
   * Each live view has its own, so a dropped connection is noticed and resumed per view.
   */
  openSocket(): WsClient {
    const token = this.token;
    return createClient({
      url: this.wsUrl,
      webSocketImpl: this.options.webSocketImpl,
      lazy: true,
      // Live views resubscribe themselves after a drop, from the state they hold (`since`, `sinceVersion`):
      // graphql-ws's own retry would resend the original variables.
      retryAttempts: 0,
      connectionParams: () => (token ? { authorization: `Bearer ${token}` } : {}),
    });
  }

  /** Subscribe on `socket` with a typed document; `sink` gets each payload's data, or the error that ended it. */
  subscribeOn<TResult, TVariables>(
    socket: WsClient,
    document: TypedDocumentString<TResult, TVariables>,
    variables: TVariables,
    sink: { next: (data: TResult) => void; error: (error: RegistryError) => void; complete: () => void },
  ): () => void {
    return socket.subscribe<TResult>(
      { query: document.toString(), variables: variables as Record<string, unknown> },
      {
        next: (result) => {
          if (result.errors?.length) sink.error(RegistryError.fromGraphQL(result.errors as GraphQLErrorPayload[]));
          else if (result.data) sink.next(result.data as TResult);
        },
        error: (error) => sink.error(socketError(error)),
        complete: sink.complete,
      },
    );
  }

  // --- wallet flows ---------------------------------------------------------------------------------------

  /** `authChallenge` → the wallet signs the message → `authenticate`; the session's token is used from now on. */
  async signIn(wallet: Wallet): Promise<Session> {
    const address = await wallet.getAddress();
    const { authChallenge } = await this.request(AuthChallengeDocument, { address });
    const signed = await wallet.signMessage(authChallenge.message);
    const { authenticate } = await this.request(AuthenticateDocument, {
      address: authChallenge.address,
      publicKey: signed.publicKey,
      signature: signed.signature,
    });
    this.setToken(authenticate.token);
    return sessionOf(authenticate);
  }

  async signOut(): Promise<void> {
    await this.request(SignOutDocument);
    this.setToken(undefined);
  }

  async quote(parameters: PolicyParametersInput): Promise<QuoteFieldsFragment> {
    return (await this.request(QuoteDocument, { input: parameters })).quote;
  }

  async latestPrice(asset: Vars<typeof LatestPriceDocument>["asset"]): Promise<LatestPriceQuery["latestPrice"]> {
    return (await this.request(LatestPriceDocument, { asset })).latestPrice;
  }

  /**
   * Buy a policy: `requestPolicyCreation` (signed in) → the wallet signs the prepared call and broadcasts it →
   * `submitPolicyCreationTx`. The policy is PendingCreation until the chain confirms it (watch it to see it turn
   * Active). Retrying with the same `idempotencyKey` never buys twice.
   */
  async buyPolicy(params: BuyPolicyParams): Promise<BoughtPolicy> {
    const idempotencyKey = params.idempotencyKey ?? globalThis.crypto.randomUUID();
    const created: RequestPolicyCreationMutation["requestPolicyCreation"] = (
      await this.request(RequestPolicyCreationDocument, {
        input: params.parameters,
        idempotencyKey,
        quoteId: params.quoteId ?? null,
      })
    ).requestPolicyCreation;
    // A failure from here on names the purchase, so the caller can retry it with the same key (same policy).
    const named = (error: unknown, txId?: string): RegistryError => {
      const known = error instanceof RegistryError ? error : new RegistryError("WALLET", String(error));
      const details = { ...known.details, idempotencyKey, policyId: created.policy.id, ...(txId ? { txId } : {}) };
      return new RegistryError(known.code, known.message, details, known.path, known.others);
    };
    let txId: string;
    try {
      txId = await params.wallet.sendContractCall(created.transaction);
    } catch (error) {
      throw named(error);
    }
    try {
      const { submitPolicyCreationTx: policy } = await this.request(SubmitPolicyCreationTxDocument, {
        policyId: created.policy.id,
        txId,
      });
      return { policy, quote: created.quote, txId, idempotencyKey };
    } catch (error) {
      throw named(error, txId); // broadcast already: the chain listener confirms it even unreported
    }
  }

  /** Exercise an Active policy (owner only): it becomes Settling, then Settled once the chain confirms. */
  async activate(policyIdOnChain: number): Promise<PolicyFieldsFragment> {
    return (await this.request(RequestPolicyActivationDocument, { policyIdOnChain })).requestPolicyActivation;
  }

  async policyHistory(id: string): Promise<PolicyHistoryQuery["policyHistory"]> {
    return (await this.request(PolicyHistoryDocument, { id })).policyHistory;
  }

  async stats(): Promise<StatsQuery["stats"]> {
    return (await this.request(StatsDocument)).stats;
  }

  // --- live views -----------------------------------------------------------------------------------------

  /**
   * A live, ordered list of one owner's policies (or the signed-in wallet's, pending creations included):
   * one query, then `policiesUpdated` merged by `version`; after a dropped connection it resubscribes with
   * `since` and never shows a duplicate or an older version over a newer one.
   */
  watchPolicies(options: WatchPoliciesOptions): LivePolicyList {
    return new LivePolicyList(this, options);
  }

  /** One policy, kept current by `policyUpdated` (resumed with `sinceVersion` after a drop). */
  watchPolicy(id: string): LivePolicy {
    return new LivePolicy(this, id);
  }
}

function sessionOf(auth: AuthenticateMutation["authenticate"]): Session {
  return { token: auth.token, address: auth.session.address, expiresAt: auth.session.expiresAt };
}

/** graphql-ws reports errors as GraphQL error lists, close events or thrown errors: one type for all of them. */
function socketError(error: unknown): RegistryError {
  if (Array.isArray(error)) return RegistryError.fromGraphQL(error as GraphQLErrorPayload[]);
  if (error && typeof error === "object" && "code" in error && "reason" in error) {
    const { code, reason } = error as { code: number; reason: string };
    return new RegistryError(code === 4403 ? "UNAUTHENTICATED" : "NETWORK", `the connection closed (${code} ${reason})`, {
      closeCode: code,
      reason,
    });
  }
  return new RegistryError("NETWORK", `the connection failed: ${error instanceof Error ? error.message : String(error)}`);
}
