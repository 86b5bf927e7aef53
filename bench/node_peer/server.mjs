// The fan-out bench's yardstick (bench/fanout.py): the same two subscription fields as the Policy Registry, served
// the way a Node developer would by default. graphql-js executes, graphql-ws (`useServer` on `ws`) speaks
// graphql-transport-ws, the official `mongodb` driver holds ONE change stream on `policies`, and an EventEmitter
// fans each change out to an async iterator per subscriber (`events.on`).
//
//   MONGODB_URI=... MONGODB_DATABASE=... PORT=... node server.mjs
//
// GET /readyz answers 200 once the change stream is open; GET /metrics gives `graphql_subscribers N` (the bench
// waits on it, as it does on the API's own gauge).

import { EventEmitter, on } from 'node:events';
import { createServer } from 'node:http';

import { buildSchema } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { MongoClient } from 'mongodb';
import { WebSocketServer } from 'ws';

const schema = buildSchema(`
  enum StatusDetailed {
    PendingCreation Active Settling Settled Expiring Expired FailedCreation FailedSettlement FailedExpiration
  }
  type Policy {
    id: ID!
    policyIdOnChain: Int
    owner: String!
    counterparty: String
    policyType: String!
    protectedValueUsd8: String!
    protectedAmountSats: String!
    expirationHeight: Int!
    riskTier: String!
    premiumUstx: String!
    collateralUstx: String!
    statusOnChain: Int
    statusDetailed: StatusDetailed!
    quoteId: String
    txIdCreation: String
    txIdStatusUpdate: String
    createdAt: String!
    failureReason: String
    version: Int!
    updatedAt: String!
  }
  type Query { ok: Boolean }
  type Subscription {
    policyUpdated(id: ID!): Policy!
    policiesUpdated(owner: String!): Policy!
  }
`);

const iso = (value) => (value instanceof Date ? value.toISOString() : value ?? null);
const decimal = (value) => (value === null || value === undefined ? null : String(value));

// One GraphQL-shaped object per change, shared by every subscriber's execution.
function toPolicy(doc) {
  return {
    id: String(doc._id),
    policyIdOnChain: doc.policy_id_onchain ?? null,
    owner: doc.owner,
    counterparty: doc.counterparty ?? null,
    policyType: doc.policy_type,
    protectedValueUsd8: decimal(doc.protected_value_usd8),
    protectedAmountSats: decimal(doc.protected_amount_sats),
    expirationHeight: doc.expiration_height,
    riskTier: doc.risk_tier,
    premiumUstx: decimal(doc.premium_ustx),
    collateralUstx: decimal(doc.collateral_ustx),
    statusOnChain: doc.status_onchain ?? null,
    statusDetailed: doc.status_detailed,
    quoteId: doc.quote_id ?? null,
    txIdCreation: doc.tx_id_creation ?? null,
    txIdStatusUpdate: doc.tx_id_status_update ?? null,
    createdAt: iso(doc.created_at),
    failureReason: doc.failure_reason ?? null,
    version: doc.version,
    updatedAt: iso(doc.updated_at),
  };
}

const changes = new EventEmitter();
changes.setMaxListeners(0); // one listener per subscriber: thousands on one topic is the point
let subscribers = 0;

// Each subscriber forwards only versions newer than the last it sent, as the Policy Registry's resolvers do.
// `events.on` registers the listener when the generator starts (graphql-ws iterates it at once after subscribing);
// graphql-ws's `return()` on completion ends the loop and removes the listener.
async function* updates(topic, field) {
  subscribers += 1;
  const seen = new Map();
  try {
    for await (const [policy] of on(changes, topic)) {
      if (policy.version <= (seen.get(policy.id) ?? -1)) continue;
      seen.set(policy.id, policy.version);
      yield { [field]: policy };
    }
  } finally {
    subscribers -= 1;
  }
}

const roots = {
  subscription: {
    policyUpdated: ({ id }) => updates(`policy:${id}`, 'policyUpdated'),
    policiesUpdated: ({ owner }) => updates(`owner:${owner}`, 'policiesUpdated'),
  },
};

const client = new MongoClient(process.env.MONGODB_URI);
await client.connect();
const db = client.db(process.env.MONGODB_DATABASE ?? 'policy_registry');
const stream = db.collection('policies').watch([], { fullDocument: 'updateLookup' });
let ready = false;
stream.once('resumeTokenChanged', () => { ready = true; }); // the server answered: the stream is open
stream.on('change', (change) => {
  const doc = change.fullDocument;
  if (!doc) return;
  const policy = toPolicy(doc);
  changes.emit(`policy:${policy.id}`, policy);
  changes.emit(`owner:${policy.owner}`, policy);
});
stream.on('error', (error) => {
  console.error('change stream failed', error);
  process.exit(1);
});

const http = createServer((request, response) => {
  if (request.url === '/readyz') {
    response.writeHead(ready ? 200 : 503, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ status: ready ? 'ready' : 'starting' }));
  } else if (request.url === '/metrics') {
    response.writeHead(200, { 'content-type': 'text/plain' });
    response.end(`graphql_subscribers ${subscribers}\n`);
  } else {
    response.writeHead(404).end();
  }
});
const wsServer = new WebSocketServer({ server: http, path: '/graphql' });
useServer({ schema, roots }, wsServer);

const port = Number(process.env.PORT ?? 4000);
http.listen({ port, host: process.env.HOST ?? '127.0.0.1', backlog: 8192 }, () => {
  console.log(`node peer listening on ${port}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, async () => {
    await stream.close();
    await client.close();
    process.exit(0);
  });
}
