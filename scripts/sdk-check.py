#!/usr/bin/env python3
"""Runs Alibaba's official Python SDK against `id2meta mock-upstream` in both of its
signing modes and exits non-zero on any difference.

The SDK signs with V3 (ACS3-HMAC-SHA256) unless `signature_algorithm='v2'` is set, so
its DEFAULT configuration is the first mode checked: the mock must accept it
unchanged. Each identity must get the same BizCode under both modes, a number the
mock holds no record for must get BizCode 3, a wrong secret must be refused with
`SignatureDoesNotMatch`, the mock must count the calls under the right scheme, and
an upstream that accepts only V3 must refuse the V2 mode with `IncompleteSignature`.

Usage: sdk-check.py HOST:PORT   (scripts/sdk-check.sh starts the mock and calls this)
"""

import json
import sys
import urllib.request

from alibabacloud_cloudauth_intl20220809 import models
from alibabacloud_cloudauth_intl20220809.client import Client
from alibabacloud_tea_openapi import utils_models as open_api_models

# Shape-valid numbers (the mock checks the shape; the worker checks the check digit).
IDENTITIES = [
    ("张三", "110105194912310021"),
    ("欧阳 娜娜", "11010519491231002X"),  # a space: the SDK sends it as '+'
    ("Zhang*San~+/=", "440305199001011234"),
    ("李四", "110105194912319995"),  # sequence 999: no record, BizCode 3
]
MODES = {"v3 (the SDK's default)": None, "v2": "v2"}


def client(endpoint, mode, secret="testsecret"):
    config = open_api_models.Config(
        access_key_id="testid",
        access_key_secret=secret,
        endpoint=endpoint,
        protocol="http",
        region_id="cn-hongkong",
    )
    if mode is not None:
        config.signature_algorithm = mode
    return Client(config)


def verify(c, name, number):
    """The answer's BizCode, or 'error:<Code>'."""
    request = models.Id2MetaVerifyIntlRequest(
        product_code="ID_2META", param_type="normal", identify_num=number, user_name=name
    )
    try:
        body = c.id_2meta_verify_intl(request).body
    except Exception as error:  # the SDK raises one exception type per HTTP status class
        return f"error:{getattr(error, 'code', type(error).__name__)}"
    if body.code != "Success" or body.result is None:
        return f"error:{body.code}"
    return body.result.biz_code


def control(endpoint, path, payload=None):
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(
        f"http://{endpoint}{path}", data=data, headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read()
    return json.loads(text) if text else None


def main():
    endpoint = sys.argv[1]
    failures = []
    control(endpoint, "/__reset", {})
    answers = {}
    for label, mode in MODES.items():
        c = client(endpoint, mode)
        answers[label] = [verify(c, name, number) for name, number in IDENTITIES]
        print(f"{label}: {answers[label]}")
        for (name, number), got in zip(IDENTITIES, answers[label]):
            if got not in ("1", "2", "3"):
                failures.append(f"{label}: {number[:6]}... answered {got}")
        wrong = verify(client(endpoint, mode, secret="not-the-secret"), *IDENTITIES[0])
        if wrong != "error:SignatureDoesNotMatch":
            failures.append(f"{label}: a wrong secret answered {wrong}")
    first, second = answers.values()
    if first != second:
        failures.append(f"the modes disagree: {first} vs {second}")
    if first[3] != "3":
        failures.append(f"a number without a record answered {first[3]}, not 3")
    by_signature = control(endpoint, "/__stats").get("by_signature", {})
    calls = len(IDENTITIES) + 1
    if by_signature.get("v3") != calls or by_signature.get("v2") != calls:
        failures.append(f"the mock counted {by_signature}, expected {calls} of each")

    control(endpoint, "/__config", {"accept_signatures": ["v3"]})
    try:
        v2_refused = verify(client(endpoint, "v2"), *IDENTITIES[0])
        v3_accepted = verify(client(endpoint, None), *IDENTITIES[0])
    finally:
        control(endpoint, "/__config", {"accept_signatures": ["v2", "v3"]})
    print(f"a V3-only upstream: v2 -> {v2_refused}, v3 -> {v3_accepted}")
    if v2_refused != "error:IncompleteSignature":
        failures.append(f"a V3-only upstream answered the v2 mode {v2_refused}")
    if v3_accepted not in ("1", "2"):
        failures.append(f"a V3-only upstream answered the default mode {v3_accepted}")

    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    print("sdk-check: " + ("FAILED" if failures else "the official SDK works in both modes"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
