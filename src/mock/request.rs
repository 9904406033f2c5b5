//! What an API call to the mock carries in, and the Alibaba-shaped bodies it gets back.
//!
//! Parameters may come in the query string, in a form-encoded body, or both, and a
//! `+` means a space in either (the official SDK sends spaces that way while signing
//! over `%20`). The decoding is done here by hand so that the query and the body are
//! read by exactly the same rule.

use std::collections::BTreeMap;

use percent_encoding::percent_decode_str;
use serde_json::json;

use crate::upstream::signing::Scheme;

/// Where the mock says it runs, as the real gateway names its host in error bodies.
const HOST_ID: &str = "cloudauth-intl.cn-hongkong.aliyuncs.com";

/// Decoded parameters; a name given twice keeps its last value.
pub type Params = BTreeMap<String, String>;

/// Decodes `application/x-www-form-urlencoded` text (a query string or a body) into `into`.
pub fn decode_form_into(text: &str, into: &mut Params) {
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        into.insert(decode_component(name), decode_component(value));
    }
}

/// The parameters of a call: the query string, then a form body over it.
pub fn parameters(query: Option<&str>, form_body: Option<&[u8]>) -> Params {
    let mut params = Params::new();
    if let Some(query) = query {
        decode_form_into(query, &mut params);
    }
    if let Some(body) = form_body {
        decode_form_into(&String::from_utf8_lossy(body), &mut params);
    }
    params
}

/// One API call as it arrived, for the gate and the business logic.
#[derive(Debug, Clone, Default)]
pub struct Call {
    pub method: String,
    /// The query string's parameters alone: what V3 canonicalises.
    pub query: Params,
    /// The query with a form body merged over it: what V2 signs and the business reads.
    pub params: Params,
    /// Header names in lower case; a repeated header's values joined by `,`.
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl Call {
    pub fn new(
        method: &str,
        raw_query: Option<&str>,
        headers: BTreeMap<String, String>,
        body: Vec<u8>,
    ) -> Self {
        let is_form = headers
            .get("content-type")
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        Self {
            method: method.to_string(),
            query: parameters(raw_query, None),
            params: parameters(raw_query, is_form.then_some(&body[..])),
            headers,
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// A call whose signature, key and timestamp passed: the nonce to admit and the
/// operation it names, wherever its scheme carries them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted<'a> {
    pub scheme: Scheme,
    pub nonce: &'a str,
    pub action: &'a str,
    pub version: &'a str,
}

fn decode_component(raw: &str) -> String {
    let spaced = raw.replace('+', " ");
    percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

/// One answer of the API: an HTTP status, the `Code` it carries, and the JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub code: String,
    pub body: serde_json::Value,
}

impl Answer {
    /// `{"RequestId","HostId","Code","Message","Recommend"}` under `status`.
    pub fn error(status: u16, code: &str, message: &str) -> Self {
        Self {
            status,
            code: code.to_string(),
            body: json!({
                "RequestId": request_id(),
                "HostId": HOST_ID,
                "Code": code,
                "Message": message,
                "Recommend": format!(
                    "https://api.aliyun.com/troubleshoot?q={code}&product=Cloudauth-intl"
                ),
            }),
        }
    }

    /// Whether Alibaba bills this answer: a `Success` whose BizCode is `1` or `2`.
    pub fn is_billed(&self) -> bool {
        self.code == "Success" && matches!(self.body["Result"]["BizCode"].as_str(), Some("1" | "2"))
    }

    /// A verdict: HTTP 200, `Code` `Success`, `Result.BizCode` (billed for 1 and 2).
    pub fn verdict(biz_code: &str) -> Self {
        Self {
            status: 200,
            code: "Success".to_string(),
            body: json!({
                "RequestId": request_id(),
                "Code": "Success",
                "Message": "success",
                "Result": {"BizCode": biz_code},
            }),
        }
    }

    /// The same answer under another HTTP status (a script may ask for an error on HTTP 200).
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    pub fn request_id(&self) -> &str {
        self.body["RequestId"].as_str().unwrap_or_default()
    }
}

/// A request id the way Alibaba writes them: an upper-case UUID.
fn request_id() -> String {
    uuid::Uuid::new_v4().to_string().to_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plus_is_a_space_and_an_encoded_plus_is_a_plus() {
        let p = parameters(Some("UserName=%E5%BC%A0+%E4%B8%89&Token=a%2Bb"), None);
        assert_eq!(p["UserName"], "张 三");
        assert_eq!(p["Token"], "a+b");
    }

    #[test]
    fn the_body_is_merged_over_the_query() {
        let p = parameters(Some("A=1&B=2"), Some(b"B=3&C=4+5"));
        assert_eq!(p["A"], "1");
        assert_eq!(p["B"], "3");
        assert_eq!(p["C"], "4 5");
    }

    #[test]
    fn empty_pairs_and_names_without_values_are_tolerated() {
        let p = parameters(Some("&A&&B=&C=%20"), None);
        assert_eq!(p["A"], "");
        assert_eq!(p["B"], "");
        assert_eq!(p["C"], " ");
    }

    #[test]
    fn error_bodies_have_alibabas_five_fields() {
        let a = Answer::error(400, "MissingParameter", "m");
        for field in ["RequestId", "HostId", "Code", "Message", "Recommend"] {
            assert!(a.body.get(field).is_some(), "{field}");
        }
        assert_eq!(a.request_id().len(), 36);
        assert_eq!(a.request_id(), a.request_id().to_uppercase());
    }

    #[test]
    fn a_verdict_is_a_success_with_its_biz_code() {
        assert!(Answer::verdict("1").is_billed());
        assert!(!Answer::verdict("3").is_billed(), "no record is free");
        let a = Answer::verdict("2");
        assert!(a.is_billed());
        assert_eq!((a.status, a.code.as_str()), (200, "Success"));
        assert_eq!(a.body["Result"]["BizCode"], "2");
    }
}
