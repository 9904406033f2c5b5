// Runs the accepted and refused messages of check-schemas.py (its --cases output) through
// ajv's 2020-12 validator, as the Node example uses it: a pattern that means one thing in
// Python's `re` and another in ECMAScript (with the `u` flag) fails here.
//
// Usage: node check-cases.mjs CASES_FILE SCHEMAS_DIR
import { readFileSync } from "node:fs";
import path from "node:path";

import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const [casesFile, schemas] = process.argv.slice(2);
if (!casesFile || !schemas) {
  console.error("usage: node check-cases.mjs CASES_FILE SCHEMAS_DIR");
  process.exit(64);
}
const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true });
addFormats(ajv);
let wrong = 0;
for (const [name, cases] of Object.entries(JSON.parse(readFileSync(casesFile, "utf8")))) {
  const validate = ajv.compile(JSON.parse(readFileSync(path.join(schemas, name), "utf8")));
  for (const { why, message, accepted } of cases) {
    if (validate(message) !== accepted) {
      wrong += 1;
      console.error(`FAIL ${name}: ${why}: ${accepted ? "refused" : "accepted"} by ajv, expected the opposite`);
    }
  }
  console.log(`${name}: ${cases.length} cases under ajv (2020-12, strict)`);
}
process.exit(wrong ? 1 : 0);
