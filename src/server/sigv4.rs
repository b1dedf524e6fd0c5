//! Verification of AWS Signature Version 4 (`AWS4-HMAC-SHA256` in the
//! `Authorization` header), on the crypto layer's SHA-256 and HMAC.
//!
//! The server recomputes the signature the client made:
//!
//! ```text
//! canonical request = method \n canonical URI \n canonical query \n
//!                     (name:value \n for each signed header) \n
//!                     signed headers \n hex(SHA-256(body))
//! string to sign    = "AWS4-HMAC-SHA256" \n X-Amz-Date \n scope \n hex(SHA-256(canonical request))
//! signing key       = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), "kms"), "aws4_request")
//! signature         = hex(HMAC(signing key, string to sign))
//! ```
//!
//! KMS requests are `POST /` without a query string (the server refuses any
//! other path or query before this check), so the canonical URI is `/` and
//! the canonical query is empty. Header values are trimmed and runs of spaces
//! collapsed; several values of one header are joined with commas. `host`
//! must be signed. The time in `X-Amz-Date` must be within five minutes of
//! the server's clock.
//!
//! Errors use AWS's names: `MissingAuthenticationTokenException` (no
//! `Authorization`), `IncompleteSignatureException` (a malformed one),
//! `InvalidSignatureException` (a wrong signature, scope or clock),
//! `UnrecognizedClientException` (an unknown access key, or a session token,
//! which server-issued keys never have).

use crate::crypto::ct_eq;
use crate::crypto::digest::{hmac_sha256, sha256};

use super::wire::ApiError;

/// The only algorithm SigV4 signs with (SigV4a's ECDSA is not accepted).
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The signing name of AWS KMS.
pub const SERVICE: &str = "kms";
/// How far the request time may be from the server's clock.
pub const MAX_SKEW_SECS: i64 = 300;

/// The parsed `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// The access key id of the credential.
    pub access_key_id: String,
    /// `yyyymmdd` of the credential scope.
    pub date: String,
    /// The region of the credential scope.
    pub region: String,
    /// The service of the credential scope.
    pub service: String,
    /// The scope's terminator, `aws4_request`.
    pub terminator: String,
    /// Lowercase header names, in the order given.
    pub signed_headers: Vec<String>,
    /// 64 lowercase hex digits.
    pub signature: String,
}

fn incomplete(message: impl Into<String>) -> ApiError {
    ApiError::new(400, "IncompleteSignatureException", message)
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(400, "InvalidSignatureException", message)
}

/// The error for a request without credentials.
pub fn missing() -> ApiError {
    ApiError::new(
        400,
        "MissingAuthenticationTokenException",
        "Request is missing Authentication Token",
    )
}

/// The error for an access key this server did not issue (or a session token).
pub fn unrecognized() -> ApiError {
    ApiError::new(
        400,
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    )
}

impl Authorization {
    /// Parses `AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request,
    /// SignedHeaders=a;b, Signature=hex`.
    pub fn parse(header: &str) -> Result<Authorization, ApiError> {
        let header = header.trim();
        let (algorithm, rest) = header.split_once(' ').unwrap_or((header, ""));
        if algorithm != ALGORITHM {
            return Err(incomplete(format!(
                "Unsupported AWS 'algorithm': '{algorithm}' (only {ALGORITHM} is accepted)"
            )));
        }
        let (mut credential, mut signed, mut signature) = (None, None, None);
        for part in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').ok_or_else(|| {
                incomplete(format!(
                    "'{part}' is not a key=value pair in the Authorization header"
                ))
            })?;
            match k {
                "Credential" => credential = Some(v),
                "SignedHeaders" => signed = Some(v),
                "Signature" => signature = Some(v),
                _ => {}
            }
        }
        let mut missing = Vec::new();
        for (name, v) in [
            ("Credential", credential),
            ("SignedHeaders", signed),
            ("Signature", signature),
        ] {
            if v.is_none() {
                missing.push(format!("Authorization header requires '{name}' parameter."));
            }
        }
        if !missing.is_empty() {
            return Err(incomplete(missing.join(" ")));
        }
        let (credential, signed, signature) = (
            credential.unwrap_or_default(),
            signed.unwrap_or_default(),
            signature.unwrap_or_default(),
        );
        let fields: Vec<&str> = credential.split('/').collect();
        let [akid, date, region, service, terminator] = fields[..] else {
            return Err(incomplete(format!(
                "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{credential}'"
            )));
        };
        if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(incomplete("Signature must be 64 hexadecimal digits"));
        }
        Ok(Authorization {
            access_key_id: akid.to_owned(),
            date: date.to_owned(),
            region: region.to_owned(),
            service: service.to_owned(),
            terminator: terminator.to_owned(),
            signed_headers: signed.split(';').map(|h| h.to_ascii_lowercase()).collect(),
            signature: signature.to_ascii_lowercase(),
        })
    }

    /// The credential scope, `date/region/service/aws4_request`.
    pub fn scope(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.date, self.region, self.service, self.terminator
        )
    }
}

/// Parses `yyyymmddThhmmssZ` into epoch seconds.
pub fn parse_amz_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes().all(|c| c.is_ascii_digit()).then(|| t.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, sec) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    // Days from the civil date (proleptic Gregorian), after H. Hinnant.
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + sec)
}

/// Formats epoch seconds as `yyyymmddThhmmssZ`.
pub fn format_amz_date(t: i64) -> String {
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What of the HTTP request the signature covers.
pub struct SignedParts<'a> {
    /// `POST`.
    pub method: &'a str,
    /// The request headers.
    pub headers: &'a hyper::HeaderMap,
    /// The request body.
    pub body: &'a [u8],
}

