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
