"""Publish a small batch of id2meta jobs and wait for their completions.

What a Python onboarding pipeline does with id2meta, end to end:

1. listen first: an exclusive, server-named queue bound to the results exchange
   with `result.#`, so no completion can slip past before we are ready (RabbitMQ 4.3
   refuses transient queues that are not exclusive; a long-lived consumer would use
   a durable queue of its own instead);
2. validate each job against schemas/job.schema.json, plus the three rules no JSON
   Schema can express (body bytes, job_id bytes, metadata bytes);
3. publish each job persistent, message_id = job_id, application/json, mandatory
   (an unroutable job raises instead of vanishing), on a channel with publisher
   confirms (a job counts as sent only once the broker has confirmed it);
4. read completions, keep ours (by job_id), drop duplicates (delivery is at least
   once), validate each against schemas/completion.schema.json and its AMQP
   properties, and print a summary.

Exit status: 0 when every job has a valid completion, 1 otherwise.

Environment: AMQP_URL, ID2META_JOBS_QUEUE, ID2META_RESULTS_EXCHANGE (the worker's
names and defaults), BATCH_ID (default example-py-<UTC time>), TIMEOUT_SECS (60),
ID2META_SCHEMAS (the schemas folder; default ../../schemas from this file).
"""

import collections
import json
import os
import pathlib
import secrets
import sys
import time

import jsonschema
import pika

AMQP_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f")
JOBS_QUEUE = os.environ.get("ID2META_JOBS_QUEUE", "id2meta.jobs")
RESULTS_EXCHANGE = os.environ.get("ID2META_RESULTS_EXCHANGE", "id2meta.results")
BATCH_ID = os.environ.get("BATCH_ID") or time.strftime("example-py-%Y%m%dT%H%M%SZ", time.gmtime())
TIMEOUT_SECS = float(os.environ.get("TIMEOUT_SECS", "60"))
SCHEMAS = pathlib.Path(
    os.environ.get("ID2META_SCHEMAS", pathlib.Path(__file__).resolve().parent.parent.parent / "schemas")
)

# The limits the schemas describe but cannot check (they count characters, not bytes).
MAX_BODY_BYTES = 16 * 1024
MAX_JOB_ID_BYTES = 255
MAX_METADATA_BYTES = 4 * 1024


def validator(name):
    schema = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def compact(value):
    """JSON as the worker measures it: no spaces, UTF-8 as is."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def check_job(jobs_schema, job):
    """Every error the schema and the byte limits find, as text (empty: the job is fine)."""
    errors = [e.message for e in jobs_schema.iter_errors(job)]
    if len(compact(job).encode()) > MAX_BODY_BYTES:
        errors.append("body over 16 KiB")
    if len(job.get("job_id", "").encode()) > MAX_JOB_ID_BYTES:
        errors.append("job_id over 255 bytes of UTF-8")
    if "metadata" in job and len(compact(job["metadata"]).encode()) > MAX_METADATA_BYTES:
        errors.append("metadata over 4 KiB")
    return errors


def sample_jobs():
    """Synthetic identities (no real person), chosen so that the project's mock upstream
    gives every verdict: its data source holds 刘明 and 胡强平 for the first and last
    numbers (match); a real upstream answers otherwise. The wrong check character is
    settled `invalid` by the worker itself, without a call. The last job is interactive."""
    people = [
        ("刘明", "11010519491231002X", "bulk"),
        ("李四", "310104198506120422", "bulk"),  # the mock holds 黄明: mismatch
        ("王五", "44030519920304913X", "bulk"),  # sequence 913: no record in the mock
        ("赵六", "110105194912310021", "bulk"),  # wrong check character: invalid
        ("胡强平", "510107200109080072", "interactive"),
    ]
    return [
        {
            "job_id": f"{BATCH_ID}-{i:03}",
            "name": name,
            "id_number": id_number,
            "batch_id": BATCH_ID,
            "metadata": {"source": "examples/python", "row": i},
            "priority": priority,
        }
        for i, (name, id_number, priority) in enumerate(people)
    ]


def traceparent():
    """A W3C trace context of our own: the worker's spans become its children."""
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


