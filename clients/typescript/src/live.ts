/**
 * Live views: a list or a policy read once over HTTP, then kept current by a subscription whose messages are
 * merged by `version`.
 *
 * Guarantees (what the tests check against the real service):
 * - never a duplicate, never an older version over a newer one: every policy id's highest version seen is kept,
 *   and a message at or below it changes nothing (a policy that left the list cannot come back through a late,
 *   older message either);
 * - nothing lost across a dropped connection: the view resubscribes with `since` (lists: the latest server time
 *   it has seen, less a margin) or `sinceVersion` (one policy), and the service replays what changed meanwhile;
 * - a policy that stops matching the filter leaves the list; one that starts matching enters it, in order.
 */
import type { Client as WsClient } from "graphql-ws";
import type { RegistryClient } from "./client.js";
import { RegistryError } from "./errors.js";
import {
  MyPolicyListDocument,
  PoliciesUpdatedDocument,
  PolicyDocument,
  type PolicyFilterInput,
  PolicyListDocument,
  type PolicyOrder,
  PolicyUpdatedDocument,
} from "./generated/graphql.js";
import { instant, type Policy, VersionedList } from "./listing.js";

export type LiveStatus = "loading" | "live" | "reconnecting" | "closed" | "failed";

export interface WatchPoliciesOptions {
  /** Whose policies (public ones only, unless it is the signed-in wallet). Give `owner` or `me`. */
  owner?: string;
  /** The signed-in wallet's own policies, its pending creations included (`me.policies`). */
  me?: boolean;
  filter?: Omit<PolicyFilterInput, "owner">;
  orderBy?: PolicyOrder;
  /** How many policies the first read loads (1–100, default 100); the list then holds those in its window. */
  limit?: number;
  /**
   * How far before the last server time it saw the view resumes (`since`). It covers writes whose timestamp was
   * taken before they committed (a transaction's duration) and clock differences between the service's processes;
   * what it replays twice is dropped by version. Default 60 s.
   */
  resumeMarginMs?: number;
}

export interface PolicyListSnapshot {
  /** The policies in the list's order. */
  policies: readonly Policy[];
  /** Whose list it is. */
  owner: string;
  /** More policies matched than the first read loaded: the list holds those up to its window's last position. */
  truncated: boolean;
  status: LiveStatus;
}

/** Subscription plumbing shared by both views: its own socket, resubscription after a drop, status signals. */
abstract class LiveView<Snapshot> {
  status: LiveStatus = "loading";
  /** Set when the view stopped for good (status "failed"). */
  error: RegistryError | undefined;
  readonly ready: Promise<Snapshot>;
  private socket: WsClient | undefined;
  private stop: (() => void) | undefined;
  private delayMs: number;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly listeners = new Set<(snapshot: Snapshot) => void>();
  private readonly statusListeners = new Set<(status: LiveStatus, error?: RegistryError) => void>();

  protected constructor(protected readonly client: RegistryClient) {
    this.delayMs = client.retry.minMs;
    // started once the subclass is constructed (its fields are set after this constructor returns)
    this.ready = Promise.resolve().then(() => this.start());
    this.ready.catch(() => undefined); // a failed first read also reaches subscribers through `status`
  }

  protected abstract load(): Promise<void>;
  protected abstract open(socket: WsClient, sink: Sink): () => void;
  protected abstract snapshot(): Snapshot;

  /** Called with the current snapshot at once (when loaded) and after every change. Returns the unsubscribe. */
  subscribe(listener: (snapshot: Snapshot) => void): () => void {
    this.listeners.add(listener);
    if (this.status !== "loading" && this.status !== "failed") listener(this.snapshot());
    return () => this.listeners.delete(listener);
  }

  /** Connection signals: "live" once the socket is up, "reconnecting" after a drop, "failed" for good. */
  onStatus(listener: (status: LiveStatus, error?: RegistryError) => void): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  close(): void {
    if (this.status === "closed") return;
    this.setStatus("closed");
    clearTimeout(this.timer);
    this.disconnect();
  }

  protected emit(): void {
    const snapshot = this.snapshot();
    for (const listener of this.listeners) listener(snapshot);
  }

  private setStatus(status: LiveStatus, error?: RegistryError): void {
    this.status = status;
    for (const listener of this.statusListeners) listener(status, error);
  }

  private async start(): Promise<Snapshot> {
    try {
      await this.load();
    } catch (error) {
      this.fail(error instanceof RegistryError ? error : new RegistryError("NETWORK", String(error)));
      throw error;
    }
    if (this.status === "closed") return this.snapshot();
    this.connect();
    this.emit();
    return this.snapshot();
  }

  private connect(): void {
    if (this.status === "closed" || this.status === "failed") return;
    const socket = this.client.openSocket();
    this.socket = socket;
    const offConnected = socket.on("connected", () => {
      this.delayMs = this.client.retry.minMs;
      this.setStatus("live");
    });
    const unsubscribe = this.open(socket, {
      error: (error) => this.dropped(error),
      complete: () => this.dropped(new RegistryError("NETWORK", "the subscription ended")),
    });
    this.stop = () => {
      offConnected();
      unsubscribe();
    };
  }

