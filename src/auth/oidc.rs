//! Dashboard sign-in with OpenID Connect: the authorization code flow with
//! PKCE (S256), `state` and `nonce`, through the `openidconnect` crate (no
//! JWT or JWKS code of our own).
//!
//! [`Oidc::begin`] makes the provider's authorization URL and what the
//! callback will need ([`PendingSignIn`], kept in the store under the hash of
//! its `state`, and bound to the browser by a cookie holding that state).
//! [`Oidc::finish`] exchanges the code with the client secret and checks the
//! ID token: its signature against the provider's JWKS, then `iss`, `aud`,
//! `exp` and `nonce`. [`OidcSettings`]' group rules then give the role.
//!
//! The provider's metadata and keys are discovered on first use and again
//! every hour, or at once when a token is signed by a key not seen yet (a
//! provider rotating its keys), so em-metrics starts even when the provider
//! is down, and follows key rotation.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreRevocableToken,
    CoreRevocationErrorResponse, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AuthorizationCode, Client, ClientId, ClientSecret, CsrfToken, EmptyExtraTokenFields,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IdTokenFields, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, StandardErrorResponse, StandardTokenResponse,
};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::Role;
use crate::config::OidcSettings;
pub use crate::store::PendingSignIn;

/// How long discovered metadata and keys are used before asking again.
const REDISCOVER_AFTER: Duration = Duration::from_secs(3600);
/// How long a user has, from the redirect to the provider, to come back.
pub const SIGN_IN_LIFETIME_MS: i64 = 10 * 60 * 1000;
/// How long a call to the provider may take.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);

/// Every claim of the ID token beyond the standard ones, so the groups
/// claim can be any name (`EM_METRICS_OIDC_GROUPS_CLAIM`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct OtherClaims(HashMap<String, serde_json::Value>);
impl AdditionalClaims for OtherClaims {}

type TokenResponse = StandardTokenResponse<
    IdTokenFields<
        OtherClaims,
        EmptyExtraTokenFields,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >,
    CoreTokenType,
>;

/// The client as discovery leaves it: authorization endpoint set, the token
/// and userinfo endpoints maybe.
type ProviderClient = Client<
    OtherClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    TokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Why a sign-in failed.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// The provider could not be reached or answered nonsense: 502.
    #[error("the sign-in provider is unavailable: {0}")]
    Provider(String),
    /// A code or token that does not check out: 401.
    #[error("the sign-in could not be verified: {0}")]
    BadToken(String),
    /// The user is in none of EM_METRICS_OIDC_READ_GROUPS: 403.
    #[error("{message}")]
    NotAllowed { actor: String, message: String },
}

/// Who signed in, with the role the group rules give them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoUser {
    /// `sso:<email or subject>`.
    pub actor: String,
    pub role: Role,
}

struct Discovered {
    client: ProviderClient,
    at: Instant,
}

pub struct Oidc {
    settings: OidcSettings,
    http: openidconnect::reqwest::Client,
    discovered: Mutex<Option<Arc<Discovered>>>,
}

impl std::fmt::Debug for Oidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oidc").field("issuer", &self.settings.issuer).finish_non_exhaustive()
    }
}

