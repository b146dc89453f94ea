// Differential test: `gannet validate` against @hyperjump/json-schema (the most conformant JS
// implementation, 1295/1299 on the suite, its only misses being file: $ids) on seeded, generated
// schema/instance pairs, including MCP-style tool input schemas. Any disagreement fails the test
// and prints the schema, the instance and both verdicts.
// Usage: node differential.mjs GANNET_BINARY WORK_DIR [--seed N] [--schemas N]
import fs from "node:fs";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { registerSchema, validate } from "@hyperjump/json-schema/draft-2020-12";

const args = process.argv.slice(2);
const gannet = args[0];
const work = args[1];
let seed = 20261127;
let nSchemas = 300;
for (let i = 2; i < args.length; i++) {
  if (args[i] === "--seed") seed = Number(args[++i]);
  else if (args[i] === "--schemas") nSchemas = Number(args[++i]);
}
const kInstancesPerSchema = 8;

// mulberry32: small, seedable, identical on every platform.
let state = seed >>> 0;
function rand() {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const int = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));
const pick = (xs) => xs[Math.floor(rand() * xs.length)];
const chance = (p) => rand() < p;

const kKeys = ["path", "mode", "limit", "tags", "query", "options", "name", "a", "b", "c", "x-extra", "__proto__", "toString"];
const kStrings = ["", "a", "abc", "hello world", "Ab", "123", "é", "😀😀", "ÀÉÎ", "read", "write", "2026-11-27", "a-b", "ZZ"];
const kNumbers = [0, 1, -1, 2, 3, 7, 10, 12, 100, 1000, 0.5, 1.0, 2.5, -3.25, 1e3];
const kPatterns = ["^[a-z]+$", "^\\d{3}$", "^\\p{Letter}+$", "^[A-Z][a-z]*$", "b", "^$", "\\s", "^(read|write)$"];
// Own-property assignment that also works for "__proto__" (plain `o[k] = v` would set the prototype).
const setKey = (o, k, v) => Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
const kTypes = ["null", "boolean", "object", "array", "number", "string", "integer"];

function leafSchema() {
  const t = pick(["string", "integer", "number", "boolean", "enum", "const", "array", "null", "multi"]);
  switch (t) {
    case "string": {
      const s = { type: "string" };
      if (chance(0.4)) s.minLength = int(0, 3);
      if (chance(0.4)) s.maxLength = int(1, 6);
      if (chance(0.3)) s.pattern = pick(kPatterns);
      if (chance(0.2)) s.format = pick(["date", "email", "uri"]);  // annotation only by default
      return s;
    }
    case "integer":
    case "number": {
      const s = { type: t };
      if (chance(0.4)) s.minimum = pick([0, 1, -1, 2.5]);
      if (chance(0.4)) s.maximum = pick([10, 100, 12, 7.5]);
      if (chance(0.2)) s.exclusiveMinimum = pick([0, 1]);
      if (chance(0.2)) s.exclusiveMaximum = pick([10, 1000]);
      if (chance(0.25)) s.multipleOf = pick([2, 3, 0.5, 0.25]);
      return s;
    }
    case "boolean": return { type: "boolean" };
    case "enum": return { enum: Array.from({ length: int(0, 4) }, () => pick([...kStrings, ...kNumbers, null, true, [1], { a: 1 }])) };
    case "const": return { const: pick([1, 1.0, "read", null, false, [1, 2], { a: 1.0 }]) };
    case "array": {
      const s = { type: "array", items: leafSchemaShallow() };
      if (chance(0.3)) s.uniqueItems = true;
      if (chance(0.3)) s.minItems = int(0, 2);
      if (chance(0.3)) s.maxItems = int(1, 4);
      return s;
    }
    case "null": return { type: "null" };
    default: return { type: Array.from(new Set([pick(kTypes), pick(kTypes)])) };
  }
}
function leafSchemaShallow() {
  return pick([{ type: "string" }, { type: "integer" }, { type: "number", minimum: 0 }, { enum: ["a", "b", 1] }, true, {}]);
}

