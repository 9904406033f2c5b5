#!/usr/bin/env python3
"""Generates the boundary bodies of the hostile corpus (files `gen_*` in
tests/corpus/hostile/ and their lines in EXPECTED.tsv; the hand-written files
and lines are kept), and the message_id cases in hostile/message_id/.

Run from anywhere: python3 tests/corpus/generate.py. Deterministic: running it
twice changes nothing. Fates: `valid`, `invalid[:<reason>]`, `dead:<reason>`.
"""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
HOSTILE = os.path.join(HERE, "hostile")
MESSAGE_ID = os.path.join(HOSTILE, "message_id")
NAME, NUMBER = "张三", "11010519491231002X"

cases = []  # (file, bytes, fate)


def compact(value):
    # serde_json's own serialisation: no spaces, non-ASCII kept as UTF-8.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def job(job_id, **fields):
    body = {"job_id": job_id, "name": NAME, "id_number": NUMBER}
    for key, value in fields.items():
        if value is DROP:
            body.pop(key, None)
        else:
            body[key] = value
    return body


DROP = object()


def add(name, body, fate):
    data = body if isinstance(body, bytes) else compact(body).encode("utf-8")
    cases.append((f"gen_{name}.json", data, fate))


# --- job_id: characters and bytes at and around 128 characters / 255 bytes.
for n, fate in [(1, "valid"), (127, "valid"), (128, "valid"), (129, "dead:invalid_job_id"),
                (255, "dead:invalid_job_id")]:
    add(f"job_id_ascii_{n}", job(f"{n:03d}" + "a" * (n - 3) if n >= 3 else "j"), fate)
for n, fate in [(84, "valid"), (85, "valid"), (86, "dead:invalid_job_id"),
                (128, "dead:invalid_job_id"), (129, "dead:invalid_job_id")]:
    add(f"job_id_cjk_{n}_chars_{3 * n}_bytes", job(f"{n:03d}" + "身" * (n - 1)), fate)
for n, fate in [(127, "valid"), (128, "dead:invalid_job_id")]:  # 2-byte characters
    add(f"job_id_2byte_{n}_chars", job("é" * n if n == 128 else "b" + "é" * (n - 1)), fate)
for n, fate in [(63, "valid"), (64, "dead:invalid_job_id")]:  # 4-byte characters
    add(f"job_id_emoji_{n}_chars", job("😀" * n), fate)
add("job_id_254_bytes_mixed", job("m" + "身" * 84 + "x"), "valid")  # 86 chars, 254 bytes
add("job_id_256_bytes_mixed", job("mm" + "身" * 84 + "xy"), "dead:invalid_job_id")  # 88 chars, 256
for label, text in [("nul", "a\u0000b"), ("soh", "a\u0001b"), ("tab", "a\tb"), ("newline", "a\nb"),
                    ("del", "a\u007fb"), ("c1", "a\u0085b"), ("zero_width", "a\u200bb"),
                    ("bidi_override", "a\u202eb"), ("bom_inside", "a\ufeffb")]:
    add(f"job_id_{label}", job(text), "dead:invalid_job_id")
add("job_id_empty", job(""), "dead:missing_job_id")
add("job_id_space", job(" "), "valid")
add("job_id_escaped_key", b'{"job\\u005fid":"escaped-key","name":"\\u5f20\\u4e09","id_number":"11010519491231002X"}', "valid")

# --- every JSON type in every field.
TYPES = [("int", 1), ("negative", -1), ("float", 1.5), ("big", 10**30), ("true", True), ("false", False),
         ("array", ["x"]), ("empty_array", []), ("object", {"a": 1}), ("empty_object", {}), ("null", None),
         ("string", "text")]
