// Publish a small batch of id2meta jobs and wait for their completions.
//
// What a Node onboarding service does with id2meta, end to end:
// 1. listen first: an exclusive, server-named queue bound to the results exchange
//    with `result.#`, so no completion slips past before we are ready (RabbitMQ 4.3
//    refuses transient queues that are not exclusive; a long-lived consumer would use
//    a durable queue of its own instead);
// 2. validate each job against schemas/job.schema.json (ajv, draft 2020-12), plus
//    the three rules no JSON Schema can express (body, job_id and metadata bytes);
// 3. publish each job persistent, messageId = job_id, application/json, mandatory
//    (an unroutable job comes back and fails the run instead of vanishing), on a
//    confirm channel (a job counts as sent once the broker has confirmed it);
// 4. read completions, keep ours (by job_id), drop duplicates (delivery is at least
//    once), validate each against schemas/completion.schema.json and its AMQP
//    properties, and print a summary.
//
// Exit status: 0 when every job has a valid completion, 1 otherwise.
// Environment: AMQP_URL, ID2META_JOBS_QUEUE, ID2META_RESULTS_EXCHANGE (the worker's
// names and defaults), BATCH_ID (default example-node-<UTC time>), TIMEOUT_SECS (60),
// ID2META_SCHEMAS (the schemas folder; default ../../schemas from this file).

import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

import amqp from "amqplib";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const env = process.env;
const AMQP_URL = env.AMQP_URL || "amqp://guest:guest@127.0.0.1:5672/%2f";
const JOBS_QUEUE = env.ID2META_JOBS_QUEUE || "id2meta.jobs";
const RESULTS_EXCHANGE = env.ID2META_RESULTS_EXCHANGE || "id2meta.results";
const BATCH_ID =
  env.BATCH_ID || `example-node-${new Date().toISOString().replace(/[-:]|\.\d+/g, "")}`;
const TIMEOUT_MS = Number(env.TIMEOUT_SECS || 60) * 1000;
const SCHEMAS =
  env.ID2META_SCHEMAS || path.join(path.dirname(fileURLToPath(import.meta.url)), "../../schemas");

// The limits the schemas describe but cannot check (they count characters, not bytes).
const MAX_BODY_BYTES = 16 * 1024;
const MAX_JOB_ID_BYTES = 255;
const MAX_METADATA_BYTES = 4 * 1024;

// Strict: a keyword ajv does not know, or a format it cannot check, is an error. Union
// types (`["string", "null"]`) are plain JSON Schema: the completion's nullable fields.
const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true });
addFormats(ajv);
const load = (name) => ajv.compile(JSON.parse(readFileSync(path.join(SCHEMAS, name), "utf8")));
const validateJob = load("job.schema.json");
const validateCompletion = load("completion.schema.json");

const bytes = (text) => Buffer.byteLength(text, "utf8");
const errorsOf = (validate, value) =>
  validate(value) ? [] : validate.errors.map((e) => `${e.instancePath || "/"} ${e.message}`);

/** Every error the schema and the byte limits find (empty: the job is fine). */
function checkJob(job) {
  const errors = errorsOf(validateJob, job);
  if (bytes(JSON.stringify(job)) > MAX_BODY_BYTES) errors.push("body over 16 KiB");
  if (bytes(job.job_id ?? "") > MAX_JOB_ID_BYTES) errors.push("job_id over 255 bytes of UTF-8");
  if (job.metadata !== undefined && bytes(JSON.stringify(job.metadata)) > MAX_METADATA_BYTES) {
    errors.push("metadata over 4 KiB");
  }
  return errors;
}

/** Synthetic identities (no real person), chosen so that the project's mock upstream
 * gives every verdict: its data source holds 刘明 and 胡强平 for the first and last
 * numbers (match); a real upstream answers otherwise. The wrong check character is
 * settled `invalid` by the worker itself, without a call. The last job is interactive. */
function sampleJobs() {
  const people = [
    ["刘明", "11010519491231002X", "bulk"],
    ["李四", "310104198506120422", "bulk"], // the mock holds 黄明: mismatch
    ["王五", "44030519920304913X", "bulk"], // sequence 913: no record in the mock
    ["赵六", "110105194912310021", "bulk"], // wrong check character: invalid
    ["胡强平", "510107200109080072", "interactive"],
  ];
  return people.map(([name, id_number, priority], i) => ({
    job_id: `${BATCH_ID}-${String(i).padStart(3, "0")}`,
    name,
    id_number,
    batch_id: BATCH_ID,
    metadata: { source: "examples/node", row: i },
    priority,
  }));
}

