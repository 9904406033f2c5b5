"""Checks schemas/*.schema.json: each against the JSON Schema 2020-12 metaschema, its own
`examples`, and a table of messages the contract accepts and refuses (so a schema that lets a
refused message through, or refuses an accepted one, fails CI). Run by scripts/examples.sh in
the examples' venv (needs jsonschema).

With --cases FILE it also writes the table as JSON, for check-cases.mjs to run the same
cases through ajv: the patterns must mean the same in Python's `re` and in ECMAScript.

Usage: python check-schemas.py [--cases FILE] [SCHEMAS_DIR]"""

import json
import pathlib
import sys

import jsonschema

ARGS = sys.argv[1:]
CASES_FILE = ARGS[ARGS.index("--cases") + 1] if "--cases" in ARGS else None
if CASES_FILE:
    del ARGS[ARGS.index("--cases") : ARGS.index("--cases") + 2]
SCHEMAS = pathlib.Path(ARGS[0] if ARGS else pathlib.Path(__file__).resolve().parent.parent.parent / "schemas")

JOB = {"job_id": "onb-000123", "name": "张三", "id_number": "11010519491231002X",
       "batch_id": "onboarding-2026-11-28", "metadata": {"applicant": "a-77"}}
COMPLETION = {"job_id": "onb-000123", "batch_id": "onboarding-2026-11-28", "queue": "id2meta.jobs",
              "status": "match", "biz_code": "1", "upstream_code": "Success", "request_id": "130A2C10-x",
              "attempts": 1, "completed_at": "2026-11-28T13:09:58Z", "metadata": {"applicant": "a-77"}}


def job(**changes):
    body = dict(JOB, **changes)
    return {k: v for k, v in body.items() if v is not ...}


def completion(**changes):
    body = dict(COMPLETION, **changes)
    return {k: v for k, v in body.items() if v is not ...}


# (why, message, accepted?) where `...` removes a field.
JOBS = [
    ("the contract's example", job(), True),
    ("only the required fields", job(batch_id=..., metadata=...), True),
    ("interactive", job(priority="interactive"), True),
    ("bulk", job(priority="bulk"), True),
    ("surrounding white space and a lower-case x", job(name=" 张三 ", id_number=" 11010519491231002x "), True),
    ("a 128-character job_id", job(job_id="j" * 128), True),
    ("a wrong check character (the worker settles it invalid)", job(id_number="110105194912310021"), True),
    ("metadata nested, no NUL", job(metadata={"a": [{"b": "c"}, 1, None, True]}), True),
    ("a name with a middle dot and spaces", job(name="买买提·艾力"), True),
    ("no job_id", job(job_id=...), False),
    ("an empty job_id", job(job_id=""), False),
    ("a 129-character job_id", job(job_id="j" * 129), False),
    ("a control character in job_id", job(job_id="onb\n1"), False),
    ("a bidi override in job_id", job(job_id="onb\u202e1"), False),
    ("job_id a number", job(job_id=123), False),
    ("no name", job(name=...), False),
    ("an empty name", job(name="  "), False),
    ("a 65-character name", job(name="张" * 65), False),
    ("two spaces inside a name", job(name="Zhang  San"), False),
    ("a zero-width space in a name", job(name="张\u200b三"), False),
    ("no id_number", job(id_number=...), False),
    ("a 17-character id_number", job(id_number="11010519491231002"), False),
    ("a 13th month", job(id_number="11010519491331002X"), False),
    ("an empty batch_id", job(batch_id=""), False),
    ("a 129-character batch_id", job(batch_id="b" * 129), False),
    ("a tab in batch_id", job(batch_id="a\tb"), False),
    ("metadata an array", job(metadata=["a"]), False),
    ("metadata a string", job(metadata="a"), False),
    ("a NUL in a metadata key", job(metadata={"a\u0000": 1}), False),
    ("a NUL deep in metadata", job(metadata={"a": [{"b": "c\u0000"}]}), False),
    ("an unknown priority", job(priority="urgent"), False),
    ("priority in capitals", job(priority="Interactive"), False),
    ("a misspelt field", job(prority="interactive"), False),
    ("batch_id null", job(batch_id=None), False),
]

COMPLETIONS = [
    ("the contract's example with queue", completion(), True),
    ("with priority", completion(priority="interactive"), True),
    ("mismatch", completion(status="mismatch", biz_code="2"), True),
    ("not_found", completion(status="not_found", biz_code="3"), True),
    ("invalid, nothing called", completion(status="invalid", biz_code=None, upstream_code=None,
                                           request_id=None, attempts=0, metadata=None, batch_id=None), True),
    ("rejected", completion(status="rejected", biz_code=None, upstream_code="InvalidParameter"), True),
    ("failed", completion(status="failed", biz_code=None, upstream_code="InternalError", attempts=6), True),
    ("cancelled before a call", completion(status="cancelled", biz_code=None, upstream_code=None,
                                           request_id=None, attempts=0), True),
    ("a reused verdict", completion(reused_from_job_id="onb-000001", attempts=0, upstream_code=None,
                                    request_id=None), True),
    ("no queue (rev 3 carries it)", completion(queue=...), False),
    ("no batch_id (null, never absent)", completion(batch_id=...), False),
    ("no metadata (null, never absent)", completion(metadata=...), False),
    ("an unknown status", completion(status="pending"), False),
    ("match with BizCode 2", completion(biz_code="2"), False),
    ("failed with a BizCode", completion(status="failed", biz_code="1"), False),
    ("invalid with a call", completion(status="invalid", biz_code=None, upstream_code=None,
                                       request_id=None, attempts=1), False),
    ("a reused not_found", completion(status="not_found", biz_code="3", reused_from_job_id="onb-1",
                                      attempts=0, upstream_code=None, request_id=None), False),
    ("a reused verdict that made a call", completion(reused_from_job_id="onb-000001"), False),
    ("fractional seconds", completion(completed_at="2026-11-28T13:09:58.123Z"), False),
    ("an offset instead of Z", completion(completed_at="2026-11-28T13:09:58+00:00"), False),
    ("attempts negative", completion(attempts=-1), False),
    ("a name leaked into it", completion(name="张三"), False),
]


def check(name, table):
    schema = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    failures = [f"{name}: its example {e!r} is refused" for e in schema.get("examples", [])
                if not validator.is_valid(e)]
    for why, message, accepted in table:
        if validator.is_valid(message) != accepted:
            failures.append(f"{name}: {why}: {'refused' if accepted else 'accepted'}, expected the opposite")
    print(f"{name}: valid 2020-12 schema; {len(schema.get('examples', []))} examples and "
          f"{len(table)} cases checked, {len(failures)} wrong")
    return failures


failures = check("job.schema.json", JOBS) + check("completion.schema.json", COMPLETIONS)
if CASES_FILE:
    tables = {"job.schema.json": JOBS, "completion.schema.json": COMPLETIONS}
    cases = {name: [{"why": w, "message": m, "accepted": a} for w, m, a in table] for name, table in tables.items()}
    pathlib.Path(CASES_FILE).write_text(json.dumps(cases, ensure_ascii=False), encoding="utf-8")
for failure in failures:
    print(f"FAIL {failure}", file=sys.stderr)
sys.exit(1 if failures else 0)