// An MCP tool inputSchema: an object of named parameters.
function toolSchema(depth) {
  const n = int(1, 5);
  const props = {};
  const names = [];
  for (let i = 0; i < n; i++) {
    const k = pick(kKeys);
    names.push(k);
    setKey(props, k, depth > 0 && chance(0.25) ? toolSchema(depth - 1) : leafSchema());
  }
  const s = { type: "object", properties: props };
  if (chance(0.7)) s.required = Array.from(new Set(names.filter(() => chance(0.5))));
  if (chance(0.6)) s.additionalProperties = chance(0.8) ? false : leafSchemaShallow();
  if (chance(0.15)) s.patternProperties = { "^x-": { type: "string" } };
  if (chance(0.15)) s.propertyNames = { maxLength: 6 };
  if (chance(0.15)) s.minProperties = int(0, 2);
  if (chance(0.15)) s.maxProperties = int(1, 4);
  if (chance(0.15)) s.dependentRequired = { [pick(names)]: [pick(kKeys)] };
  return s;
}

let nEmbedded = 0;  // embedded resources get their own $id so "#/$defs/..." stays local
function schema(depth) {
  const kind = pick(["tool", "tool", "tool", "allOf", "anyOf", "oneOf", "not", "if", "ref", "uneval", "unevalItems", "tuple", "contains", "depSchemas", "leaf"]);
  const sub = () => (depth > 0 ? schema(depth - 1) : leafSchema());
  switch (kind) {
    case "tool": return toolSchema(depth > 0 ? 1 : 0);
    case "allOf": return { allOf: [sub(), sub()] };
    case "anyOf": return { anyOf: [sub(), sub(), sub()].slice(0, int(1, 3)) };
    case "oneOf": return { oneOf: [sub(), sub()] };
    case "not": return { not: sub() };
    case "if": {
      const s = { if: sub() };
      if (chance(0.8)) s.then = sub();
      if (chance(0.6)) s.else = sub();
      return s;
    }
    case "ref": return { $id: `https://gannet.test/embedded/${++nEmbedded}.json`, $defs: { item: sub(), other: leafSchema() }, type: "object", properties: { [pick(kKeys)]: { $ref: "#/$defs/item" }, [pick(kKeys)]: { $ref: "#/$defs/other" } } };
    case "uneval": return {
      type: "object",
      properties: { [pick(kKeys)]: leafSchemaShallow() },
      allOf: [{ properties: { [pick(kKeys)]: true } }],
      anyOf: [{ properties: { [pick(kKeys)]: leafSchemaShallow() } }, { required: [pick(kKeys)] }],
      ...(chance(0.5) ? { if: { required: [pick(kKeys)] }, then: { properties: { [pick(kKeys)]: true } } } : {}),
      unevaluatedProperties: chance(0.7) ? false : leafSchemaShallow(),
    };
    case "unevalItems": return { prefixItems: [leafSchemaShallow()], ...(chance(0.5) ? { contains: { type: "string" } } : {}), allOf: [{ prefixItems: [true, leafSchemaShallow()] }], unevaluatedItems: chance(0.7) ? false : leafSchemaShallow() };
    case "tuple": return { type: "array", prefixItems: [leafSchemaShallow(), leafSchemaShallow()], items: chance(0.5) ? false : leafSchemaShallow() };
    case "contains": {
      const s = { contains: leafSchemaShallow() };
      if (chance(0.5)) s.minContains = int(0, 2);
      if (chance(0.5)) s.maxContains = int(1, 3);
      return s;
    }
    case "depSchemas": return { dependentSchemas: { [pick(kKeys)]: toolSchema(0) }, properties: { [pick(kKeys)]: leafSchema() } };
    default: return leafSchema();
  }
}

function randomValue(depth) {
  const k = int(0, depth > 0 ? 7 : 4);
  switch (k) {
    case 0: return null;
    case 1: return chance(0.5);
    case 2: return pick(kNumbers);
    case 3: case 4: return pick(kStrings);
    case 5: case 6: return Array.from({ length: int(0, 4) }, () => randomValue(depth - 1));
    default: {
      const o = {};
      for (let i = int(0, 4); i > 0; i--) setKey(o, pick(kKeys), randomValue(depth - 1));
      return o;
    }
  }
}

