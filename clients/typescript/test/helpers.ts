// What the service tests share: the service and devnet they were pointed at, the devnet's demo wallets, mining,
// waiting on signals, and a TCP proxy whose connections the test can cut.
import { createServer, type Server, type Socket, connect } from "node:net";
import WebSocket from "ws";
import { RegistryClient, type Wallet, localKeyWallet } from "../src/index.js";

export const REGISTRY_URL = process.env.REGISTRY_URL ?? "";
export const STACKS_API_URL = process.env.STACKS_API_URL ?? "";
/** Set by tests/web/test_typescript_client.py, which starts the service and the devnet for these tests. */
export const SERVICE_GIVEN = REGISTRY_URL !== "" && STACKS_API_URL !== "";

interface DevnetAccount {
  name: string;
  address: string;
  private_key: string;
}

export async function devnetAccounts(): Promise<{ accounts: DevnetAccount[]; backend_address: string }> {
  const response = await fetch(`${STACKS_API_URL}/devnet/accounts`);
  return (await response.json()) as { accounts: DevnetAccount[]; backend_address: string };
}

export async function demoWallet(name: string): Promise<Wallet> {
  const account = (await devnetAccounts()).accounts.find((a) => a.name === name);
  if (account === undefined) throw new Error(`no devnet account ${name}`);
  return localKeyWallet({ privateKey: account.private_key, stacksApiUrl: STACKS_API_URL, feeUstx: 10_000n });
}

export function newClient(options: { wsUrl?: string } = {}): RegistryClient {
  return new RegistryClient({
    url: `${REGISTRY_URL}/graphql`,
    wsUrl: options.wsUrl,
    webSocketImpl: WebSocket,
    retry: { minMs: 50, maxMs: 400 },
  });
}

/** Mine Stacks blocks on the devnet (it mines only on demand in these tests). */
export async function mine(blocks = 1): Promise<void> {
  const response = await fetch(`${STACKS_API_URL}/devnet/mine`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ blocks }),
  });
  if (response.status !== 200) throw new Error(`mine: HTTP ${response.status} ${await response.text()}`);
}

/** Polls `probe` until it returns a value (not undefined), failing after `timeoutMs`: a deadline, not a sleep. */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (last error: ${last})` : ""}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The backend principal's next nonce on the devnet: it moves when the service broadcasts a status update. */
export async function mempoolNonce(address: string): Promise<number> {
  const response = await fetch(`${STACKS_API_URL}/extended/v1/address/${address}/nonces`);
  const body = (await response.json()) as { possible_next_nonce: number };
  return body.possible_next_nonce;
}

/**
 * A loopback TCP proxy to `target`. `cut()` drops every open connection and refuses new ones (a network that
 * went away: the client sees its socket close and its reconnects fail); `restore()` lets connections through again.
 */
export class CuttableProxy {
  private server: Server | undefined;
  private readonly open = new Set<Socket>();
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  async start(port = 0): Promise<void> {
    this.server = createServer((client) => {
      const upstream = connect(this.target.port, this.target.host);
      for (const [a, b] of [
        [client, upstream],
        [upstream, client],
      ] as const) {
        a.on("data", (chunk) => b.write(chunk));
        a.on("end", () => b.end());
        a.on("error", () => b.destroy());
        a.on("close", () => b.destroy());
      }
      this.open.add(client).add(upstream);
      client.on("close", () => this.open.delete(client));
      upstream.on("close", () => this.open.delete(upstream));
    });
    await new Promise<void>((resolve) => this.server?.listen(port, "127.0.0.1", resolve));
    const address = this.server.address();
    this.port = typeof address === "object" && address ? address.port : 0;
  }

  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      server?.close(() => resolve());
      for (const socket of this.open) socket.destroy();
    });
  }

  async restore(): Promise<void> {
    await this.start(this.port); // the same port: the client reconnects to the URL it knows
  }
}
