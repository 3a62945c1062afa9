//! The client credentials grant with a private-key JWT (RFC 7523): the
//! client assertion, signed with ring, and its token request. rmcp has it
//! behind a feature that brings a second crypto library (aws-lc, C code):
//! measured, that made every command's start-up 10-15 % slower, where
//! ring is in the tree already (rustls) and costs nothing.

use base64::Engine;
use ring::rand::SecureRandom;
use ring::signature::{self, EcdsaKeyPair, RsaKeyPair};
use rmcp::transport::auth::{AuthError, AuthorizationMetadata, CredentialStore, StoredCredentials};
use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::pem::PemObject;

/// The algorithms taken for `oauth.signingAlgorithm`.
pub(crate) const ALGORITHMS: &[&str] = &["RS256", "RS384", "RS512", "ES256", "ES384"];

fn failed(message: impl Into<String>) -> AuthError {
    AuthError::ClientCredentialsError(message.into())
}

fn base64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A signed client assertion for `client_id`, for `audience`.
pub(crate) fn assertion(
    client_id: &str,
    audience: &str,
    pem: &str,
    algorithm: &str,
) -> Result<String, AuthError> {
    let key = PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|_| {
        failed(
            "the private key is not an unencrypted PEM private key (-----BEGIN PRIVATE KEY-----)",
        )
    })?;
    let random = ring::rand::SystemRandom::new();
    let mut jti = [0u8; 16];
    random
        .fill(&mut jti)
        .map_err(|_| failed("no random numbers for the assertion's jti"))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let header = serde_json::json!({ "alg": algorithm, "typ": "client-authentication+jwt" });
    let claims = serde_json::json!({
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": now,
        "exp": now + 300,
        "jti": jti.iter().map(|byte| format!("{byte:02x}")).collect::<String>(),
    });
    let signed = format!(
        "{}.{}",
        base64url(header.to_string().as_bytes()),
        base64url(claims.to_string().as_bytes())
    );
    let wrong_key = || {
        failed(format!(
            "`oauth.privateKey` is not a key for {algorithm} (an {} key in PKCS#8 or, for RSA, PKCS#1)",
            if algorithm.starts_with("ES") {
                "EC"
            } else {
                "RSA"
            }
        ))
    };
    let signature = match algorithm {
        "ES256" | "ES384" => {
            let PrivateKeyDer::Pkcs8(der) = &key else {
                return Err(failed(
                    "an EC `oauth.privateKey` must be PKCS#8 (-----BEGIN PRIVATE KEY-----): convert it with `openssl pkcs8 -topk8 -nocrypt`",
                ));
            };
            let scheme = if algorithm == "ES256" {
                &signature::ECDSA_P256_SHA256_FIXED_SIGNING
            } else {
                &signature::ECDSA_P384_SHA384_FIXED_SIGNING
            };
            EcdsaKeyPair::from_pkcs8(scheme, der.secret_pkcs8_der(), &random)
                .map_err(|_| wrong_key())?
                .sign(&random, signed.as_bytes())
                .map_err(|_| failed("signing the assertion failed"))?
                .as_ref()
                .to_vec()
        }
        "RS256" | "RS384" | "RS512" => {
            let pair = match &key {
                PrivateKeyDer::Pkcs8(der) => RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()),
                PrivateKeyDer::Pkcs1(der) => RsaKeyPair::from_der(der.secret_pkcs1_der()),
                _ => return Err(wrong_key()),
            }
            .map_err(|_| wrong_key())?;
            let scheme = match algorithm {
                "RS256" => &signature::RSA_PKCS1_SHA256,
                "RS384" => &signature::RSA_PKCS1_SHA384,
                _ => &signature::RSA_PKCS1_SHA512,
            };
            let mut out = vec![0; pair.public().modulus_len()];
            pair.sign(scheme, &random, signed.as_bytes(), &mut out)
                .map_err(|_| failed("signing the assertion failed"))?;
            out
        }
        other => {
            return Err(failed(format!(
                "`oauth.signingAlgorithm` `{}` is not one of {}",
                crate::printer::one_line(other),
                ALGORITHMS.join(", ")
            )));
        }
    };
    Ok(format!("{signed}.{}", base64url(&signature)))
}

/// The PEM key of `oauth.privateKeyFile`: a plain file of the user's, not
/// open to others, of at most 64 KiB.
pub(crate) fn read_key(path: &std::path::Path) -> Result<String, AuthError> {
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;
    let cannot = |why: String| {
        failed(format!(
            "`oauth.privateKeyFile` `{}`: {why}",
            path.display()
        ))
    };
    let metadata = std::fs::metadata(path).map_err(|error| cannot(error.to_string()))?;
    if !metadata.is_file() {
        return Err(cannot("not a plain file".to_owned()));
    }
    if metadata.mode() & 0o077 != 0 {
        return Err(cannot(format!(
            "open to others (mode {:o}); run `chmod 600` on it",
            metadata.mode() & 0o777
        )));
    }
    let mut key = String::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(64 * 1024 + 1).read_to_string(&mut key))
        .map_err(|error| cannot(error.to_string()))?;
    if key.len() > 64 * 1024 {
        return Err(cannot("longer than 64 KiB: not a key".to_owned()));
    }
    Ok(key)
}

