#!/usr/bin/env python3
"""Calls the mock upstream with Alibaba's official Python SDK, unchanged.

Proves the mock is faithful to what the real SDK sends (HMAC-SHA1 "v2" signing,
POST to / with the parameters in the query string, spaces as '+') and answers
what the SDK can read. Exits non-zero on any difference.

    pip install alibabacloud_cloudauth-intl20220809
    id2meta mock-upstream --listen 127.0.0.1:8099 &
    python3 scripts/sdk-check.py 127.0.0.1:8099

The key pair comes from ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET
(default testid / testsecret, the mock's default).
"""

import json
import os
import sys
import urllib.request

from alibabacloud_cloudauth_intl20220809.client import Client
from alibabacloud_cloudauth_intl20220809 import models
from alibabacloud_tea_openapi.models import Config

# Person 0 of the mock's synthetic population (a match), and a number whose
# sequence is 900 or more (no record).
# (population::person(0) and person(7); a unit test there pins them.)
MATCH = ("马杰娜", "110105195001010004")
NOT_FOUND = ("李勇平", "440305198910109002")


def client(endpoint, secret=None):
    return Client(Config(
        access_key_id=os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_ID", "testid"),
        access_key_secret=secret or os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "testsecret"),
        endpoint=endpoint,
        protocol="http",
        signature_algorithm="v2",
    ))


def verify(sdk, name, number):
    request = models.Id2MetaVerifyIntlRequest(
        product_code="ID_2META", param_type="normal", identify_num=number, user_name=name)
    return sdk.id_2meta_verify_intl(request).body


def main():
    endpoint = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:8099"
    sdk = client(endpoint)
    failures = []

    def expect(what, got, want):
        status = "ok" if got == want else "FAILED"
        print(f"{status}: {what}: got {got!r}, want {want!r}")
        if got != want:
            failures.append(what)

    name, number = MATCH
    body = verify(sdk, name, number)
    expect("a call signed by the SDK succeeds", body.code, "Success")
    expect("the SDK reads Result.BizCode of a match", body.result.biz_code if body.result else None, "1")

    body = verify(sdk, "欧阳 娜娜", number)  # a space, which the SDK sends as '+'
    expect("a name with a space is signed and read alike", (body.code, body.result.biz_code), ("Success", "2"))

    expect("a number with no record", verify(sdk, *NOT_FOUND).result.biz_code, "3")

    try:
        verify(client(endpoint, secret="wrong"), name, number)
        expect("a wrong secret is refused", "no error", "SignatureDoesNotMatch")
    except Exception as error:  # the SDK raises TeaException / ClientException
        expect("a wrong secret is refused", getattr(error, "code", None), "SignatureDoesNotMatch")

    stats = json.load(urllib.request.urlopen(f"http://{endpoint}/__stats"))
    print("mock stats:", json.dumps(stats, ensure_ascii=False))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
