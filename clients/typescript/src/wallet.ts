/**
 * Wallets: what signs in (Stacks message signing) and what signs and broadcasts the prepared contract call.
 *
 * - `localKeyWallet`: a private key held by this process (the devnet's demo accounts, scripts, tests), with
 *   @stacks/transactions signing and the Stacks API broadcasting.
 * - `connectWallet`: a browser wallet through @stacks/connect's `request` (Leather, Xverse, ...): the wallet
 *   shows the message or the call to its user, signs, and broadcasts itself.
 */
import { bytesToHex } from "@stacks/common";
import { hashMessage } from "@stacks/encryption";
import {
  broadcastTransaction,
  deserializeCV,
  fetchNonce,
  makeContractCall,
  privateKeyToAddress,
  privateKeyToPublic,
  signMessageHashRsv,
  type TxBroadcastResult,
  type TxBroadcastResultRejected,
} from "@stacks/transactions";
import { RegistryError } from "./errors.js";
import type { RequestPolicyCreationMutation } from "./generated/graphql.js";

/** The contract call `requestPolicyCreation` prepares (function args and post-conditions as hex). */
export type PreparedContractCall = RequestPolicyCreationMutation["requestPolicyCreation"]["transaction"];

export interface SignedMessage {
  /** RSV signature, hex. */
  signature: string;
  /** The signer's public key, hex (compressed). */
  publicKey: string;
}

export interface Wallet {
  /** The address that signs in, owns the policies and pays the premiums. */
  getAddress(): Promise<string>;
  /** Stacks message signing (`stx_signMessage`): sha256 over the prefixed message, recoverable secp256k1. */
  signMessage(message: string): Promise<SignedMessage>;
  /** Sign the prepared call exactly as given (post-conditions included) and broadcast it; resolves to the txid. */
  sendContractCall(call: PreparedContractCall): Promise<string>;
}

function stacksNetwork(name: string): "mainnet" | "testnet" {
  return name === "mainnet" ? "mainnet" : "testnet"; // devnet and testnet share testnet's address versions
}

export interface LocalKeyWalletOptions {
  /** Hex private key (66 characters with the compressed-key suffix 01, as Devnet.toml lists them). */
  privateKey: string;
  /** The Stacks node / Hiro API the transaction is broadcast to (nonce and fee come from it too). */
  stacksApiUrl: string;
  network?: "mainnet" | "testnet";
  /** Fee in micro-STX; the node's estimate when omitted. */
  feeUstx?: bigint;
  fetch?: typeof fetch;
}

/** A wallet whose key this process holds: for the devnet's demo accounts, scripts and tests. */
export function localKeyWallet(options: LocalKeyWalletOptions): Wallet {
  const network = options.network ?? "testnet";
  const client = { baseUrl: options.stacksApiUrl.replace(/\/$/, ""), ...(options.fetch ? { fetch: options.fetch } : {}) };
  const address = privateKeyToAddress(options.privateKey, network);
  return {
    getAddress: async () => address,
    signMessage: async (message) => ({
      signature: signMessageHashRsv({ messageHash: bytesToHex(hashMessage(message)), privateKey: options.privateKey }),
      publicKey: privateKeyToPublic(options.privateKey) as string,
    }),
    async sendContractCall(call) {
      const callNetwork = stacksNetwork(call.network);
      if (callNetwork !== network) {
        throw new RegistryError("WALLET", `the call is for ${call.network}; this wallet signs for ${network}`);
      }
      let transaction;
      try {
        const nonce = await fetchNonce({ address, network, client });
        transaction = await makeContractCall({
          contractAddress: call.contractAddress,
          contractName: call.contractName,
          functionName: call.functionName,
          functionArgs: call.functionArgs.map((hex) => deserializeCV(hex)),
          postConditions: call.postConditionsHex,
          postConditionMode: call.postConditionMode === "deny" ? "deny" : "allow",
          network,
          client,
          senderKey: options.privateKey,
          nonce,
          ...(options.feeUstx !== undefined ? { fee: options.feeUstx } : {}),
        });
      } catch (error) {
        throw new RegistryError(
          "WALLET",
          `the transaction could not be prepared with ${client.baseUrl}: ${error instanceof Error ? error.message : error}`,
        );
      }
      let result: TxBroadcastResult;
      try {
        result = await broadcastTransaction({ transaction, network, client });
      } catch (error) {
        throw new RegistryError("BROADCAST", `the node did not take the transaction: ${String(error)}`);
      }
      if ("reason" in result) {
        const rejected = result as TxBroadcastResultRejected;
        throw new RegistryError("BROADCAST", `the node refused the transaction: ${rejected.reason}`, {
          reason: rejected.reason,
          reasonData: "reason_data" in rejected ? rejected.reason_data : undefined,
        });
      }
      return result.txid;
    },
  };
}

/** What this client uses of @stacks/connect's `request` (its signature narrowed to the three methods). */
export interface ConnectRequest {
  (method: "stx_getAddresses"): Promise<{ addresses: { address: string; publicKey?: string; symbol?: string }[] }>;
  (method: "stx_signMessage", params: { message: string }): Promise<{ signature: string; publicKey: string }>;
  (
    method: "stx_callContract",
    params: {
      contract: `${string}.${string}`;
      functionName: string;
      functionArgs: string[];
      postConditions: string[];
      postConditionMode: "allow" | "deny";
      network: string;
    },
  ): Promise<{ txid?: string; transaction?: string }>;
}

/**
 * A browser wallet through @stacks/connect: `connectWallet(request)` with `import { request } from
 * "@stacks/connect"`. The wallet asks its user to approve each step and broadcasts the transaction itself.
 */
export function connectWallet(request: ConnectRequest, options: { address?: string } = {}): Wallet {
  let address = options.address;
  const wrap = async <T>(what: string, step: () => Promise<T>): Promise<T> => {
    try {
      return await step();
    } catch (error) {
      if (error instanceof RegistryError) throw error;
      throw new RegistryError("WALLET", `the wallet did not ${what}: ${error instanceof Error ? error.message : String(error)}`);
    }
  };
  return {
    async getAddress() {
      if (address === undefined) {
        const { addresses } = await wrap("share its address", () => request("stx_getAddresses"));
        // Stacks entries carry symbol "STX" (or none, in older wallets) and a Stacks address
        const stacks = addresses.find((a) => a.symbol === "STX" || /^S[PTMN]/.test(a.address));
        if (stacks === undefined) throw new RegistryError("WALLET", "the wallet shared no Stacks address");
        address = stacks.address;
      }
      return address;
    },
    signMessage: (message) => wrap("sign the message", () => request("stx_signMessage", { message })),
    async sendContractCall(call) {
      const result = await wrap("send the transaction", () =>
        request("stx_callContract", {
          contract: `${call.contractAddress}.${call.contractName}`,
          functionName: call.functionName,
          functionArgs: call.functionArgs,
          postConditions: call.postConditionsHex,
          postConditionMode: call.postConditionMode === "deny" ? "deny" : "allow",
          network: call.network,
        }),
      );
      if (!result.txid) throw new RegistryError("WALLET", "the wallet returned no transaction id");
      return result.txid;
    },
  };
}
