//! OAuth 1.0a request signing (RFC 5849, HMAC-SHA1) for USOS: consumer-only (administrative
//! methods) or consumer + token, parameters in the query or the form body.
//!
//! Hand-written on the RustCrypto `hmac` + `sha1` crates rather than taken from a crate such as
//! `oauth1-request`: the reference server must *verify* signatures over whatever parameter
//! list a request carries, and that crate only builds the client side of typed requests. One
//! base-string function serving both sides cannot drift apart; it is checked against the
//! RFC 5849 examples below. Secrets stay in `Secret` (zeroized, `Debug` prints `***`) and the
//! HMAC key made from them is zeroized too.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use zeroize::Zeroizing;

use crate::config::Secret;

/// A consumer (application) or token credential: the public key and its secret.
pub struct Credential {
    pub key: String,
    pub secret: Secret,
}

impl Credential {
    pub fn new(key: impl Into<String>, secret: Secret) -> Self {
        Self {
            key: key.into(),
            secret,
        }
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credential({}, ***)", self.key)
    }
}

/// RFC 3986 percent-encoding as RFC 5849 3.6 wants it: everything but the unreserved
/// characters, upper-case hex.
pub fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    percent_encode_into(&mut out, value);
    out
}

/// Appends `value` percent-encoded to `out`, with no temporary strings: the signing key is
/// built this way straight into its zeroized buffer.
fn percent_encode_into(out: &mut String, value: &str) {
    use std::fmt::Write;
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(byte as char)
            }
            _ => {
                let _ = write!(out, "%{byte:02X}");
            }
        }
    }
}

