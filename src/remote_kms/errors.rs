//! SDK errors as [`KmsError`]s: a service's answer keeps its AWS name, and
//! everything short of an answer says which endpoint it could not get one from.

use aws_sdk_kms::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::kms::{KmsError, KmsErrorKind};

/// Maps a failed SDK call to `endpoint` (as messages name it).
pub(super) fn from_sdk<E, R>(e: SdkError<E, R>, endpoint: &str) -> KmsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let unreachable = |what: &str| {
        KmsError::new(
            KmsErrorKind::Unreachable,
            format!("{what} {endpoint}: {}", DisplayErrorContext(&e)),
        )
    };
    match &e {
        SdkError::ServiceError(s) => {
            let err = s.err();
            let message = err.message().unwrap_or_default().to_owned();
            match err.code() {
                Some(code) => named(code, message),
                None => unreachable("the key service answered without an error name at"),
            }
        }
        SdkError::TimeoutError(_) => unreachable("no answer in time from the key service at"),
        SdkError::DispatchFailure(d) if d.is_timeout() => {
            unreachable("no answer in time from the key service at")
        }
        SdkError::DispatchFailure(_) => unreachable("cannot reach the key service at"),
        SdkError::ResponseError(_) => unreachable("an answer that is not AWS KMS's from"),
        // Credentials that cannot be found or loaded end here, among others.
        _ => unreachable("cannot send the request to the key service at"),
    }
}

/// An error a service answered with, by its AWS name.
pub(super) fn named(code: &str, message: String) -> KmsError {
    // A namespaced `__type` (`com.amazonaws.kms#NotFoundException`) is the same name.
    let code = code.rsplit('#').next().unwrap_or(code);
    match KmsErrorKind::from_name(code) {
        KmsErrorKind::Other => KmsError::new(KmsErrorKind::Other, format!("{code}: {message}")),
        kind => KmsError::new(kind, message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_kept() {
        let e = named("NotFoundException", "no such key".into());
        assert_eq!(e.kind, KmsErrorKind::NotFoundException);
        assert_eq!(e.to_string(), "NotFoundException: no such key");
        let e = named("com.amazonaws.kms#DisabledException", "off".into());
        assert_eq!(e.kind, KmsErrorKind::DisabledException);
        let e = named("UnrecognizedClientException", "bad token".into());
        assert_eq!(e.kind, KmsErrorKind::Other);
        assert_eq!(e.to_string(), "UnrecognizedClientException: bad token");
        assert_eq!(
            named("ThrottlingException", "slow".into()).kind,
            KmsErrorKind::ThrottlingException
        );
    }
}