for field in ["job_id", "name", "id_number", "batch_id", "metadata", "priority"]:
    for label, value in TYPES:
        job_id = f"type-{field}-{label}"
        if field == "job_id":
            body = job(value)
        else:
            body = job(job_id, **{field: value})
        if field == "job_id":
            fate = {"null": "dead:missing_job_id", "string": "valid"}.get(label, "dead:wrong_type")
        elif field == "name":
            fate = {"null": "invalid:name_empty", "string": "valid"}.get(label, "dead:wrong_type")
        elif field == "id_number":
            fate = {"null": "invalid:id_number_length", "string": "invalid:id_number_length"}.get(
                label, "dead:wrong_type")
        elif field == "batch_id":
            fate = {"null": "valid", "string": "valid"}.get(label, "dead:wrong_type")
        elif field == "metadata":
            fate = {"null": "valid", "object": "valid", "empty_object": "valid"}.get(label, "dead:wrong_type")
        else:
            fate = "valid" if label == "null" else "invalid:priority_invalid"
        add(f"type_{field}_{label}", body, fate)
add("type_unknown_field_object", job("type-unknown", extra={"deep": [1, 2]}), "valid")

# --- metadata: 4 KiB serialised, in bytes, and NUL anywhere.
def metadata_of(total_bytes, char="x"):
    # {"p":"..."} is 8 bytes plus the string's bytes.
    width = len(char.encode("utf-8"))
    count, rest = divmod(total_bytes - 8, width)
    return {"p": char * count + "y" * rest}
for total, fate in [(4095, "valid"), (4096, "valid"), (4097, "invalid:metadata_too_large")]:
    add(f"metadata_{total}_bytes_ascii", job(f"meta-ascii-{total}", metadata=metadata_of(total)), fate)
    add(f"metadata_{total}_bytes_cjk", job(f"meta-cjk-{total}", metadata=metadata_of(total, "身")), fate)
add("metadata_1366_cjk_chars_over_4k_bytes", job("meta-chars", metadata={"p": "身" * 1366}),
    "invalid:metadata_too_large")
for label, metadata in [("value", {"note": "a\u0000b"}), ("key", {"a\u0000": 1}),
                        ("only_nul", {"n": "\u0000"}), ("nested_array", {"d": [["ok", "\u0000"]]}),
                        ("nested_key", {"d": {"k\u0000": None}}), ("deep", {"a": {"b": {"c": {"d": ["\u0000"]}}}})]:
    add(f"metadata_nul_in_{label}", job(f"meta-nul-{label}", metadata=metadata), "invalid:metadata_contains_nul")
add("metadata_nul_with_bad_batch", job("meta-nul-batch", batch_id="b" * 129, metadata={"n": "\u0000"}),
    "invalid:batch_id_invalid")
add("metadata_escaped_backslash_u0000", job("meta-literal", metadata={"n": "\\u0000"}), "valid")
add("metadata_surrogate_pair_escape", b'{"job_id":"meta-pair","name":"\\u5f20\\u4e09","id_number":"11010519491231002X","metadata":{"e":"\\ud83d\\ude00"}}', "valid")
add("metadata_lone_surrogate_escape", b'{"job_id":"meta-lone","name":"\\u5f20\\u4e09","id_number":"11010519491231002X","metadata":{"e":"\\ud800"}}', "dead:not_json")
add("metadata_lone_low_surrogate", b'{"job_id":"meta-low","name":"x","id_number":"1","metadata":{"e":"\\udc00x"}}', "dead:not_json")
add("metadata_all_escapes", job("meta-escapes", metadata={"e": "\"\\/\b\f\n\r\t\u0001\u001f"}), "valid")

# --- nesting depth (serde_json's limit is 128 levels in all).
def nested(depth):
    return "[" * depth + "]" * depth
for depth, fate in [(10, "valid"), (100, "valid"), (200, "dead:not_json"), (1000, "dead:not_json")]:
    text = '{"job_id":"depth-%d","name":"张三","id_number":"11010519491231002X","metadata":{"d":%s}}' % (
        depth, nested(depth))
    add(f"nesting_metadata_{depth}", text.encode("utf-8"), fate)
add("nesting_top_level_array_500", nested(500).encode(), "dead:not_json")

