#!/usr/bin/env python3
"""Runs Alibaba's official Python SDK against `id2meta mock-upstream` in both of its
signing modes and exits non-zero on any difference.

The SDK signs with V3 (ACS3-HMAC-SHA256) unless `signature_algorithm='v2'` is set, so
its DEFAULT configuration is the first mode checked: the mock must accept it
unchanged. Each identity must get its expected BizCode under both modes (a match, a
name with a space, which the SDK sends as '+', a name full of reserved characters,
a number with no record), a wrong secret must be refused with
`SignatureDoesNotMatch`, the mock must count the calls under the right scheme, and
an upstream that accepts only V3 must refuse the V2 mode with `IncompleteSignature`.

Usage: sdk-check.py [HOST:PORT]   (scripts/sdk-check.sh starts the mock and calls this)
The key pair comes from ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET
(default testid / testsecret, the mock's default).
"""

import json
import os
import sys
import urllib.request

from alibabacloud_cloudauth_intl20220809 import models
from alibabacloud_cloudauth_intl20220809.client import Client
from alibabacloud_tea_openapi import utils_models as open_api_models

# (name, number, expected BizCode). Person 0 of the mock's synthetic population (a
# match) and person 7 (a sequence of 900 or more: no record); a unit test there pins them.
MATCH = "110105195001010004"
IDENTITIES = [
    ("马杰娜", MATCH, "1"),
    ("欧阳 娜娜", MATCH, "2"),
    ("Zhang*San~+/=&%", MATCH, "2"),
    ("李勇平", "440305198910109002", "3"),
]
KEY_ID = os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_ID", "testid")
SECRET = os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "testsecret")
MODES = {"v3 (the SDK's default)": None, "v2": "v2"}


def client(endpoint, mode, secret=SECRET):
    config = open_api_models.Config(
        access_key_id=KEY_ID,
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
    endpoint = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:8099"
    failures = []
    control(endpoint, "/__reset", {})
    expected = [biz for _, _, biz in IDENTITIES]
    for label, mode in MODES.items():
        c = client(endpoint, mode)
        got = [verify(c, name, number) for name, number, _ in IDENTITIES]
        print(f"{label}: {got}")
        if got != expected:
            failures.append(f"{label}: answered {got}, expected {expected}")
        wrong = verify(client(endpoint, mode, secret="not-the-secret"), *IDENTITIES[0][:2])
        if wrong != "error:SignatureDoesNotMatch":
            failures.append(f"{label}: a wrong secret answered {wrong}")
    by_signature = control(endpoint, "/__stats").get("by_signature", {})
    calls = len(IDENTITIES) + 1
    if by_signature.get("v3") != calls or by_signature.get("v2") != calls:
        failures.append(f"the mock counted {by_signature}, expected {calls} of each")

    control(endpoint, "/__config", {"accept_signatures": ["v3"]})
    try:
        v2_refused = verify(client(endpoint, "v2"), *IDENTITIES[0][:2])
        v3_accepted = verify(client(endpoint, None), *IDENTITIES[0][:2])
    finally:
        control(endpoint, "/__config", {"accept_signatures": ["v2", "v3"]})
    print(f"a V3-only upstream: v2 -> {v2_refused}, v3 -> {v3_accepted}")
    if v2_refused != "error:IncompleteSignature":
        failures.append(f"a V3-only upstream answered the v2 mode {v2_refused}")
    if v3_accepted != "1":
        failures.append(f"a V3-only upstream answered the default mode {v3_accepted}")

    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    print("sdk-check: " + ("FAILED" if failures else "the official SDK works in both modes"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
