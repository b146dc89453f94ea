// Turns a few JSON-Schema-Test-Suite (draft2020-12) test cases into benchmark cases
// (OUT/suite_<name>/{schema.json, instances.jsonl}): every test's data becomes an instance.
// Usage: node make_suite_cases.mjs SUITE_DIR OUT_DIR
import fs from "node:fs";
import path from "node:path";

const [suite, out] = process.argv.slice(2);
// (file, case description): cases without remote refs, so every validator can load them alone.
const picks = [
  ["properties.json", "properties, patternProperties, additionalProperties interaction", "props_patterns"],
  ["ref.json", "Recursive references between schemas", "recursive_ref"],
  ["unevaluatedProperties.json", "nested unevaluatedProperties, outer false, inner true, properties inside", "uneval_nested"],
  ["anyOf.json", "anyOf complex types", "anyof_complex"],
  ["dynamicRef.json", "multiple dynamic paths to the $dynamicRef keyword", "dynamic_paths"],
  ["uniqueItems.json", "uniqueItems validation", "unique_items"],
];
for (const [file, description, name] of picks) {
  const cases = JSON.parse(fs.readFileSync(path.join(suite, "tests/draft2020-12", file), "utf8"));
  const c = cases.find((x) => x.description === description);
  if (!c) throw new Error(`${file}: no case '${description}'`);
  const schema = { $schema: "https://json-schema.org/draft/2020-12/schema", ...c.schema };
  const dir = path.join(out, `suite_${name}`);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "schema.json"), JSON.stringify(schema, null, 1));
  fs.writeFileSync(path.join(dir, "instances.jsonl"), c.tests.map((t) => JSON.stringify(t.data)).join("\n") + "\n");
}