# --- body size: 16 KiB in bytes.
def padded(total, char="x"):
    base = job(f"body-{total}-{len(char.encode())}", pad="")
    room = total - len(compact(base).encode("utf-8"))
    width = len(char.encode("utf-8"))
    count, rest = divmod(room, width)
    base["pad"] = char * count + "z" * rest
    return base
for total, fate in [(16383, "valid"), (16384, "valid"), (16385, "dead:too_large")]:
    add(f"body_{total}_bytes_ascii", padded(total), fate)
    add(f"body_{total}_bytes_cjk", padded(total, "身"), fate)

# --- batch_id: 128 characters.
for label, value, fate in [("128_ascii", "b" * 128, "valid"), ("129_ascii", "b" * 129, "invalid:batch_id_invalid"),
                           ("128_cjk", "批" * 128, "valid"), ("129_cjk", "批" * 129, "invalid:batch_id_invalid"),
                           ("1", "b", "valid"), ("empty", "", "valid"), ("nul", "b\u0000", "invalid:batch_id_invalid"),
                           ("newline", "b\n", "invalid:batch_id_invalid"),
                           ("zero_width", "b\u200b", "invalid:batch_id_invalid"),
                           ("emoji_128", "😀" * 128, "valid")]:
    add(f"batch_id_{label}", job(f"batch-{label}", batch_id=value), fate)

# --- priority values.
for label, value, fate in [("interactive", "interactive", "valid"), ("bulk", "bulk", "valid"),
                           ("capitalised", "Interactive", "invalid:priority_invalid"),
                           ("upper", "BULK", "invalid:priority_invalid"),
                           ("padded", " bulk ", "invalid:priority_invalid"),
                           ("unknown", "urgent", "invalid:priority_invalid"),
                           ("empty", "", "invalid:priority_invalid"),
                           ("nul", "bulk\u0000", "invalid:priority_invalid")]:
    add(f"priority_{label}", job(f"priority-{label}", priority=value), fate)

# --- names and numbers with NUL never reach a text column: settled invalid.
add("name_nul", job("name-nul", name="张\u0000三"), "invalid:name_control_characters")
add("id_number_nul", job("id-nul", id_number="11010519491231002\u0000"), "invalid:id_number_characters")
add("id_number_lower_x", job("id-lower-x", id_number="11010519491231002x"), "valid")
add("id_number_padded", job("id-padded", id_number="  11010519491231002X\t"), "valid")
add("id_number_19_chars", job("id-19", id_number=NUMBER + "1"), "invalid:id_number_length")
add("id_number_17_chars", job("id-17", id_number=NUMBER[:17]), "invalid:id_number_length")

