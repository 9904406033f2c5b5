//! The mock's request decoding and its gate, on arbitrary query strings and
//! form bodies. Decoding never panics and loses nothing a client encoded:
//! parameters re-encoded the RPC way decode back to themselves, whatever the
//! bytes. The gate's checks never panic, and what `business` accepts has the
//! shape the data source accepts; a call signed from the decoded parameters
//! passes `authenticate`, one signed with another secret does not.
#![no_main]

use chrono::{DateTime, Utc};
use id2meta::mock::gate::{authenticate, business, operation, well_formed_id_number};
use id2meta::mock::request::{decode_form_into, parameters, Params};
use id2meta::upstream::signing::{percent_encode_rpc, signature};
use libfuzzer_sys::fuzz_target;

const KEY_ID: &str = "testid";
const SECRET: &str = "testsecret";

fuzz_target!(|data: &[u8]| {
    // The first 0xFF byte, if any, separates the query from the form body.
    let (query, body) = match data.iter().position(|b| *b == 0xFF) {
        Some(at) => (&data[..at], Some(&data[at + 1..])),
        None => (data, None),
    };
    let query = String::from_utf8_lossy(query);
    let params = parameters(Some(&query), body);

    let mut again = Params::new();
    decode_form_into(&encode(&params), &mut again);
    assert_eq!(again, params, "re-encoded parameters decode differently");

    let now = timestamp_now(&params);
    let _ = authenticate("POST", &params, KEY_ID, SECRET, now);
    let _ = operation(&params);
    if let Ok(found) = business(&params) {
        assert!(well_formed_id_number(found.id_number));
        assert!(!found.name.is_empty());
    }

    // Sign what was decoded (as the client would) and the gate must agree.
    let mut signed = params.clone();
    signed.insert("AccessKeyId".into(), KEY_ID.into());
    signed.insert("SignatureMethod".into(), "HMAC-SHA1".into());
    signed.insert("SignatureVersion".into(), "1.0".into());
    signed.insert("Timestamp".into(), "2026-12-01T00:00:00Z".into());
    if signed.get("SignatureNonce").is_none_or(String::is_empty) {
        signed.insert("SignatureNonce".into(), "n".into());
    }
    let pairs = || signed.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    let good = signature("POST", pairs(), SECRET);
    let bad = signature("POST", pairs(), "another secret");
    let at = DateTime::parse_from_rfc3339("2026-12-01T00:05:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default();
    // Through the wire: encode, decode, verify.
    let mut wire = Params::new();
    signed.insert("Signature".into(), good);
    decode_form_into(&encode(&signed), &mut wire);
    assert!(
        authenticate("POST", &wire, KEY_ID, SECRET, at).is_ok(),
        "a well-signed call was refused"
    );
    signed.insert("Signature".into(), bad);
    assert!(authenticate("POST", &signed, KEY_ID, SECRET, at).is_err());
});

/// The parameters as the client sends them: every name and value RPC-encoded.
fn encode(params: &Params) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode_rpc(k), percent_encode_rpc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The call's own timestamp when it has one that parses, so fuzzed calls can
/// reach the checks past the window; otherwise a fixed instant.
fn timestamp_now(params: &Params) -> DateTime<Utc> {
    params
        .get("Timestamp")
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}
