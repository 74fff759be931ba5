//! Who sent a delivery: each source's signature, computed over the raw body
//! bytes with `hmac`/`sha2` (or the `standardwebhooks` crate) and compared in
//! constant time. Nothing here logs: a failure says what was wrong, never
//! the secret or the body.

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Why a delivery failed authentication; safe to log and to answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

fn refused(why: impl Into<String>) -> Refused {
    Refused(why.into())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, Refused> {
    let value = headers.get(name).ok_or_else(|| refused(format!("missing {name} header")))?;
    value.to_str().map(str::trim).map_err(|_| refused(format!("the {name} header is not readable text")))
}

/// Whether `hex_digest` is the HMAC-SHA256 of `parts` (concatenated) under `secret`.
fn hmac_matches(secret: &[u8], parts: &[&[u8]], hex_digest: &str) -> bool {
    let Ok(given) = hex::decode(hex_digest.trim()) else { return false };
    let Ok(mut mac) = HmacSha256::new_from_slice(secret) else { return false };
    for part in parts {
        mac.update(part);
    }
    // verify_slice compares in constant time.
    mac.verify_slice(&given).is_ok()
}

/// GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`.
pub fn github(headers: &HeaderMap, body: &[u8], secret: &str) -> Result<(), Refused> {
    let value = header(headers, "x-hub-signature-256")?;
    let digest =
        value.strip_prefix("sha256=").ok_or_else(|| refused("X-Hub-Signature-256 does not start with sha256="))?;
    if hmac_matches(secret.as_bytes(), &[body], digest) {
        Ok(())
    } else {
        Err(refused("X-Hub-Signature-256 does not match the body"))
    }
}

/// GitLab: `X-Gitlab-Token` equals the configured token, byte for byte (a
/// token may be any UTF-8 text; HTTP carries it as raw bytes).
pub fn gitlab(headers: &HeaderMap, token: &str) -> Result<(), Refused> {
    let given = headers.get("x-gitlab-token").ok_or_else(|| refused("missing x-gitlab-token header"))?;
    if bool::from(given.as_bytes().trim_ascii().ct_eq(token.as_bytes())) {
        Ok(())
    } else {
        Err(refused("X-Gitlab-Token does not match"))
    }
}

/// PagerDuty v3: `X-PagerDuty-Signature: v1=<hex>[,v1=<hex>…]`; while a
/// secret is rotated there are several, and any one matching passes.
pub fn pagerduty(headers: &HeaderMap, body: &[u8], secret: &str) -> Result<(), Refused> {
    let value = header(headers, "x-pagerduty-signature")?;
    let matched = value
        .split(',')
        .filter_map(|s| s.trim().strip_prefix("v1="))
        // Check every one, so the time taken does not say which matched.
        .fold(false, |found, digest| hmac_matches(secret.as_bytes(), &[body], digest) | found);
    if matched {
        Ok(())
    } else {
        Err(refused("no X-PagerDuty-Signature v1 value matches the body"))
    }
}

/// Standard Webhooks (incident.io): `webhook-id`, `webhook-timestamp`
/// (within 5 minutes of now) and `webhook-signature` (`v1,<base64>`,
/// several space-separated), by the reference `standardwebhooks` crate.
pub fn standard_webhooks(headers: &HeaderMap, body: &[u8], secret: &str) -> Result<(), Refused> {
    use standardwebhooks::{Webhook, WebhookError};
    let webhook = Webhook::new(secret).map_err(|_| refused("the configured secret is not a whsec_ secret"))?;
    webhook.verify(body, headers).map_err(|e| match e {
        WebhookError::TimestampTooOldError | WebhookError::FutureTimestampError => {
            refused("webhook-timestamp is more than 5 minutes from the server's clock")
        }
        WebhookError::MissingHeader(name) => refused(format!("missing webhook-{name} header")),
        WebhookError::InvalidHeader(name) => refused(format!("the webhook-{name} header is not readable text")),
        WebhookError::InvalidTimestamp => refused("webhook-timestamp is not Unix seconds"),
        WebhookError::InvalidPayload => refused("the body is not UTF-8"),
        WebhookError::InvalidSecret(_) | WebhookError::InvalidSignature => {
            refused("no webhook-signature v1 value matches the body")
        }
    })
}

/// How far a signed timestamp may be from the server's clock, either way:
/// Standard Webhooks' tolerance, which incident.io deliveries get too.
pub const TIMESTAMP_TOLERANCE_SECS: i64 = 5 * 60;

/// Grafana Alerting: `X-Grafana-Alerting-Signature` holds the hex
/// HMAC-SHA256 of the body, or of `timestamp:body` when
/// `X-Grafana-Alerting-Signature-Timestamp` (Unix seconds) is sent; then a
/// timestamp further than [`TIMESTAMP_TOLERANCE_SECS`] from `now` (Unix
/// seconds) is refused, so a captured delivery cannot be replayed later.
pub fn grafana(headers: &HeaderMap, body: &[u8], secret: &str, now: i64) -> Result<(), Refused> {
    let digest = header(headers, "x-grafana-alerting-signature")?;
    let matched = match headers.get("x-grafana-alerting-signature-timestamp") {
        Some(ts) => {
            let seconds = std::str::from_utf8(ts.as_bytes())
                .ok()
                .and_then(|s| s.trim().parse::<i64>().ok())
                .ok_or_else(|| refused("X-Grafana-Alerting-Signature-Timestamp is not Unix seconds"))?;
            if (now - seconds).abs() > TIMESTAMP_TOLERANCE_SECS {
                return Err(refused(format!(
                    "X-Grafana-Alerting-Signature-Timestamp is more than {} minutes from the server's clock",
                    TIMESTAMP_TOLERANCE_SECS / 60
                )));
            }
            hmac_matches(secret.as_bytes(), &[ts.as_bytes(), b":", body], digest)
        }
        None => hmac_matches(secret.as_bytes(), &[body], digest),
    };
    if matched {
        Ok(())
    } else {
        Err(refused("X-Grafana-Alerting-Signature does not match the body"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().expect("header value"));
        }
        h
    }

    /// The example in GitHub's "Validating webhook deliveries" documentation.
    #[test]
    fn githubs_documented_example_verifies_and_a_changed_body_does_not() {
        let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        let h = headers(&[("x-hub-signature-256", sig)]);
        assert_eq!(github(&h, b"Hello, World!", "It's a Secret to Everybody"), Ok(()));
        assert!(github(&h, b"Hello, World?", "It's a Secret to Everybody").is_err());
        assert!(github(&h, b"Hello, World!", "another secret").is_err());
        assert!(github(&HeaderMap::new(), b"Hello, World!", "x").is_err());
    }

    /// The signing example of the Standard Webhooks reference libraries.
    #[test]
    fn the_standard_webhooks_reference_vector_verifies_inside_the_tolerance_only() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
        let webhook = standardwebhooks::Webhook::new(secret).expect("secret");
        let sign = |ts: u64| webhook.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", ts as i64, body).expect("signs");
        let at = |ts: u64, sig: &str| {
            headers(&[
                ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
                ("webhook-timestamp", &ts.to_string()),
                ("webhook-signature", sig),
            ])
        };
        assert_eq!(standard_webhooks(&at(now, &sign(now)), body, secret), Ok(()));
        // A rotated secret: the sender signs with both; one matching is enough.
        let both = format!("v1,bm90IHRoaXMgb25l {}", sign(now));
        assert_eq!(standard_webhooks(&at(now, &both), body, secret), Ok(()));
        let stale = now - 6 * 60;
        let err = standard_webhooks(&at(stale, &sign(stale)), body, secret).expect_err("stale");
        assert!(err.0.contains("5 minutes"), "{err}");
        // The published vector: this id, timestamp and body give this signature.
        assert_eq!(
            webhook.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).expect("signs"),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn pagerduty_accepts_any_of_several_signatures() {
        let body = br#"{"event":{}}"#;
        let mut mac = HmacSha256::new_from_slice(b"s3cret").expect("key");
        mac.update(body);
        let good = hex::encode(mac.finalize().into_bytes());
        let h = headers(&[("x-pagerduty-signature", &format!("v1=00ff, v1={good}"))]);
        assert_eq!(pagerduty(&h, body, "s3cret"), Ok(()));
        assert!(pagerduty(&h, body, "other").is_err());
        let h = headers(&[("x-pagerduty-signature", &format!("v0={good}"))]);
        assert!(pagerduty(&h, body, "s3cret").is_err());
    }

    #[test]
    fn grafana_signs_the_timestamp_and_body_when_it_sends_a_timestamp() {
        let body = br#"{"alerts":[]}"#;
        let sign = |parts: &[&[u8]]| {
            let mut mac = HmacSha256::new_from_slice(b"g").expect("key");
            parts.iter().for_each(|p| mac.update(p));
            hex::encode(mac.finalize().into_bytes())
        };
        let now = 1_700_000_000;
        let plain = headers(&[("x-grafana-alerting-signature", &sign(&[body]))]);
        assert_eq!(grafana(&plain, body, "g", now), Ok(()));
        let stamped = headers(&[
            ("x-grafana-alerting-signature", &sign(&[b"1700000000", b":", body])),
            ("x-grafana-alerting-signature-timestamp", "1700000000"),
        ]);
        assert_eq!(grafana(&stamped, body, "g", now), Ok(()));
        assert_eq!(grafana(&stamped, body, "g", now + TIMESTAMP_TOLERANCE_SECS), Ok(()), "at the edge");
        let wrong = headers(&[
            ("x-grafana-alerting-signature", &sign(&[body])),
            ("x-grafana-alerting-signature-timestamp", "1700000000"),
        ]);
        assert!(grafana(&wrong, body, "g", now).is_err());
    }

    #[test]
    fn a_grafana_signature_stamped_outside_five_minutes_is_refused_however_well_signed() {
        let body = br#"{"alerts":[]}"#;
        let sign = |ts: &str| {
            let mut mac = HmacSha256::new_from_slice(b"g").expect("key");
            mac.update(ts.as_bytes());
            mac.update(b":");
            mac.update(body);
            hex::encode(mac.finalize().into_bytes())
        };
        let now = 1_700_000_000;
        // The year 2000, and six minutes either way.
        for ts in ["946684800", "1699999640", "1700000360"] {
            let h =
                headers(&[("x-grafana-alerting-signature", &sign(ts)), ("x-grafana-alerting-signature-timestamp", ts)]);
            let err = grafana(&h, body, "g", now).expect_err("stale");
            assert!(err.0.contains("5 minutes"), "{ts}: {err}");
        }
        let h = headers(&[
            ("x-grafana-alerting-signature", &sign("soon")),
            ("x-grafana-alerting-signature-timestamp", "soon"),
        ]);
        assert!(grafana(&h, body, "g", now).expect_err("not a number").0.contains("Unix seconds"));
    }

    #[test]
    fn gitlab_compares_the_token() {
        // A token of any UTF-8 text, as GitLab sends it: its bytes.
        let mut utf8 = HeaderMap::new();
        utf8.insert("x-gitlab-token", axum::http::HeaderValue::from_bytes("jeton-été".as_bytes()).expect("bytes"));
        assert_eq!(gitlab(&utf8, "jeton-été"), Ok(()));
        assert!(gitlab(&utf8, "jeton-ete").is_err());
        assert_eq!(gitlab(&headers(&[("x-gitlab-token", "t0k")]), "t0k"), Ok(()));
        assert!(gitlab(&headers(&[("x-gitlab-token", "t0")]), "t0k").is_err());
        assert!(gitlab(&HeaderMap::new(), "t0k").is_err());
    }
}