impl Oidc {
    pub fn new(settings: OidcSettings) -> Result<Self, String> {
        let http = openidconnect::reqwest::ClientBuilder::new()
            // Following redirects would let a provider's answer send us anywhere.
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(PROVIDER_TIMEOUT)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Self { settings, http, discovered: Mutex::new(None) })
    }

    /// The provider's client, discovered again when `fresh` or when old.
    async fn client(&self, fresh: bool) -> Result<Arc<Discovered>, SignInError> {
        let mut cached = self.discovered.lock().await;
        if let Some(d) = cached.as_ref().filter(|d| !fresh && d.at.elapsed() < REDISCOVER_AFTER) {
            return Ok(d.clone());
        }
        let issuer = IssuerUrl::new(self.settings.issuer.clone()).map_err(|e| SignInError::Provider(e.to_string()))?;
        let metadata = CoreProviderMetadata::discover_async(issuer, &self.http)
            .await
            .map_err(|e| SignInError::Provider(format!("discovery at {}: {}", self.settings.issuer, chain(&e))))?;
        let redirect =
            RedirectUrl::new(self.settings.redirect_uri.clone()).map_err(|e| SignInError::Provider(e.to_string()))?;
        let client = ProviderClient::from_provider_metadata(
            metadata,
            ClientId::new(self.settings.client_id.clone()),
            Some(ClientSecret::new(self.settings.client_secret.expose().to_string())),
        )
        .set_redirect_uri(redirect);
        let d = Arc::new(Discovered { client, at: Instant::now() });
        *cached = Some(d.clone());
        Ok(d)
    }

    /// The provider's authorization URL, the `state` it carries, and what
    /// the callback will need.
    pub async fn begin(&self) -> Result<(String, String, PendingSignIn), SignInError> {
        let d = self.client(false).await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = d
            .client
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge)
            .url();
        let pending = PendingSignIn { nonce: nonce.secret().clone(), pkce_verifier: verifier.secret().clone() };
        Ok((url.to_string(), state.secret().clone(), pending))
    }

    /// The code exchanged, the ID token checked, the group rules applied.
    /// `state` was checked by the caller, before.
    pub async fn finish(&self, code: &str, pending: PendingSignIn) -> Result<SsoUser, SignInError> {
        let d = self.client(false).await?;
        let response = d
            .client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| SignInError::Provider(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier))
            .request_async(&self.http)
            .await
            .map_err(|e| SignInError::BadToken(format!("the code exchange failed: {}", chain(&e))))?;
        let id_token = openidconnect::TokenResponse::id_token(&response)
            .ok_or_else(|| SignInError::BadToken("the provider sent no ID token".into()))?;
        let nonce = Nonce::new(pending.nonce);
        let claims = match id_token.claims(&d.client.id_token_verifier(), &nonce) {
            Ok(claims) => claims.clone(),
            // Signed by a key we have not seen: the provider may have
            // rotated its keys since discovery. Look once more.
            Err(openidconnect::ClaimsVerificationError::SignatureVerification(_)) => {
                let fresh = self.client(true).await?;
                let verified = id_token.claims(&fresh.client.id_token_verifier(), &nonce).cloned();
                verified.map_err(|e| SignInError::BadToken(e.to_string()))?
            }
            Err(e) => return Err(SignInError::BadToken(e.to_string())),
        };
        let who = claims.email().map(|e| e.as_str().to_string()).unwrap_or_else(|| claims.subject().to_string());
        let groups = groups(claims.additional_claims().0.get(&self.settings.groups_claim));
        let role = role_for(&self.settings, &groups).ok_or_else(|| SignInError::NotAllowed {
            actor: format!("sso:{who}"),
            message: format!("{who} is not in a group allowed to sign in to this dashboard."),
        })?;
        Ok(SsoUser { actor: format!("sso:{who}"), role })
    }
}

/// The groups a claim lists: an array of strings, or one string.
fn groups(claim: Option<&serde_json::Value>) -> Vec<String> {
    match claim {
        Some(serde_json::Value::Array(items)) => items.iter().filter_map(|g| g.as_str().map(str::to_string)).collect(),
        Some(serde_json::Value::String(g)) => vec![g.clone()],
        _ => Vec::new(),
    }
}

/// Admin for a member of an admin group; read for a member of a read group,
/// or for anyone when no read groups are set; else None: no sign-in.
pub fn role_for(settings: &OidcSettings, groups: &[String]) -> Option<Role> {
    let member = |of: &[String]| groups.iter().any(|g| of.contains(g));
    if member(&settings.admin_groups) {
        Some(Role::Admin)
    } else if settings.read_groups.is_empty() || member(&settings.read_groups) {
        Some(Role::Read)
    } else {
        None
    }
}

/// An error and its causes, on one line (the crate's errors wrap the useful part).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    fn settings(read: &[&str], admin: &[&str]) -> OidcSettings {
        OidcSettings {
            issuer: "https://id.example.com".into(),
            client_id: "em".into(),
            client_secret: Secret::new("s"),
            redirect_uri: "https://m.example.com/ui/oidc/callback".into(),
            groups_claim: "groups".into(),
            read_groups: read.iter().map(|g| g.to_string()).collect(),
            admin_groups: admin.iter().map(|g| g.to_string()).collect(),
        }
    }

    #[test]
    fn the_group_rules_give_admin_read_or_nothing() {
        let s = settings(&["eng"], &["platform"]);
        let g = |list: &[&str]| list.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(role_for(&s, &g(&["platform"])), Some(Role::Admin));
        assert_eq!(role_for(&s, &g(&["eng", "x"])), Some(Role::Read));
        assert_eq!(role_for(&s, &g(&["sales"])), None);
        assert_eq!(role_for(&settings(&[], &[]), &[]), Some(Role::Read), "no read groups: everyone reads");
        assert_eq!(groups(Some(&serde_json::json!(["a", 1, "b"]))), ["a", "b"]);
        assert_eq!(groups(Some(&serde_json::json!("a"))), ["a"]);
    }
}
