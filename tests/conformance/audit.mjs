// Runs graphql-http's serverAudits (GraphQL over HTTP spec conformance) against the URL given as the first
// argument and prints one JSON line: every audit's id, name, status (ok, notice, warn, error) and reason.
import { serverAudits } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs http://127.0.0.1:PORT/graphql');
  process.exit(2);
}
const results = [];
for (const audit of serverAudits({ url })) {
  // One at a time: the service's rate limit and the log stay readable, and a failure names its audit.
  const result = await audit.fn();
  results.push({ id: result.id, name: result.name, status: result.status, reason: result.reason ?? null });
}
console.log(JSON.stringify(results));
