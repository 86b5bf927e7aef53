// Clarity helpers shared by the devnet: argument type checks against a contract's ABI (the node's
// BadFunctionArgument check), the repr strings Hiro's API shows beside every hex value, and u128s in JSON.
import { cvToHex, cvToString } from "@stacks/transactions";

/** A u128 as the node writes it in JSON (account balances, NotEnoughFunds' reason_data): 0x + 32 hex digits. */
export function u128Hex(value) {
  return `0x${BigInt(value).toString(16).padStart(32, "0")}`;
}

/** `{hex, repr}` as the Hiro API renders a Clarity value. */
export function hexRepr(cv) {
  return { hex: cvToHex(cv), repr: cvToString(cv) };
}

/** Clarity's own spelling of an ABI type, e.g. `(buff 16)`, for `function_args[].type`. */
export function typeSignature(type) {
  if (typeof type === "string") {
    return { uint128: "uint", int128: "int", bool: "bool", principal: "principal", trait_reference: "trait_reference", none: "none" }[type] ?? type;
  }
  if (type.buffer) return `(buff ${type.buffer.length})`;
  if (type["string-ascii"]) return `(string-ascii ${type["string-ascii"].length})`;
  if (type["string-utf8"]) return `(string-utf8 ${type["string-utf8"].length})`;
  if (type.optional) return `(optional ${typeSignature(type.optional)})`;
  if (type.response) return `(response ${typeSignature(type.response.ok)} ${typeSignature(type.response.error)})`;
  if (type.list) return `(list ${type.list.length} ${typeSignature(type.list.type)})`;
  if (type.tuple) return `(tuple ${type.tuple.map((f) => `(${f.name} ${typeSignature(f.type)})`).join(" ")})`;
  return JSON.stringify(type);
}

function byteLength(cv) {
  if (cv.type === "buffer") return cv.value.length / 2;
  return Buffer.byteLength(cv.value, cv.type === "utf8" ? "utf8" : "latin1");
}

/** Returns null when `cv` fits the ABI `type`, else a message saying why not. */
export function typeMismatch(cv, type) {
  const fail = () => `expected ${typeSignature(type)}, got ${cvToString(cv)}`;
  if (typeof type === "string") {
    const ok = {
      uint128: cv.type === "uint",
      int128: cv.type === "int",
      bool: cv.type === "true" || cv.type === "false",
      principal: cv.type === "address" || cv.type === "contract",
      trait_reference: cv.type === "contract",
      none: cv.type === "none",
    }[type];
    return ok ? null : fail();
  }
  if (type.buffer) return cv.type === "buffer" && byteLength(cv) <= type.buffer.length ? null : fail();
  if (type["string-ascii"]) return cv.type === "ascii" && byteLength(cv) <= type["string-ascii"].length ? null : fail();
  if (type["string-utf8"]) return cv.type === "utf8" && byteLength(cv) <= type["string-utf8"].length ? null : fail();
  if (type.optional) {
    if (cv.type === "none") return null;
    return cv.type === "some" ? typeMismatch(cv.value, type.optional) : fail();
  }
  if (type.response) {
    if (cv.type === "ok") return typeMismatch(cv.value, type.response.ok);
    if (cv.type === "err") return typeMismatch(cv.value, type.response.error);
    return fail();
  }
  if (type.list) {
    if (cv.type !== "list" || cv.value.length > type.list.length) return fail();
    for (const item of cv.value) {
      const why = typeMismatch(item, type.list.type);
      if (why) return why;
    }
    return null;
  }
  if (type.tuple) {
    if (cv.type !== "tuple") return fail();
    const names = Object.keys(cv.value);
    if (names.length !== type.tuple.length) return fail();
    for (const field of type.tuple) {
      if (!(field.name in cv.value)) return fail();
      const why = typeMismatch(cv.value[field.name], field.type);
      if (why) return why;
    }
    return null;
  }
  return fail();
}