/// What the client credentials request with a private-key JWT needs.
pub(crate) struct Grant<'a> {
    pub client_id: &'a str,
    pub key: &'a str,
    pub algorithm: &'a str,
    pub scopes: &'a [String],
    pub resource: &'a str,
}

/// Asks the token endpoint for a token with a client assertion, and keeps
/// it in `store`.
pub(crate) async fn obtain(
    grant: &Grant<'_>,
    metadata: &AuthorizationMetadata,
    client: &reqwest::Client,
    store: &dyn CredentialStore,
) -> Result<(), AuthError> {
    let supported = |field: &str, value: &str| {
        metadata
            .additional_fields
            .get(field)
            .and_then(serde_json::Value::as_array)
            .is_none_or(|values| values.iter().any(|item| item.as_str() == Some(value)))
    };
    if !supported("token_endpoint_auth_methods_supported", "private_key_jwt") {
        return Err(failed(
            "the authorization server does not take private_key_jwt client authentication",
        ));
    }
    if !supported(
        "token_endpoint_auth_signing_alg_values_supported",
        grant.algorithm,
    ) {
        return Err(failed(format!(
            "the authorization server does not take {} assertions (`oauth.signingAlgorithm`)",
            grant.algorithm
        )));
    }
    let audience = metadata
        .issuer
        .as_deref()
        .unwrap_or(&metadata.token_endpoint);
    let assertion = assertion(grant.client_id, audience, grant.key, grant.algorithm)?;
    super::remember(&assertion);
    // Built in a block: the serializer is not `Send`, and must not live
    // across the await below (rmcp's own trap).
    let body = {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "client_credentials")
            .append_pair(
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            )
            .append_pair("client_assertion", &assertion)
            .append_pair("resource", grant.resource);
        if !grant.scopes.is_empty() {
            form.append_pair("scope", &grant.scopes.join(" "));
        }
        form.finish().into_bytes()
    };
    let request = http::Request::builder()
        .method("POST")
        .uri(&metadata.token_endpoint)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .body(body)
        .map_err(|error| failed(format!("the token endpoint: {error}")))?;
    let response = super::send(client, request, Some(std::time::Duration::from_secs(30)))
        .await
        .map_err(|error| failed(format!("the token request failed: {error}")))?;
    let answer: serde_json::Value = serde_json::from_slice(response.body()).unwrap_or_default();
    if !response.status().is_success() {
        let field = |name: &str| answer.get(name).and_then(serde_json::Value::as_str);
        return Err(failed(format!(
            "the token endpoint refused (HTTP {}): {} {}",
            response.status().as_u16(),
            field("error").unwrap_or("no error code"),
            field("error_description").unwrap_or("")
        )));
    }
    let token: rmcp::transport::auth::OAuthTokenResponse = serde_json::from_value(answer)
        .map_err(|error| failed(format!("the token endpoint's answer: {error}")))?;
    let scopes = oauth2::TokenResponse::scopes(&token)
        .map(|scopes| {
            scopes
                .iter()
                .map(|scope| scope.as_str().to_owned())
                .collect()
        })
        .unwrap_or_default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    store
        .save(
            StoredCredentials::new(grant.client_id.to_owned(), Some(token), scopes, Some(now))
                .with_issuer(metadata.issuer.clone()),
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key made for this test alone (`openssl genpkey -algorithm RSA`).
    const RSA_TEST_KEY: &str = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCoPG41H8goKSlK\nvy8La7UX2WgG/fFkFO8zntaUsQaZuQT/fq0A8TlVETnzk/FsfONWdVGJj1b6mEA+\nwynfL7n9c15u4yXy27d3I1vq7Pz9Csb49Co4buHNuVW+Rsb+27RNkPAFwc4inoJl\nXWmhceFePmqwpoWZxVkg3QARQXeU5akVZyatfAEVoPzmL7SsuMRoj5mMBFTi+i9+\nu2vqzFykD6H/SpIzrUZu7ukKs9SK0B0FQ30TolEOy6R1jDjl7laIBnOnXOpK0M+v\nvpH+sE7KIj28/req/AtsmX4pEl+fSGWOa7B1cKqP50l1DcbI6Wh8+SzZYuBUaPUW\nuiPJjvEDAgMBAAECggEAAuHrhCXyJRw74RtQl0IrnwtuyKNwyHre5lX3fCJ/BHSW\nbRzp20NjQhaJsadf7ul7GsxZIKGVNXyjN9OhjLKFT7qeFu0uvmHVzVc3T0tdF6Yn\n2F8/fmMmMfTV3UJMTTg+6Q8YO+89e9EIVuvU0ClUdhZ5d7h7lKORpya3jVs/W0V/\noflXCzsXgjo2OJbGFuhzuJTYtV1/50DRJTCjYO5cvakc0KUrzLajNany+ApNcSZv\nY/l6N/UENxcPKoZtuNmAlWov2dreYGM/Sun8/2QZ1tZWWxlswVc/pMel27lwB7Zo\ncSGKmbVEpKhY5Oefyw8InVUcj+Ujp7M6jsfFH1N2wQKBgQDZDY9hMaOtfc3xPOLL\nljYkxiufpeHGjLtjc4ruA5vsae+Sv1pZw++c6GzI1LqF3RJ4EK//b23oIEImPSC+\nXkxfn4HG5MQNSzqYSI4NT5cXEnnRG2K+vL2C4TNAZzltG4d1wAq+YgyHjpAAyfeV\nbxKboXaGwtwaKBW8hA7a/JrOswKBgQDGbHC+g52+V9mhfeilUqAERMm3olnlDWE1\nKvQsr+yf8kSUmWmO5NMcNVXapytHGkn1d3546B2SgHW6C/q/cat3YhXw5G2LWOPa\ntCiVmE2TdPH34Ve2PFCmIA3XQdSlcoeaCZuFxwV4CN3Yd+Z2C9UNA7+e0PvOizfN\n3+fzO/l8cQKBgQCHNy5aEy1vOA8iuJZk07f5IscsVo+XPDbElsc2zWLGXZxUpAZq\nI2jTK+wRFIz6NaV6zJKHo2gpkmcDIVOTpHUZoOmc+Qi1a2ceVRzBaBKs2eKvhMr4\nHeZFcXuXJHce5GZ30WIgBj7d98733tnw6tgBwg1vmFa7qLsZzH7gpzrdhwKBgA05\njQolm43kLQ0mZysdpqyiKQ+kMnmhuqjghAW2c/71Fr0QvIhZl/h5VY+NNMU4a1WA\n8Vz9m3r4NOCBi+TWnqcGUpALqYFwGz+oYkwWKpV5ZecvjbkHrBhmaoW+TX35dDBA\nE62G5kZp0N9snl+fykNjzJG5PA84GDAQjFUZ2jcBAoGABK8xBSA2D6FVreh2Cy68\nTACoUO7pmZW+cZxujJJmCshaN+YYx4YsvEI5Zfx4Foie2vmq9ZCF6Kw8NZjJSduC\n11Ndn+/xjrb8PnBF+QXKGpqzTqBH89267HPlHhNSWLd5Vud+W++2HvJIGB7RHz5Y\nJArLq08qks2YRb8WTWIJCYU=\n-----END PRIVATE KEY-----\n";

    #[test]
    fn assertions_are_signed_and_verify() {
        let random = ring::rand::SystemRandom::new();
        let document =
            EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &random)
                .unwrap();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode(document.as_ref())
        );
        let jwt = assertion("client", "https://as.example", &pem, "ES256").unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let decode = |part: &str| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(part)
                .unwrap()
        };
        let claims: serde_json::Value = serde_json::from_slice(&decode(parts[1])).unwrap();
        assert_eq!(claims["sub"], "client");
        assert_eq!(claims["aud"], "https://as.example");
        let pair = EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            document.as_ref(),
            &random,
        )
        .unwrap();
        let public = signature::UnparsedPublicKey::new(
            &signature::ECDSA_P256_SHA256_FIXED,
            ring::signature::KeyPair::public_key(&pair).as_ref(),
        );
        public
            .verify(
                format!("{}.{}", parts[0], parts[1]).as_bytes(),
                &decode(parts[2]),
            )
            .unwrap();
        // RSA (PKCS#8), verified with its public key.
        let jwt = assertion("client", "aud", RSA_TEST_KEY, "RS256").unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        let der =
            rustls::pki_types::PrivatePkcs8KeyDer::from_pem_slice(RSA_TEST_KEY.as_bytes()).unwrap();
        let pair = RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).unwrap();
        signature::UnparsedPublicKey::new(
            &signature::RSA_PKCS1_2048_8192_SHA256,
            ring::signature::KeyPair::public_key(&pair).as_ref(),
        )
        .verify(
            format!("{}.{}", parts[0], parts[1]).as_bytes(),
            &decode(parts[2]),
        )
        .unwrap();
        // Not a key, another algorithm's key, an unknown algorithm: said so.
        assert!(assertion("c", "a", "nope", "ES256").is_err());
        assert!(assertion("c", "a", &pem, "RS256").is_err());
        assert!(assertion("c", "a", RSA_TEST_KEY, "ES256").is_err());
        assert!(assertion("c", "a", &pem, "HS256").is_err());
    }
}
