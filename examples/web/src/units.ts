// Base units ↔ what a person types and reads, with integers only (BigInt): no float ever touches an amount.

function toUnits(text: string, decimals: number, what: string): string {
  const clean = text.trim().replace(/[,_\s$]/g, "");
  const match = /^(\d+)(?:\.(\d*))?$/.exec(clean);
  if (!match) throw new Error(`${what}: "${text}" is not a number`);
  const fraction = match[2] ?? "";
  if (fraction.length > decimals) throw new Error(`${what}: at most ${decimals} decimals`);
  return (BigInt(match[1] ?? "0") * 10n ** BigInt(decimals) + BigInt(fraction.padEnd(decimals, "0") || "0")).toString();
}

function fromUnits(value: string, decimals: number, shown: number): string {
  const units = BigInt(value);
  const scale = 10n ** BigInt(decimals);
  const whole = (units / scale).toLocaleString("en-US");
  const fraction = (units % scale).toString().padStart(decimals, "0").slice(0, shown);
  return shown > 0 ? `${whole}.${fraction}` : whole;
}

export const btcToSats = (btc: string): string => toUnits(btc, 8, "amount");
export const usdToUsd8 = (usd: string): string => toUnits(usd, 8, "strike");
export const formatBtc = (sats: string): string => `${fromUnits(sats, 8, 8).replace(/0+$/, "").replace(/\.$/, "")} BTC`;
export const formatUsd = (usd8: string): string => `$${fromUnits(usd8, 8, 2)}`;
export const formatStx = (ustx: string): string => `${fromUnits(ustx, 6, 6)} STX`;
