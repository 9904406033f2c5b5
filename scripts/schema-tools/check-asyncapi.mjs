// Validates an AsyncAPI document with the AsyncAPI initiative's own parser (the one its CLI
// uses): the document against the AsyncAPI 3.0 specification and its bindings, its $refs (the
// message payloads in schemas/) resolved from disk, and the Spectral rules the parser applies.
// Any diagnostic of severity error fails; the others are printed.
//
// The parser does not validate payloads in JSON Schema 2020-12 (the format of schemas/), so
// each message example is validated here, with ajv's 2020-12 validator, against the schema
// file its message names.
//
// Usage: node check-asyncapi.mjs docs/asyncapi.yaml
import { readFileSync } from "node:fs";
import path from "node:path";

import { Parser, fromFile } from "@asyncapi/parser";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const file = process.argv[2];
if (!file) {
  console.error("usage: node check-asyncapi.mjs ASYNCAPI_FILE");
  process.exit(64);
}
const SEVERITY = ["error", "warning", "info", "hint"];
const { document, diagnostics } = await fromFile(new Parser(), file).parse();
for (const d of diagnostics) {
  console.error(`${file}: ${SEVERITY[d.severity]}: ${d.code}: ${d.message} at /${d.path.join("/")}`);
}
let errors = diagnostics.filter((d) => d.severity === 0).length;
if (!document || errors) {
  console.error(`${file}: INVALID (${errors} errors)`);
  process.exit(1);
}

// Message name -> the schema file its payload references.
const SCHEMA_FILES = { job: "job.schema.json", completion: "completion.schema.json" };
const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true });
addFormats(ajv);
const schemas = path.join(path.dirname(file), "../schemas");
let examples = 0;
for (const message of document.messages().all()) {
  const schemaFile = SCHEMA_FILES[message.id()];
  if (!schemaFile) continue;
  const validate = ajv.compile(JSON.parse(readFileSync(path.join(schemas, schemaFile), "utf8")));
  for (const example of message.examples().all()) {
    examples += 1;
    if (!validate(example.payload())) {
      errors += 1;
      console.error(`${file}: error: example ${example.name()} of ${message.id()}: ${ajv.errorsText(validate.errors)}`);
    }
  }
}
if (errors) {
  console.error(`${file}: INVALID (${errors} errors)`);
  process.exit(1);
}
const names = (collection) => collection.all().map((item) => item.id()).join(", ");
console.log(
  `${file}: valid AsyncAPI ${document.version()}: channels ${names(document.channels())}; ` +
    `messages ${names(document.messages())}; ${examples} examples valid against their schemas`,
);