  private disconnect(): void {
    this.stop?.();
    this.stop = undefined;
    void this.socket?.dispose();
    this.socket = undefined;
  }

  private dropped(error: RegistryError): void {
    if (this.status === "closed" || this.status === "failed") return;
    this.disconnect();
    if (error.code === "UNAUTHENTICATED" || error.code === "FORBIDDEN" || error.code === "NOT_FOUND") {
      this.fail(error);
      return;
    }
    const reload = error.code === "BAD_INPUT" && error.details.field === "since"; // too much to replay: read again
    if (error.code === "BAD_INPUT" && !reload) {
      this.fail(error);
      return;
    }
    this.setStatus("reconnecting", error);
    const delay = this.delayMs;
    this.delayMs = Math.min(this.delayMs * 2, this.client.retry.maxMs);
    this.timer = setTimeout(() => void this.resume(reload), delay);
  }

  private async resume(reload: boolean): Promise<void> {
    if (this.status === "closed" || this.status === "failed") return;
    if (reload) {
      try {
        await this.load();
        this.emit();
      } catch (error) {
        this.dropped(error instanceof RegistryError ? error : new RegistryError("NETWORK", String(error)));
        return;
      }
    }
    this.connect();
  }

  private fail(error: RegistryError): void {
    this.error = error;
    this.setStatus("failed", error);
  }
}

interface Sink {
  error: (error: RegistryError) => void;
  complete: () => void;
}

export class LivePolicyList extends LiveView<PolicyListSnapshot> {
  private readonly state: VersionedList;
  private watermarkMs = 0; // the latest server time seen: the page's asOf or a policy's updatedAt

  constructor(
    client: RegistryClient,
    private readonly options: WatchPoliciesOptions,
  ) {
    if (!options.me === (options.owner === undefined)) {
      throw new RegistryError("BAD_INPUT", "watchPolicies needs exactly one of owner or me", { field: "owner" });
    }
    super(client);
    this.state = new VersionedList({ ...options.filter }, options.orderBy ?? "CREATED_AT_DESC");
  }

  protected async load(): Promise<void> {
    const filter = { ...this.options.filter };
    const variables = {
      filter: this.options.me ? filter : { ...filter, owner: this.options.owner },
      orderBy: this.options.orderBy ?? "CREATED_AT_DESC",
      first: this.options.limit ?? 100,
    };
    let owner: string;
    let page;
    if (this.options.me) {
      const { me } = await this.client.request(MyPolicyListDocument, variables);
      if (me === null) throw new RegistryError("UNAUTHENTICATED", "watchPolicies({ me: true }) needs a signed-in client");
      owner = me.address;
      page = me.policies;
    } else {
      owner = this.options.owner ?? "";
      page = (await this.client.request(PolicyListDocument, variables)).policies;
    }
    this.watermarkMs = Math.max(this.watermarkMs, instant(page.asOf));
    this.state.load(
      owner,
      page.edges.map((e) => e.node),
      page.pageInfo.hasNextPage,
    );
  }

  protected open(socket: WsClient, sink: Sink): () => void {
    const since = new Date(this.watermarkMs - (this.options.resumeMarginMs ?? 60_000)).toISOString();
    return this.client.subscribeOn(socket, PoliciesUpdatedDocument, { owner: this.state.owner, since }, {
      next: (data) => {
        const policy = data.policiesUpdated;
        this.watermarkMs = Math.max(this.watermarkMs, instant(policy.updatedAt));
        if (this.state.apply(policy)) this.emit();
      },
      ...sink,
    });
  }

  protected snapshot(): PolicyListSnapshot {
    return {
      policies: this.state.policies(),
      owner: this.state.owner,
      truncated: this.state.truncated,
      status: this.status,
    };
  }

  /** The list now (empty until the first read). */
  get policies(): readonly Policy[] {
    return this.state.policies();
  }
}

export class LivePolicy extends LiveView<Policy> {
  private current: Policy | undefined;

  constructor(
    client: RegistryClient,
    private readonly id: string,
  ) {
    super(client);
  }

  protected async load(): Promise<void> {
    const { policy } = await this.client.request(PolicyDocument, { id: this.id });
    if (policy === null) throw new RegistryError("NOT_FOUND", `policy ${this.id} does not exist`, { id: this.id });
    if (this.current === undefined || policy.version > this.current.version) this.current = policy;
  }

  protected open(socket: WsClient, sink: Sink): () => void {
    const sinceVersion = this.current?.version ?? 0;
    return this.client.subscribeOn(socket, PolicyUpdatedDocument, { id: this.id, sinceVersion }, {
      next: (data) => {
        if (this.current !== undefined && data.policyUpdated.version <= this.current.version) return;
        this.current = data.policyUpdated;
        this.emit();
      },
      ...sink,
    });
  }

  protected snapshot(): Policy {
    if (this.current === undefined) throw new RegistryError("NOT_FOUND", `policy ${this.id} is not loaded`);
    return this.current;
  }

  /** The policy now (undefined until the first read). */
  get policy(): Policy | undefined {
    return this.current;
  }
}