# --- encodings.
text = compact(job("utf16")).encode("utf-8").decode("utf-8")
add("encoding_utf16le_bom", b"\xff\xfe" + text.encode("utf-16-le"), "dead:not_utf8")
add("encoding_utf16be_bom", b"\xfe\xff" + text.encode("utf-16-be"), "dead:not_utf8")
add("encoding_utf16le_no_bom", text.encode("utf-16-le"), "dead:not_json")  # NUL bytes are UTF-8
add("encoding_utf32le", text.encode("utf-32-le"), "dead:not_json")
add("encoding_utf8_bom", b"\xef\xbb\xbf" + compact(job("bom")).encode(), "dead:not_json")
add("encoding_overlong_slash", b'{"job_id":"over\xc0\xafy","name":"x","id_number":"1"}', "dead:not_utf8")
add("encoding_overlong_nul", b'{"job_id":"over","name":"\xc0\x80","id_number":"1"}', "dead:not_utf8")
add("encoding_overlong_3byte", b'{"job_id":"over3","name":"\xe0\x80\xaf","id_number":"1"}', "dead:not_utf8")
add("encoding_raw_surrogate_cesu", b'{"job_id":"cesu","name":"\xed\xa0\x80","id_number":"1"}', "dead:not_utf8")
add("encoding_truncated_sequence", b'{"job_id":"cut","name":"\xe5\xbc","id_number":"1"}', "dead:not_utf8")
add("encoding_latin1", '{"job_id":"latin","name":"Jos\u00e9","id_number":"1"}'.encode("latin-1"), "dead:not_utf8")
add("encoding_raw_nul_byte", b'{"job_id":"raw\x00nul","name":"x","id_number":"1"}', "dead:not_json")
add("encoding_raw_control_in_string", b'{"job_id":"raw\x01","name":"x","id_number":"1"}', "dead:not_json")
add("encoding_above_unicode", b'{"job_id":"big","name":"\xf4\x90\x80\x80","id_number":"1"}', "dead:not_utf8")
add("encoding_escaped_name", b'{"job_id":"esc-name","name":"\\u5F20\\u4E09","id_number":"\\u0031\\u0031010519491231002X"}', "valid")
add("encoding_bad_escape", b'{"job_id":"bad-esc","name":"\\x41","id_number":"1"}', "dead:not_json")
add("encoding_trailing_comma", b'{"job_id":"comma","name":"x","id_number":"1",}', "dead:not_json")
add("encoding_single_quotes", b"{'job_id':'single'}", "dead:not_json")
add("encoding_whitespace_around", b' \n\t{"job_id":"ws","name":"\xe5\xbc\xa0\xe4\xb8\x89","id_number":"11010519491231002X"}\r\n ', "valid")

# message_id fallbacks: (file, body, message_id, fate); published with that property.
message_cases = [
    ("absent", job(DROP) if False else {"name": NAME, "id_number": NUMBER}, "mid-absent", "valid"),
    ("null", job(None), "mid-null", "valid"),
    ("empty", job(""), "mid-empty", "valid"),
    ("body_wins", job("body-wins"), "mid-ignored", "valid"),
    ("cjk_85", {"name": NAME, "id_number": NUMBER}, "身" * 85, "valid"),
    ("control", {"name": NAME, "id_number": NUMBER}, "mid\u0001", "dead:invalid_job_id"),
    ("129_chars", {"name": NAME, "id_number": NUMBER}, "m" * 129, "dead:invalid_job_id"),
    ("empty_property", {"name": NAME, "id_number": NUMBER}, "", "dead:missing_job_id"),
    ("body_invalid_property_valid", job("a\u0001"), "mid-valid", "dead:invalid_job_id"),
]


def write():
    os.makedirs(MESSAGE_ID, exist_ok=True)
    for name in os.listdir(HOSTILE):
        if name.startswith("gen_"):
            os.remove(os.path.join(HOSTILE, name))
    for name in os.listdir(MESSAGE_ID):
        os.remove(os.path.join(MESSAGE_ID, name))
    manifest = os.path.join(HOSTILE, "EXPECTED.tsv")
    kept = [line for line in open(manifest, encoding="utf-8").read().splitlines()
            if line and not line.startswith("gen_")]
    names = set()
    for name, data, fate in cases:
        assert name not in names, name
        names.add(name)
        with open(os.path.join(HOSTILE, name), "wb") as f:
            f.write(data)
    lines = kept + [f"{name}\t{fate}" for name, _, fate in cases]
    with open(manifest, "w", encoding="utf-8") as f:
        f.write("\n".join(sorted(lines)) + "\n")
    rows = []
    for label, body, message_id, fate in message_cases:
        name = f"{label}.json"
        with open(os.path.join(MESSAGE_ID, name), "wb") as f:
            f.write(compact(body).encode("utf-8"))
        rows.append(f"{name}\t{json.dumps(message_id, ensure_ascii=False)}\t{fate}")
    with open(os.path.join(MESSAGE_ID, "EXPECTED.tsv"), "w", encoding="utf-8") as f:
        f.write("\n".join(rows) + "\n")
    print(f"{len(lines)} bodies in hostile/, {len(rows)} in hostile/message_id/")


write()