// A value shaped by the schema (so most instances get past `type`), then perturbed.
function valueFor(s, depth) {
  if (s === true || s === false || typeof s !== "object" || depth < 0) return randomValue(1);
  if ("const" in s && chance(0.6)) return structuredClone(s.const);
  if (s.enum && s.enum.length && chance(0.7)) return structuredClone(pick(s.enum));
  for (const key of ["allOf", "anyOf", "oneOf"]) if (s[key] && chance(0.7)) return valueFor(pick(s[key]), depth - 1);
  if (s.$ref && s.$defs) return valueFor(s.$defs.item, depth - 1);
  let t = Array.isArray(s.type) ? pick(s.type) : s.type;
  if (!t) t = s.properties || s.unevaluatedProperties !== undefined ? "object" : s.prefixItems || s.items || s.contains ? "array" : null;
  switch (t) {
    case "object": {
      const o = {};
      for (const [k, v] of Object.entries(s.properties || {})) if (chance(0.75)) setKey(o, k, valueFor(v, depth - 1));
      if (chance(0.25)) setKey(o, pick(kKeys), randomValue(1));
      return o;
    }
    case "array": {
      const items = [];
      for (const p of s.prefixItems || []) items.push(valueFor(p, depth - 1));
      for (let i = int(0, 3); i > 0; i--) items.push(s.items ? valueFor(s.items, depth - 1) : randomValue(1));
      if (chance(0.2) && items.length) items.push(structuredClone(items[0]));
      return items;
    }
    case "string": return pick(kStrings);
    case "integer": return pick([0, 1, 2, 3, 10, 12, 100, -1, 1.0, 1000]);
    case "number": return pick(kNumbers);
    case "boolean": return chance(0.5);
    case "null": return null;
    default: return randomValue(2);
  }
}

fs.rmSync(work, { recursive: true, force: true });
fs.mkdirSync(work, { recursive: true });
let nCompared = 0;
let nValid = 0;
const disagreements = [];
for (let i = 0; i < nSchemas; i++) {
  const s = JSON.parse(JSON.stringify(schema(2)));
  const dir = path.join(work, String(i));
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, "schema.json"), JSON.stringify(s, null, 1));
  const instances = [];
  for (let j = 0; j < kInstancesPerSchema; j++) {
    const v = JSON.parse(JSON.stringify(chance(0.75) ? valueFor(s, 3) : randomValue(3)));
    instances.push(v);
    fs.writeFileSync(path.join(dir, `${j}.json`), JSON.stringify(v));
  }
  const uri = `https://gannet.test/differential/${i}`;
  let oracle;
  try {
    registerSchema(s, uri, "https://json-schema.org/draft/2020-12/schema");
    oracle = await validate(uri);
  } catch (e) {
    disagreements.push({ schema: i, reason: `hyperjump rejected the schema: ${e.message}` });
    continue;
  }
  const run = spawnSync(gannet, ["validate", "--schema", path.join(dir, "schema.json"), ...instances.map((_, j) => path.join(dir, `${j}.json`))], { encoding: "utf8" });
  if (run.status === 2 || run.error) {
    disagreements.push({ schema: i, reason: `gannet could not use the schema: ${run.stderr || run.error}` });
    continue;
  }
  const lines = run.stdout.trim().split("\n");
  for (let j = 0; j < instances.length; j++) {
    const expected = oracle(instances[j]).valid;
    const got = JSON.parse(lines[j]).valid;
    nCompared++;
    nValid += expected ? 1 : 0;
    if (expected !== got) {
      disagreements.push({ schema: i, instance: j, hyperjump: expected, gannet: got, schemaText: JSON.stringify(s), instanceText: JSON.stringify(instances[j]) });
    }
  }
}
console.log(`differential: seed ${seed}, ${nSchemas} schemas, ${nCompared} instances compared (${nValid} valid), ${disagreements.length} disagreements (cases in ${work})`);
for (const d of disagreements.slice(0, 20)) console.log(JSON.stringify(d));
process.exit(disagreements.length === 0 ? 0 : 1);
