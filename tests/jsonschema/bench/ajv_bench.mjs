// ajv (compiled validator, JIT-warmed) on the same cases as jsonschema_bench: ns per validation.
// Usage: node ajv_bench.mjs [--min-time-ms N] CASE_DIR...
import fs from "node:fs";
import path from "node:path";
import Ajv2020 from "ajv/dist/2020.js";

const args = process.argv.slice(2);
let minTimeMs = 300;
const dirs = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--min-time-ms") minTimeMs = Number(args[++i]);
  else dirs.push(args[i]);
}
for (const dir of dirs) {
  const schema = JSON.parse(fs.readFileSync(path.join(dir, "schema.json"), "utf8"));
  const instances = fs.readFileSync(path.join(dir, "instances.jsonl"), "utf8").split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
  // strict:false: tool schemas carry unknown keywords; formats are annotations in 2020-12.
  const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: false });
  const validate = ajv.compile(schema);
  let totalNs = 0;
  let nValid = 0;
  for (const instance of instances) {
    if (validate(instance)) nValid++;
    for (let i = 0; i < 20000; i++) validate(instance);  // warm the JIT
    let n = 64;
    for (;;) {
      const start = process.hrtime.bigint();
      let sink = 0;
      for (let i = 0; i < n; i++) sink += validate(instance) ? 1 : 0;
      const elapsed = Number(process.hrtime.bigint() - start);
      if (sink > n) throw new Error("unreachable");
      if (elapsed >= (minTimeMs * 1e6) / instances.length) {
        totalNs += elapsed / n;
        break;
      }
      n *= 2;
    }
  }
  console.log(JSON.stringify({ validator: "ajv", case: path.basename(dir), ns_per_validation: +(totalNs / instances.length).toFixed(1), n_instances: instances.length, n_valid: nValid }));
}
