// The client against the real service (the embedded database, the worker, the real contracts on the devnet),
// started by tests/web/test_typescript_client.py, which passes REGISTRY_URL and STACKS_API_URL. Blocks are
// mined here, on demand; every wait is on a signal (a live list's snapshot, a status, a mempool nonce).
import { bytesToHex } from "@stacks/common";
import { hashMessage } from "@stacks/encryption";
import {
  broadcastTransaction,
  deserializeCV,
  makeContractCall,
  privateKeyToAddress,
  privateKeyToPublic,
  signMessageHashRsv,
} from "@stacks/transactions";
import { beforeAll, describe, expect, it } from "vitest";
import {
  type LivePolicyList,
  type Policy,
  type PolicyListSnapshot,
  RegistryClient,
  RegistryError,
  type ConnectRequest,
  comparePolicies,
  connectWallet,
  isRegistryError,
  operations,
} from "../src/index.js";
import {
  CuttableProxy,
  SERVICE_GIVEN,
  demoWallet,
  devnetAccounts,
  eventually,
  mempoolNonce,
  mine,
  newClient,
  REGISTRY_URL,
  STACKS_API_URL,
} from "./helpers.js";

const AMOUNT_SATS = "1000000"; // 0.01 BTC

/** A strike 5 % above the oracle's BTC price: in the money at once (activation pays), Conservative tier. */
async function inTheMoneyStrike(client: RegistryClient): Promise<string> {
  const price = BigInt((await client.latestPrice("BTC_USD")).priceUsd8);
  return ((price * 105n) / 100n).toString();
}

/** Every snapshot a live list emits, and a way to wait for one that satisfies a predicate. */
class Recorder {
  readonly snapshots: PolicyListSnapshot[] = [];
  private waiters: { test: (s: PolicyListSnapshot) => boolean; resolve: (s: PolicyListSnapshot) => void }[] = [];

  constructor(list: LivePolicyList) {
    list.subscribe((snapshot) => {
      this.snapshots.push(snapshot);
      this.waiters = this.waiters.filter((w) => !(w.test(snapshot) && (w.resolve(snapshot), true)));
    });
  }

  get latest(): PolicyListSnapshot | undefined {
    return this.snapshots.at(-1);
  }

  until(what: string, test: (s: PolicyListSnapshot) => boolean, timeoutMs = 60_000): Promise<PolicyListSnapshot> {
    const now = this.latest;
    if (now && test(now)) return Promise.resolve(now);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${what}: no such snapshot in ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({ test, resolve: (s) => (clearTimeout(timer), resolve(s)) });
    });
  }

  /** No snapshot ever held a policy twice, no policy's version ever went down, and every snapshot after the
   * first changed something (a version delivered twice would repeat the list). */
  checkNoDuplicateNoRegression(): void {
    const highest = new Map<string, number>();
    const keys = this.snapshots.map((s) => s.policies.map((p) => `${p.id}@${p.version}`).join());
    for (let i = 1; i < keys.length; i++) expect(keys[i], `snapshot ${i} repeats the one before`).not.toBe(keys[i - 1]);
    for (const snapshot of this.snapshots) {
      const ids = snapshot.policies.map((p) => p.id);
      expect(new Set(ids).size, "a policy listed twice").toBe(ids.length);
      for (const policy of snapshot.policies) {
        expect(policy.version, `policy ${policy.id} went back a version`).toBeGreaterThanOrEqual(
          highest.get(policy.id) ?? -1,
        );
        highest.set(policy.id, policy.version);
      }
    }
  }
}

const find = (s: PolicyListSnapshot, id: string): Policy | undefined => s.policies.find((p) => p.id === id);