/// `name=value&...` with both sides percent-encoded, in the given order: a query string or an
/// `application/x-www-form-urlencoded` body.
pub fn encode_pairs(params: &[(String, String)]) -> String {
    params
        .iter()
        .map(|(name, value)| format!("{}={}", percent_encode(name), percent_encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The base string URI (RFC 5849 3.4.1.2): scheme and host lower-case, default port left out,
/// no query or fragment.
pub fn base_string_uri(url: &str) -> String {
    let url = url.split(['?', '#']).next().unwrap_or_default();
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let scheme = scheme.to_ascii_lowercase();
    let (authority, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, "/"),
    };
    let mut authority = authority.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => ":80",
        "https" => ":443",
        _ => "",
    };
    if !default_port.is_empty() && authority.ends_with(default_port) {
        authority.truncate(authority.len() - default_port.len());
    }
    format!("{scheme}://{authority}{path}")
}

/// The signature base string (RFC 5849 3.4.1): every parameter of the request (query, form
/// body, `oauth_*` but `oauth_signature` and `realm`), encoded, sorted by name then value.
pub fn base_string(method: &str, url: &str, params: &[(String, String)]) -> String {
    let mut encoded: Vec<(String, String)> = params
        .iter()
        .filter(|(name, _)| name != "oauth_signature" && name != "realm")
        .map(|(name, value)| (percent_encode(name), percent_encode(value)))
        .collect();
    encoded.sort();
    let normalized = encoded
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&");
    format!(
        "{}&{}&{}",
        method.to_ascii_uppercase(),
        percent_encode(&base_string_uri(url)),
        percent_encode(&normalized)
    )
}

/// HMAC-SHA1 of the base string under `consumer_secret&token_secret`, base64.
pub fn signature(base: &str, consumer_secret: &Secret, token_secret: Option<&Secret>) -> String {
    let consumer_secret = consumer_secret.expose();
    let token_secret = token_secret.map_or("", Secret::expose);
    // Room for the worst case (every byte encoded) up front: a growing buffer would leave
    // unzeroized copies of the secrets in freed memory.
    let mut key = Zeroizing::new(String::with_capacity(
        3 * (consumer_secret.len() + token_secret.len()) + 1,
    ));
    percent_encode_into(&mut key, consumer_secret);
    key.push('&');
    percent_encode_into(&mut key, token_secret);
    let mut mac = Hmac::<Sha1>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
    mac.update(base.as_bytes());
    BASE64.encode(mac.finalize().into_bytes())
}

/// The `oauth_*` parameters, signature included, to send with a request whose other
/// parameters are `params`.
pub fn sign(
    method: &str,
    url: &str,
    params: &[(String, String)],
    consumer: &Credential,
    token: Option<&Credential>,
    nonce: &str,
    timestamp: u64,
) -> Vec<(String, String)> {
    let mut oauth = vec![
        ("oauth_consumer_key".to_owned(), consumer.key.clone()),
        ("oauth_nonce".to_owned(), nonce.to_owned()),
        ("oauth_signature_method".to_owned(), "HMAC-SHA1".to_owned()),
        ("oauth_timestamp".to_owned(), timestamp.to_string()),
        ("oauth_version".to_owned(), "1.0".to_owned()),
    ];
    if let Some(token) = token {
        oauth.push(("oauth_token".to_owned(), token.key.clone()));
    }
    let all: Vec<(String, String)> = params.iter().chain(&oauth).cloned().collect();
    let base = base_string(method, url, &all);
    let signature = signature(&base, &consumer.secret, token.map(|token| &token.secret));
    oauth.push(("oauth_signature".to_owned(), signature));
    oauth
}

/// Whether the `oauth_signature` among `params` is right for the request, compared in
/// constant time.
pub fn verify(
    method: &str,
    url: &str,
    params: &[(String, String)],
    consumer_secret: &Secret,
    token_secret: Option<&Secret>,
) -> bool {
    let Some(given) = params
        .iter()
        .find(|(name, _)| name == "oauth_signature")
        .map(|(_, value)| value.as_bytes())
    else {
        return false;
    };
    let expected = signature(
        &base_string(method, url, params),
        consumer_secret,
        token_secret,
    );
    let expected = expected.as_bytes();
    expected.len() == given.len()
        && expected
            .iter()
            .zip(given)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

/// A fresh nonce: 128 random bits, hex.
pub fn new_nonce() -> String {
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    /// RFC 5849 3.4.1.1: the example request's signature base string, from its decoded
    /// query (`b5=%3D%253D&a3=a&c%40=&a2=r%20b`), form body (`c2&a3=2+q`) and header.
    #[test]
    fn rfc5849_signature_base_string_example() {
        let params = pairs(&[
            ("b5", "=%3D"),
            ("a3", "a"),
            ("c@", ""),
            ("a2", "r b"),
            ("c2", ""),
            ("a3", "2 q"),
            ("realm", "Example"),
            ("oauth_consumer_key", "9djdj82h48djs9d2"),
            ("oauth_token", "kkk9d7dh3k39sjv7"),
            ("oauth_signature_method", "HMAC-SHA1"),
            ("oauth_timestamp", "137131201"),
            ("oauth_nonce", "7d8f3e4a"),
            ("oauth_signature", "djosJKDKJSD8743243%2Fjdk33klY%3D"),
        ]);
        assert_eq!(
            base_string("POST", "http://example.com/request", &params),
            "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q\
             %26a3%3Da%26b5%3D%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_\
             key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_m\
             ethod%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk\
             9d7dh3k39sjv7"
        );
    }

    /// RFC 5849 1.2: the photo-printing example's token request, signed with consumer and
    /// token secrets.
    #[test]
    fn rfc5849_photos_example_signature() {
        let consumer = Credential::new("dpf43f3p2l4k3l03", Secret::new("kd94hf93k423kf44"));
        let token = Credential::new("nnch734d00sl2jdk", Secret::new("pfkkdhi9sl3r4s00"));
        let params = pairs(&[("file", "vacation.jpg"), ("size", "original")]);
        let mut all = params.clone();
        all.extend(pairs(&[
            ("oauth_consumer_key", "dpf43f3p2l4k3l03"),
            ("oauth_token", "nnch734d00sl2jdk"),
            ("oauth_signature_method", "HMAC-SHA1"),
            ("oauth_timestamp", "137131202"),
            ("oauth_nonce", "chapoH"),
        ]));
        let base = base_string("GET", "http://photos.example.net/photos", &all);
        assert_eq!(
            signature(&base, &consumer.secret, Some(&token.secret)),
            "MdpQcU8iPSUjWoN/UDMsK2sui9I="
        );
        all.push((
            "oauth_signature".into(),
            "MdpQcU8iPSUjWoN/UDMsK2sui9I=".into(),
        ));
        assert!(verify(
            "GET",
            "http://photos.example.net:80/photos?x",
            &all,
            &consumer.secret,
            Some(&token.secret)
        ));
        assert!(!verify(
            "GET",
            "http://photos.example.net/photos",
            &all,
            &Secret::new("wrong"),
            Some(&token.secret)
        ));
    }

    #[test]
    fn signed_requests_verify_and_tampering_is_caught() {
        let consumer = Credential::new("station", Secret::new("s3cr3t-consumer"));
        let params = pairs(&[
            ("contact_chip_uid", "04A1B2C3D4E5F6"),
            ("fields", "id|type"),
        ]);
        let oauth = sign(
            "GET",
            "HTTP://Usos.Example:80/services/cards/card",
            &params,
            &consumer,
            None,
            "n0nce",
            1_700_000_000,
        );
        assert!(!oauth.iter().any(|(name, _)| name == "oauth_token"));
        let mut all = params.clone();
        all.extend(oauth);
        let url = "http://usos.example/services/cards/card";
        assert!(verify("GET", url, &all, &consumer.secret, None));
        assert!(!verify("POST", url, &all, &consumer.secret, None));
        all[0].1 = "04A1B2C3D4E5F7".into();
        assert!(!verify("GET", url, &all, &consumer.secret, None));
        assert!(!format!("{consumer:?}").contains("s3cr3t"));
    }

    #[test]
    fn encoding_follows_rfc3986() {
        assert_eq!(
            percent_encode("Ładny dzień~-._/+"),
            "%C5%81adny%20dzie%C5%84~-._%2F%2B"
        );
        assert_eq!(base_string_uri("https://A.b:443/x?y#z"), "https://a.b/x");
        assert_eq!(base_string_uri("http://a.b:8080/x"), "http://a.b:8080/x");
    }
}