def check_delivery(completions_schema, method, properties, completion):
    """Schema errors plus what the contract promises about the message itself."""
    errors = [e.message for e in completions_schema.iter_errors(completion)]
    if isinstance(completion, dict):
        if properties.message_id != completion.get("job_id"):
            errors.append("message_id is not the job_id")
        if method.routing_key != f"result.{completion.get('status')}":
            errors.append(f"routing key {method.routing_key} does not name the status")
    if properties.content_type != "application/json":
        errors.append(f"content type {properties.content_type}")
    if properties.delivery_mode != pika.DeliveryMode.Persistent.value:
        errors.append("not persistent")
    return errors


def main():
    jobs_schema = validator("job.schema.json")
    completions_schema = validator("completion.schema.json")
    jobs = sample_jobs()
    for job in jobs:
        errors = check_job(jobs_schema, job)
        if errors:
            sys.exit(f"job {job['job_id']} would not be sent: {'; '.join(errors)}")

    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    listener = connection.channel()
    # Exclusive: ours alone, deleted with the connection; server-named so runs never collide.
    results = listener.queue_declare(queue="", exclusive=True).method.queue
    listener.queue_bind(queue=results, exchange=RESULTS_EXCHANGE, routing_key="result.#")

    publisher = connection.channel()
    publisher.confirm_delivery()  # basic_publish now waits for the broker's ack, raises on nack
    for job in jobs:
        # An interactive job overtakes the backlog only from the interactive queue.
        queue = f"{JOBS_QUEUE}.interactive" if job.get("priority") == "interactive" else JOBS_QUEUE
        publisher.basic_publish(
            exchange="",
            routing_key=queue,
            body=compact(job).encode(),
            properties=pika.BasicProperties(
                message_id=job["job_id"],
                content_type="application/json",
                delivery_mode=pika.DeliveryMode.Persistent,
                headers={"traceparent": traceparent()},
            ),
            mandatory=True,  # no such queue: UnroutableError, not a silent drop
        )
    print(f"published {len(jobs)} jobs of batch {BATCH_ID} with confirms", file=sys.stderr)

    waiting = {job["job_id"] for job in jobs}
    received = {}
    problems = []
    deadline = time.monotonic() + TIMEOUT_SECS
    for method, properties, body in listener.consume(results, auto_ack=True, inactivity_timeout=1):
        if waiting and time.monotonic() > deadline:
            break
        if method is None:  # a second without a message
            continue
        try:
            completion = json.loads(body)
        except ValueError:
            problems.append(f"a completion that is not JSON: {body[:80]!r}")
            continue
        job_id = completion.get("job_id") if isinstance(completion, dict) else None
        if job_id not in waiting:
            continue  # another producer's job, or a duplicate of one we have
        errors = check_delivery(completions_schema, method, properties, completion)
        problems.extend(f"{job_id}: {error}" for error in errors)
        received[job_id] = completion
        waiting.discard(job_id)
        if not waiting:
            break
    listener.cancel()
    connection.close()

    counts = collections.Counter(c["status"] for c in received.values())
    print(f"batch {BATCH_ID}: {len(received)} of {len(jobs)} completed")
    for job_id, c in sorted(received.items()):
        print(f"  {job_id}  {c['status']:<9} biz_code={c['biz_code']} attempts={c['attempts']} queue={c.get('queue')}")
    print("  by status: " + ", ".join(f"{s} {n}" for s, n in sorted(counts.items())))
    for job_id in sorted(waiting):
        problems.append(f"{job_id}: no completion within {TIMEOUT_SECS:g} s")
    for problem in problems:
        print(f"PROBLEM {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except pika.exceptions.UnroutableError:
        sys.exit("example failed: a job was unroutable (is the worker's topology declared?)")
    except pika.exceptions.AMQPError as error:
        sys.exit(f"example failed: {error!r}")