/** A W3C trace context of our own: the worker's spans become its children. */
const traceparent = () => `00-${randomBytes(16).toString("hex")}-${randomBytes(8).toString("hex")}-01`;

/** Schema errors plus what the contract promises about the message itself. */
function checkDelivery(message, completion) {
  const errors = errorsOf(validateCompletion, completion);
  const { properties, fields } = message;
  if (properties.messageId !== completion.job_id) errors.push("messageId is not the job_id");
  if (fields.routingKey !== `result.${completion.status}`) {
    errors.push(`routing key ${fields.routingKey} does not name the status`);
  }
  if (properties.contentType !== "application/json") errors.push(`content type ${properties.contentType}`);
  if (properties.deliveryMode !== 2) errors.push("not persistent");
  return errors;
}

async function main() {
  const jobs = sampleJobs();
  for (const job of jobs) {
    const errors = checkJob(job);
    if (errors.length) throw new Error(`job ${job.job_id} would not be sent: ${errors.join("; ")}`);
  }

  const connection = await amqp.connect(AMQP_URL);
  // A channel the broker closes (no such exchange, say) rejects the pending call, which ends
  // the run below; without a listener the same error would also crash the process here.
  connection.on("error", (error) => console.error(`connection error: ${error.message}`));
  const problems = [];
  const received = new Map();
  const waiting = new Set(jobs.map((job) => job.job_id));
  try {
    const listener = await connection.createChannel();
    listener.on("error", () => {}); // reported by the call that failed
    // Exclusive: ours alone, deleted with the connection; server-named so runs never collide.
    const { queue: results } = await listener.assertQueue("", { exclusive: true });
    await listener.bindQueue(results, RESULTS_EXCHANGE, "result.#");
    let allIn;
    const done = new Promise((resolve) => (allIn = resolve));
    await listener.consume(
      results,
      (message) => {
        if (message === null) return problems.push("the broker cancelled our consumer");
        let completion;
        try {
          completion = JSON.parse(message.content.toString("utf8"));
        } catch {
          return problems.push(`a completion that is not JSON: ${message.content.subarray(0, 80)}`);
        }
        const jobId = completion?.job_id;
        if (!waiting.has(jobId)) return; // another producer's job, or a duplicate of one we have
        problems.push(...checkDelivery(message, completion).map((e) => `${jobId}: ${e}`));
        received.set(jobId, completion);
        waiting.delete(jobId);
        if (waiting.size === 0) allIn();
      },
      { noAck: true },
    );

    const publisher = await connection.createConfirmChannel();
    publisher.on("error", () => {}); // reported by waitForConfirms
    const returned = [];
    publisher.on("return", (message) => returned.push(message.properties.messageId));
    for (const job of jobs) {
      // An interactive job overtakes the backlog only from the interactive queue.
      const queue = job.priority === "interactive" ? `${JOBS_QUEUE}.interactive` : JOBS_QUEUE;
      publisher.publish("", queue, Buffer.from(JSON.stringify(job), "utf8"), {
        messageId: job.job_id,
        contentType: "application/json",
        persistent: true,
        headers: { traceparent: traceparent() },
        mandatory: true, // no such queue: the job comes back (a `return`), not a silent drop
      });
    }
    await publisher.waitForConfirms(); // rejects if the broker nacked any of them
    if (returned.length) throw new Error(`unroutable (is the worker's topology declared?): ${returned.join(", ")}`);
    console.error(`published ${jobs.length} jobs of batch ${BATCH_ID} with confirms`);

    let timer;
    const timeout = new Promise((resolve) => (timer = setTimeout(resolve, TIMEOUT_MS)));
    await Promise.race([done, timeout]);
    clearTimeout(timer);
  } finally {
    await connection.close().catch(() => {}); // already closed by the broker: nothing to do
  }

  const counts = {};
  console.log(`batch ${BATCH_ID}: ${received.size} of ${jobs.length} completed`);
  for (const [jobId, c] of [...received].sort()) {
    counts[c.status] = (counts[c.status] ?? 0) + 1;
    console.log(
      `  ${jobId}  ${c.status.padEnd(9)} biz_code=${c.biz_code} attempts=${c.attempts} queue=${c.queue}`,
    );
  }
  const byStatus = Object.entries(counts).sort().map(([s, n]) => `${s} ${n}`);
  console.log(`  by status: ${byStatus.join(", ")}`);
  for (const jobId of [...waiting].sort()) problems.push(`${jobId}: no completion within ${TIMEOUT_MS / 1000} s`);
  for (const problem of problems) console.error(`PROBLEM ${problem}`);
  return problems.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(`example failed: ${error.message}`);
    process.exit(1);
  },
);