describe.skipIf(!SERVICE_GIVEN)("against the service and the devnet", () => {
  let backend = "";

  beforeAll(async () => {
    backend = (await devnetAccounts()).backend_address;
  });

  it("signs in with a devnet key, buys, sees Active, activates and sees Settled", async () => {
    const client = newClient();
    const wallet = await demoWallet("wallet_1");
    const session = await client.signIn(wallet);
    expect(session.address).toBe(await wallet.getAddress());
    expect((await client.request(operations.MeDocument)).me?.address).toBe(session.address);

    const list = client.watchPolicies({ me: true, orderBy: "CREATED_AT_DESC" });
    const seen = new Recorder(list);
    await list.ready;

    const strike = await inTheMoneyStrike(client);
    const quote = await client.quote({ protectedAmountSats: AMOUNT_SATS, protectedValueUsd8: strike, durationDays: 7 });
    const bought = await client.buyPolicy({
      wallet,
      quoteId: quote.quoteId,
      parameters: { protectedAmountSats: AMOUNT_SATS, protectedValueUsd8: strike, durationDays: 7 },
    });
    expect(bought.policy.statusDetailed).toBe("PendingCreation");
    expect(bought.txId).toMatch(/^(0x)?[0-9a-f]{64}$/);
    expect(bought.policy.premiumUstx).toBe(quote.premiumUstx);
    // the wallet's own list shows its pending creation (private to it)
    await seen.until("pending in my list", (s) => find(s, bought.policy.id)?.statusDetailed === "PendingCreation");
    // the same purchase again (same idempotency key) is the same policy, not a second one
    const again = await client.request(operations.RequestPolicyCreationDocument, {
      input: { protectedAmountSats: AMOUNT_SATS, protectedValueUsd8: strike, durationDays: 7 },
      idempotencyKey: bought.idempotencyKey,
      quoteId: quote.quoteId,
    });
    expect(again.requestPolicyCreation.repeated).toBe(true);
    expect(again.requestPolicyCreation.policy.id).toBe(bought.policy.id);

    const watched = client.watchPolicy(bought.policy.id);
    const statuses: string[] = [];
    watched.subscribe((p) => statuses.push(p.statusDetailed));
    await watched.ready;

    await mine(); // the creation transaction's block: the listener confirms it
    const active = find(
      await seen.until("Active in my list", (s) => find(s, bought.policy.id)?.statusDetailed === "Active"),
      bought.policy.id,
    );
    expect(active?.policyIdOnChain).toBeGreaterThan(0);
    expect(active?.statusOnChain).toBe(0);

    const nonce = await mempoolNonce(backend);
    const settling = await client.activate(active?.policyIdOnChain ?? 0);
    expect(settling.statusDetailed).toBe("Settling");
    expect(BigInt(settling.settlementUstx ?? "0")).toBeGreaterThan(0n);
    // the backend broadcasts update-policy-status: its nonce moves, then its block settles the policy
    await eventually("the backend's status update in the mempool", async () =>
      (await mempoolNonce(backend)) > nonce ? true : undefined,
    );
    await mine();
    const settled = find(
      await seen.until("Settled in my list", (s) => find(s, bought.policy.id)?.statusDetailed === "Settled"),
      bought.policy.id,
    );
    expect(settled?.statusOnChain).toBe(1);
    expect(settled?.settlementUstx).toBe(settling.settlementUstx);
    await eventually("watchPolicy saw Settled", () => (watched.policy?.statusDetailed === "Settled" ? true : undefined));
    // each version at most once, in lifecycle order (a fast pair of changes may arrive as the newer one only)
    const lifecycle = ["PendingCreation", "Active", "Settling", "Settled"];
    expect(statuses[0]).toBe("PendingCreation");
    expect(statuses.at(-1)).toBe("Settled");
    expect(statuses.map((s) => lifecycle.indexOf(s))).toEqual([...new Set(statuses.map((s) => lifecycle.indexOf(s)))].sort());

    const history = await client.policyHistory(bought.policy.id);
    // the request, the reported txid (same status), the chain's confirmation, the activation, the settlement
    expect(history.map((e) => [e.fromStatus, e.toStatus, e.cause])).toEqual([
      [null, "PendingCreation", "request"],
      ["PendingCreation", "PendingCreation", "request"],
      ["PendingCreation", "Active", "chain"],
      ["Active", "Settling", "request"],
      ["Settling", "Settled", "chain"],
    ]);
    seen.checkNoDuplicateNoRegression();
    list.close();
    watched.close();
  });

  it("keeps a live list whole across a dropped WebSocket: nothing lost, nothing twice, nothing older", async () => {
    const api = new URL(REGISTRY_URL);
    const proxy = new CuttableProxy({ host: api.hostname, port: Number(api.port) });
    await proxy.start();
    const client = newClient({ wsUrl: `ws://127.0.0.1:${proxy.port}/graphql` }); // HTTP direct, WebSocket proxied
    const wallet = await demoWallet("wallet_2");
    await client.signIn(wallet);
    const strike = await inTheMoneyStrike(client);
    const buy = () =>
      client.buyPolicy({ wallet, parameters: { protectedAmountSats: AMOUNT_SATS, protectedValueUsd8: strike, durationDays: 9 } });

    // "my open purchases": pending or active, expiring soonest first
    const filter = { statusIn: ["PendingCreation", "Active"] as operations.StatusDetailed[] };
    const list = client.watchPolicies({ me: true, filter, orderBy: "EXPIRATION_HEIGHT_ASC", resumeMarginMs: 30_000 });
    const seen = new Recorder(list);
    const statuses: string[] = [];
    list.onStatus((status) => statuses.push(status));
    await list.ready;
    await eventually("the list's socket is up", () => (list.status === "live" ? true : undefined));

    const first = await buy();
    const kept = await buy(); // stays Active throughout: the replay after the reconnect sends it again, unchanged
    await mine();
    const before = await seen.until(
      "the first two policies Active",
      (s) => find(s, first.policy.id)?.statusDetailed === "Active" && find(s, kept.policy.id)?.statusDetailed === "Active",
    );
    const firstActive = find(before, first.policy.id);
    const keptVersion = find(before, kept.policy.id)?.version;

    await proxy.cut();
    await eventually("the list noticed the drop", () => (list.status === "reconnecting" ? true : undefined));
    const cutAt = seen.snapshots.length;

    // while it is disconnected: a new purchase confirmed, another one pending, the first one activated (it
    // leaves the filter as Settling)
    const second = await buy();
    await mine();
    const third = await buy();
    await client.activate(firstActive?.policyIdOnChain ?? 0);
    const truth = async () =>
      (await client.request(operations.MyPolicyListDocument, { filter, orderBy: "EXPIRATION_HEIGHT_ASC", first: 100 })).me
        ?.policies.edges.map((e) => e.node) ?? [];
    await eventually("the service has applied the changes", async () => {
      const nodes = await truth();
      const status = (id: string) => nodes.find((n) => n.id === id)?.statusDetailed;
      return status(second.policy.id) === "Active" &&
        status(third.policy.id) === "PendingCreation" &&
        status(first.policy.id) === undefined
        ? true
        : undefined;
    });
    // nothing reached the list while the connection was down
    expect(seen.snapshots.length).toBe(cutAt);
    expect(find(seen.latest!, first.policy.id)?.statusDetailed).toBe("Active");
    expect(find(seen.latest!, second.policy.id)).toBeUndefined();

    await proxy.restore();
    // the list converges on what the service holds now (the shared devnet's other policies of this wallet may be
    // changing too, e.g. expiring: compared with a fresh read each time)
    const key = (policies: readonly Policy[]) => policies.map((p) => `${p.id}@${p.version}`).join();
    const { latest, now } = await eventually("the list caught up after reconnecting", async () => {
      const now = await truth();
      const latest = seen.latest!;
      return key(latest.policies) === key(now) ? { latest, now } : undefined;
    });
    expect(latest.policies.map((p) => p.id)).toEqual(now.map((p) => p.id)); // the service's order too
    expect(find(latest, second.policy.id)?.statusDetailed).toBe("Active");
    expect(find(latest, third.policy.id)?.statusDetailed).toBe("PendingCreation");
    expect(find(latest, first.policy.id)).toBeUndefined(); // Settling: it left the filter
    expect(find(latest, kept.policy.id)?.version).toBe(keptVersion); // replayed, dropped as already held
    expect(statuses).toContain("reconnecting");
    expect(statuses.at(-1)).toBe("live");
    seen.checkNoDuplicateNoRegression();

    // and it stays live: the next change arrives over the new connection
    await mine(); // confirms the third purchase
    await seen.until("the third policy Active", (s) => find(s, third.policy.id)?.statusDetailed === "Active");
    seen.checkNoDuplicateNoRegression();
    list.close();
    await proxy.cut();
  });

  it("signs in and buys through @stacks/connect's request methods (a key-backed stand-in for the browser wallet)", async () => {
    // What a browser wallet does with each request (SIP-030), done here with a devnet key: the adapter's params
    // must be all a wallet needs to build exactly the prepared transaction.
    const key = (await devnetAccounts()).accounts.find((a) => a.name === "wallet_4")?.private_key ?? "";
    const asked: string[] = [];
    const request = (async (method: string, params?: Record<string, unknown>) => {
      asked.push(method);
      if (method === "stx_getAddresses") {
        return { addresses: [{ symbol: "BTC", address: "bcrt1qexample" }, { symbol: "STX", address: privateKeyToAddress(key, "testnet") }] };
      }
      if (method === "stx_signMessage") {
        const message = String(params?.message);
        return { signature: signMessageHashRsv({ messageHash: bytesToHex(hashMessage(message)), privateKey: key }), publicKey: privateKeyToPublic(key) };
      }
      const [contractAddress, contractName] = String(params?.contract).split(".");
      const transaction = await makeContractCall({
        contractAddress: contractAddress ?? "",
        contractName: contractName ?? "",
        functionName: String(params?.functionName),
        functionArgs: (params?.functionArgs as string[]).map((hex) => deserializeCV(hex)),
        postConditions: params?.postConditions as string[],
        postConditionMode: params?.postConditionMode as "deny",
        network: params?.network === "mainnet" ? "mainnet" : "testnet",
        client: { baseUrl: STACKS_API_URL },
        senderKey: key,
        fee: 10_000n,
      });
      const sent = await broadcastTransaction({ transaction, network: "testnet", client: { baseUrl: STACKS_API_URL } });
      return "reason" in sent ? { txid: undefined } : { txid: sent.txid, transaction: transaction.serialize() };
    }) as ConnectRequest;
    const client = newClient();
    const wallet = connectWallet(request);
    const session = await client.signIn(wallet);
    expect(session.address).toBe(privateKeyToAddress(key, "testnet"));
    const strike = await inTheMoneyStrike(client);
    const bought = await client.buyPolicy({
      wallet,
      parameters: { protectedAmountSats: AMOUNT_SATS, protectedValueUsd8: strike, durationDays: 5 },
    });
    expect(asked).toEqual(["stx_getAddresses", "stx_signMessage", "stx_callContract"]);
    const watched = client.watchPolicy(bought.policy.id);
    await watched.ready;
    await mine();
    await eventually("the wallet's policy Active", () => (watched.policy?.statusDetailed === "Active" ? true : undefined));
    expect(watched.policy?.txIdCreation?.replace(/^0x/, "")).toBe(bought.txId.replace(/^0x/, ""));
    watched.close();
    // a purchase the wallet refuses names itself, and retrying it with its key is the same purchase
    const parameters = { protectedAmountSats: AMOUNT_SATS, protectedValueUsd8: strike, durationDays: 6 };
    const failed = await client
      .buyPolicy({ wallet: { ...wallet, sendContractCall: () => Promise.reject(new Error("User rejected")) }, parameters })
      .catch((error: unknown) => error);
    expect(isRegistryError(failed, "WALLET")).toBe(true);
    const { idempotencyKey, policyId } = (failed as RegistryError).details as { idempotencyKey: string; policyId: string };
    const retried = await client.buyPolicy({ wallet, parameters, idempotencyKey });
    expect(retried.policy.id).toBe(policyId);
    // a wallet that refuses is a WALLET error, not an exception of its own
    const refusing = connectWallet((async () => {
      throw new Error("User rejected the request");
    }) as unknown as ConnectRequest);
    await expect(newClient().signIn(refusing)).rejects.toMatchObject({ code: "WALLET" });
  });

  it("orders lists exactly as the service does, in every order and both directions", async () => {
    const client = newClient();
    for (const orderBy of ["CREATED_AT_DESC", "EXPIRATION_HEIGHT_ASC", "PREMIUM_DESC"] as const) {
      const forwards = (await client.request(operations.PolicyListDocument, { orderBy, first: 100 })).policies;
      const nodes = forwards.edges.map((e) => e.node);
      expect(nodes.length).toBeGreaterThan(1);
      expect([...nodes].sort(comparePolicies(orderBy)).map((p) => p.id)).toEqual(nodes.map((p) => p.id));
      const backwards = (await client.request(operations.PolicyListDocument, { orderBy, last: 2 })).policies;
      expect(backwards.edges.map((e) => e.node.id)).toEqual(nodes.slice(-2).map((p) => p.id));
      expect(backwards.pageInfo.hasPreviousPage).toBe(nodes.length > 2);
    }
    const stats = await client.stats();
    expect(stats.totals.policyCount).toBe(stats.groups.reduce((n, g) => n + g.policyCount, 0));
    expect(stats.groups.every((g) => g.statusDetailed !== "PendingCreation")).toBe(true);
  });

  it("reports the service's errors as typed values with their codes", async () => {
    const client = newClient();
    const anonymous = client.activate(1);
    await expect(anonymous).rejects.toBeInstanceOf(RegistryError);
    await expect(anonymous).rejects.toMatchObject({ code: "UNAUTHENTICATED" });
    const cursor = await client
      .request(operations.PolicyListDocument, { orderBy: "PREMIUM_DESC", after: "bm90IGEgY3Vyc29y" })
      .catch((error: unknown) => error);
    expect(isRegistryError(cursor, "BAD_INPUT")).toBe(true);
    expect((cursor as RegistryError).details.field).toBe("after");
    const missing = client.watchPolicy("65f000000000000000000000");
    await expect(missing.ready).rejects.toMatchObject({ code: "NOT_FOUND" });
    expect(missing.status).toBe("failed");
    const offline = new RegistryClient({ url: "http://127.0.0.1:9/graphql" }); // nothing listens on port 9
    await expect(offline.stats()).rejects.toMatchObject({ code: "NETWORK" });
  });
});
