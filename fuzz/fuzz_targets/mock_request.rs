//! The mock's request decoding and its gate. Arbitrary calls (method, query,
//! headers, body): nothing panics, parameters re-encoded the RPC way decode back
//! to themselves, and what `business` accepts has the shape the data source
//! accepts. Calls the client's signer makes from arbitrary business parameters,
//! under V2 or V3: the gate admits them with their nonce and operation, reads
//! the parameters back unchanged, and refuses them under another secret.
#![no_main]

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use id2meta::credentials::Credentials;
use id2meta::mock::gate::{authenticate, business, operation, well_formed_id_number};
use id2meta::mock::keys::Keys;
use id2meta::mock::request::{decode_form_into, Call, Params};
use id2meta::secret::Secret;
use id2meta::upstream::signing::{percent_encode_rpc, Request, Scheme, Signer};
use id2meta::upstream::{ACTION, API_VERSION};
use libfuzzer_sys::fuzz_target;

const KEY_ID: &str = "testid";
const SECRET: &str = "testsecret";
const TIMESTAMP: &str = "2026-12-01T00:00:00Z";
/// Names the V2 signer sets itself; a business parameter never uses them.
const COMMON: [&str; 10] = [
    "AccessKeyId",
    "Action",
    "Format",
    "Signature",
    "SignatureMethod",
    "SignatureNonce",
    "SignatureVersion",
    "SecurityToken",
    "Timestamp",
    "Version",
];

type Input = (
    bool,
    String,
    Vec<(String, String)>,
    Vec<u8>,
    Vec<(String, String)>,
);

fuzz_target!(|input: Input| {
    let (post, query, headers, body, wanted) = input;
    let now = DateTime::parse_from_rfc3339(TIMESTAMP)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default();
    let keys = Keys::new(KEY_ID.into(), Secret::new(SECRET));
    let both = [Scheme::V2, Scheme::V3];

    // Whatever arrives.
    let headers: BTreeMap<String, String> = headers
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    let call = Call::new(
        if post { "POST" } else { "GET" },
        Some(&query),
        headers,
        body,
    );
    for params in [&call.query, &call.params] {
        let mut again = Params::new();
        decode_form_into(&encode(params), &mut again);
        assert_eq!(&again, params, "re-encoded parameters decode differently");
    }
    if let Ok(admitted) = authenticate(&call, &keys, &both, now) {
        let _ = operation(&admitted);
    }
    if let Ok(found) = business(&call.params) {
        assert!(well_formed_id_number(found.id_number));
        assert!(!found.name.is_empty());
    }

    // What the client sends, under one scheme per input (signing is the costly part).
    let wanted: BTreeMap<String, String> = wanted
        .into_iter()
        .filter(|(k, _)| !COMMON.contains(&k.as_str()))
        .collect();
    let business_pairs: Vec<(&str, &str)> = wanted
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let credentials = Credentials::fixed(KEY_ID, Secret::new(SECRET), None);
    {
        let scheme = if post { Scheme::V3 } else { Scheme::V2 };
        let signed = Signer::new(scheme, ACTION, API_VERSION).sign(&Request {
            method: "POST",
            host: "127.0.0.1:8099",
            business: &business_pairs,
            credentials: &credentials,
            nonce: "nonce-1",
            timestamp: TIMESTAMP,
        });
        let headers: BTreeMap<String, String> = signed
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.expose().to_owned()))
            .collect();
        let call = Call::new("POST", Some(signed.query.expose()), headers, Vec::new());
        let admitted = authenticate(&call, &keys, &both, now)
            .unwrap_or_else(|a| panic!("{scheme} call refused: {}", a.code));
        assert_eq!((admitted.scheme, admitted.nonce), (scheme, "nonce-1"));
        assert!(
            operation(&admitted).is_ok(),
            "{scheme}: operation not read back"
        );
        for (name, value) in &wanted {
            assert_eq!(
                call.params.get(name),
                Some(value),
                "{scheme}: a parameter changed"
            );
        }
        let stranger = Keys::new(KEY_ID.into(), Secret::new("another secret"));
        assert!(authenticate(&call, &stranger, &both, now).is_err());
    }
});

/// Parameters as the client encodes them: every name and value RPC-encoded.
fn encode(params: &Params) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode_rpc(k), percent_encode_rpc(v)))
        .collect::<Vec<_>>()
        .join("&")
}
