/** What a live list needs to decide on its own: does a policy belong in the list, and where. */
import type { PolicyFieldsFragment, PolicyFilterInput, PolicyOrder } from "./generated/graphql.js";

export type Policy = PolicyFieldsFragment;

/** The filter the service applies, applied here to a changed policy (`owner` is the list's owner). */
export function matchesFilter(filter: PolicyFilterInput, owner: string, policy: Policy): boolean {
  if (policy.owner !== owner) return false;
  if (filter.owner != null && filter.owner !== policy.owner) return false;
  if (filter.statusDetailed != null && filter.statusDetailed !== policy.statusDetailed) return false;
  if (filter.statusIn != null && !filter.statusIn.includes(policy.statusDetailed)) return false;
  if (filter.riskTier != null && filter.riskTier !== policy.riskTier) return false;
  if (filter.expiresBefore != null && !(policy.expirationHeight < filter.expiresBefore)) return false;
  if (filter.expiresAfter != null && !(policy.expirationHeight > filter.expiresAfter)) return false;
  return true;
}

const byIdDesc = (a: Policy, b: Policy): number => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0); // ObjectIds: hex, one length

/** The service's order (services/store/policy_order.py): the order's key, then newest first. */
export function comparePolicies(order: PolicyOrder): (a: Policy, b: Policy) => number {
  switch (order) {
    case "EXPIRATION_HEIGHT_ASC":
      return (a, b) => a.expirationHeight - b.expirationHeight || byIdDesc(a, b);
    case "PREMIUM_DESC":
      return (a, b) => {
        const pa = BigInt(a.premiumUstx);
        const pb = BigInt(b.premiumUstx);
        return pa > pb ? -1 : pa < pb ? 1 : byIdDesc(a, b);
      };
    case "CREATED_AT_DESC":
      return byIdDesc;
  }
}

/** Milliseconds since the epoch of a service timestamp (ISO 8601, microseconds allowed). */
export function instant(iso: string): number {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new Error(`not a timestamp: ${iso}`);
  return ms;
}

/**
 * The state of a live list: the policies in it, and the highest version seen of every policy (in the list or not).
 * Only a newer version than any seen changes anything, so duplicates and older versions (a replay after a
 * reconnect, a late message) are dropped, and a policy that left the list cannot come back through an older one.
 */
export class VersionedList {
  private readonly versions = new Map<string, number>();
  private readonly items = new Map<string, Policy>();
  private boundary: Policy | undefined; // the window's last position when the first read was truncated
  private readonly compare: (a: Policy, b: Policy) => number;
  private last: readonly Policy[] = Object.freeze([]);

  constructor(
    private readonly filter: PolicyFilterInput,
    order: PolicyOrder,
    public owner = "",
  ) {
    this.compare = comparePolicies(order);
  }

  /** Replace the list with a fresh read (never going back to an older version of a policy already seen). */
  load(owner: string, nodes: readonly Policy[], truncated: boolean): void {
    this.owner = owner;
    this.boundary = truncated ? nodes.at(-1) : undefined;
    const fresh = new Map<string, Policy>();
    for (const node of nodes) {
      const known = this.versions.get(node.id) ?? -1;
      const held = this.items.get(node.id);
      if (node.version >= known) {
        this.versions.set(node.id, node.version);
        fresh.set(node.id, node);
      } else if (held !== undefined) {
        fresh.set(node.id, held);
      }
    }
    this.items.clear();
    for (const [id, node] of fresh) this.items.set(id, node);
  }

  /** Merge one changed policy; true when the list changed. */
  apply(policy: Policy): boolean {
    const known = this.versions.get(policy.id);
    if (known !== undefined && policy.version <= known) return false;
    this.versions.set(policy.id, policy.version);
    const inWindow = this.boundary === undefined || this.compare(policy, this.boundary) <= 0;
    const belongs = inWindow && matchesFilter(this.filter, this.owner, policy);
    const had = this.items.delete(policy.id);
    if (belongs) this.items.set(policy.id, policy);
    return belongs || had;
  }

  get truncated(): boolean {
    return this.boundary !== undefined;
  }

  /** The list in order; the same (frozen) array until something changes. */
  policies(): readonly Policy[] {
    const sorted = [...this.items.values()].sort(this.compare);
    const same = sorted.length === this.last.length && sorted.every((p, i) => p === this.last[i]);
    if (!same) this.last = Object.freeze(sorted);
    return this.last;
  }
}