/// Checks everything that does not need the secret: the date, the clock and
/// the scope. Returns the request time.
pub fn check_scope(
    auth: &Authorization,
    headers: &hyper::HeaderMap,
    now: i64,
    region: &str,
) -> Result<String, ApiError> {
    if headers.contains_key("x-amz-security-token") {
        return Err(unrecognized());
    }
    let amz_date = headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| incomplete("Authorization header requires existence of a 'X-Amz-Date' header."))?;
    let t = parse_amz_date(amz_date).ok_or_else(|| {
        incomplete(format!(
            "Date must be in ISO-8601 'basic format'. Got '{amz_date}'."
        ))
    })?;
    if t < now - MAX_SKEW_SECS {
        return Err(invalid(format!(
            "Signature expired: {amz_date} is now earlier than {} ({} - 5 min.)",
            format_amz_date(now - MAX_SKEW_SECS),
            format_amz_date(now)
        )));
    }
    if t > now + MAX_SKEW_SECS {
        return Err(invalid(format!(
            "Signature not yet current: {amz_date} is still later than {} ({} + 5 min.)",
            format_amz_date(now + MAX_SKEW_SECS),
            format_amz_date(now)
        )));
    }
    let mut problems = Vec::new();
    if auth.region != region {
        problems.push(format!(
            "Credential should be scoped to a valid region, not '{}': this server serves '{region}'.",
            auth.region
        ));
    }
    if auth.service != SERVICE {
        problems.push(format!(
            "Credential should be scoped to correct service: '{SERVICE}'."
        ));
    }
    if auth.terminator != "aws4_request" {
        problems.push(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{}'.",
            auth.terminator
        ));
    }
    if auth.date != amz_date[..8] {
        problems.push(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{amz_date}'.",
            auth.date,
            &amz_date[..8]
        ));
    }
    if !auth.signed_headers.iter().any(|h| h == "host") {
        problems.push("'Host' must be a 'SignedHeader' in the AWS Authorization.".into());
    }
    if !problems.is_empty() {
        return Err(invalid(problems.join(" ")));
    }
    Ok(amz_date.to_owned())
}

/// The canonical request of SigV4 for `POST /` without a query.
pub fn canonical_request(auth: &Authorization, parts: &SignedParts<'_>) -> String {
    let mut out = format!("{}\n/\n\n", parts.method);
    for name in &auth.signed_headers {
        let values: Vec<String> = parts
            .headers
            .get_all(name.as_str())
            .iter()
            .map(|v| {
                String::from_utf8_lossy(v.as_bytes())
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        out.push_str(name);
        out.push(':');
        out.push_str(&values.join(","));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&auth.signed_headers.join(";"));
    out.push('\n');
    out.push_str(&hex(&sha256(parts.body)));
    out
}

/// Recomputes the signature with `secret` and compares it in constant time.
pub fn verify(
    auth: &Authorization,
    amz_date: &str,
    parts: &SignedParts<'_>,
    secret: &str,
) -> Result<(), ApiError> {
    let canonical = canonical_request(auth, parts);
    let string_to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{}\n{}",
        auth.scope(),
        hex(&sha256(canonical.as_bytes()))
    );
    let k_secret = zeroize::Zeroizing::new(format!("AWS4{secret}"));
    let k_date = hmac_sha256(k_secret.as_bytes(), auth.date.as_bytes());
    let k_region = hmac_sha256(&k_date, auth.region.as_bytes());
    let k_service = hmac_sha256(&k_region, auth.service.as_bytes());
    let k_signing = zeroize::Zeroizing::new(hmac_sha256(&k_service, b"aws4_request"));
    let expected = hex(&hmac_sha256(&k_signing[..], string_to_sign.as_bytes()));
    if ct_eq(expected.as_bytes(), auth.signature.as_bytes()) {
        Ok(())
    } else {
        Err(invalid(
            "The request signature we calculated does not match the signature you provided. \
             Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        for s in [
            "19700101T000000Z",
            "20150830T123600Z",
            "20240229T235959Z",
            "21000301T000000Z",
        ] {
            assert_eq!(format_amz_date(parse_amz_date(s).unwrap()), s);
        }
        assert_eq!(parse_amz_date("20150830T123600Z"), Some(1_440_938_160));
        for bad in [
            "2015-08-30T12:36:00Z",
            "20151330T123600Z",
            "20150830T123600",
            "20150830T12360xZ",
        ] {
            assert_eq!(parse_amz_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn header_parsing() {
        let a = Authorization::parse(
            "AWS4-HMAC-SHA256 Credential=ENVKAAAA/20150830/us-east-1/kms/aws4_request, \
             SignedHeaders=Host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
        )
        .unwrap();
        assert_eq!(a.access_key_id, "ENVKAAAA");
        assert_eq!(a.signed_headers, ["host", "x-amz-date"]);
        assert_eq!(a.scope(), "20150830/us-east-1/kms/aws4_request");
        for bad in [
            "AWS4-HMAC-SHA1 Credential=a/b/c/d/e, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=a/b/c/d, SignedHeaders=host, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
            "AWS4-HMAC-SHA256 SignedHeaders=host",
            "AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host, Signature=xyz",
        ] {
            assert_eq!(Authorization::parse(bad).unwrap_err().code, "IncompleteSignatureException", "{bad}");
        }
    }
}
