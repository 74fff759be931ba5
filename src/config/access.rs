//! The access settings beyond the API's credentials: the service's public
//! URL, the proxies trusted to name the client, the dashboard's token form,
//! and single sign-on with OpenID Connect.

use std::net::IpAddr;

use openidconnect::url::{Host, Url};

use super::cli::RawSettings;
use super::{truthy, StartupError};
use crate::client_address::TrustedProxies;
use crate::secret::Secret;

#[derive(Debug, Clone)]
pub struct AccessSettings {
    /// EM_METRICS_PUBLIC_URL's origin (`https://metrics.example.com`), when set.
    pub public_origin: Option<String>,
    pub trusted_proxies: TrustedProxies,
    /// EM_METRICS_UI_TOKEN_LOGIN.
    pub ui_token_login: bool,
    pub oidc: Option<OidcSettings>,
}

/// No public URL, no trusted proxy, the token form on, no SSO.
impl Default for AccessSettings {
    fn default() -> Self {
        Self { public_origin: None, trusted_proxies: TrustedProxies::default(), ui_token_login: true, oidc: None }
    }
}

/// Dashboard sign-in through an OpenID provider.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Secret,
    /// `{EM_METRICS_PUBLIC_URL}/ui/oidc/callback`.
    pub redirect_uri: String,
    pub groups_claim: String,
    /// Empty: every user of the provider may sign in.
    pub read_groups: Vec<String>,
    pub admin_groups: Vec<String>,
}

impl AccessSettings {
    pub fn from_raw(raw: &RawSettings) -> Result<Self, StartupError> {
        let public_url = match raw.public_url.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
            None => None,
            Some(text) => Some(public_url(text)?),
        };
        let trusted_proxies = TrustedProxies::parse(raw.trusted_proxies.as_deref().unwrap_or_default())
            .map_err(|why| StartupError::new("EM_METRICS_TRUSTED_PROXIES", why))?;
        let ui_token_login = truthy(&raw.ui_token_login).ok_or_else(|| {
            StartupError::new("EM_METRICS_UI_TOKEN_LOGIN", format!("`{}` is not true or false", raw.ui_token_login))
        })?;
        let oidc = oidc(raw, public_url.as_ref())?;
        Ok(Self {
            public_origin: public_url.map(|u| u.origin().ascii_serialization()),
            trusted_proxies,
            ui_token_login,
            oidc,
        })
    }
}

fn public_url(text: &str) -> Result<Url, StartupError> {
    let bad = |why: String| StartupError::new("EM_METRICS_PUBLIC_URL", why);
    let url = Url::parse(text).map_err(|e| bad(format!("`{text}` is not a URL: {e}")))?;
    if !matches!(url.scheme(), "https" | "http") || url.host().is_none() {
        return Err(bad(format!("`{text}` is not an http(s) URL with a host")));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad(format!("`{text}` has a query or fragment; give the base URL only")));
    }
    Ok(url)
}

fn oidc(raw: &RawSettings, public_url: Option<&Url>) -> Result<Option<OidcSettings>, StartupError> {
    let given = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_string);
    let issuer = given(&raw.oidc_issuer);
    let client_id = given(&raw.oidc_client_id);
    let client_secret = raw.oidc_client_secret.as_deref().filter(|s| !s.is_empty());
    let Some(issuer) = issuer else {
        if client_id.is_some() || client_secret.is_some() {
            return Err(StartupError::new(
                "EM_METRICS_OIDC_ISSUER",
                "is required when EM_METRICS_OIDC_CLIENT_ID or EM_METRICS_OIDC_CLIENT_SECRET is set",
            ));
        }
        return Ok(None);
    };
    let url = Url::parse(&issuer)
        .map_err(|e| StartupError::new("EM_METRICS_OIDC_ISSUER", format!("`{issuer}` is not a URL: {e}")))?;
    let loopback = match url.host() {
        Some(Host::Ipv4(a)) => IpAddr::V4(a).is_loopback(),
        Some(Host::Ipv6(a)) => IpAddr::V6(a).is_loopback(),
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    if !(url.scheme() == "https" || (url.scheme() == "http" && loopback)) {
        return Err(StartupError::new(
            "EM_METRICS_OIDC_ISSUER",
            format!("`{issuer}` must be an https URL (http only on a loopback host, for tests)"),
        ));
    }
    let client_id = client_id
        .ok_or_else(|| StartupError::new("EM_METRICS_OIDC_CLIENT_ID", "is required with EM_METRICS_OIDC_ISSUER"))?;
    let client_secret = super::secret("EM_METRICS_OIDC_CLIENT_SECRET", client_secret)?
        .ok_or_else(|| StartupError::new("EM_METRICS_OIDC_CLIENT_SECRET", "is required with EM_METRICS_OIDC_ISSUER"))?;
    let public_url = public_url.ok_or_else(|| {
        StartupError::new(
            "EM_METRICS_PUBLIC_URL",
            "is required with EM_METRICS_OIDC_ISSUER: the redirect URI is {EM_METRICS_PUBLIC_URL}/ui/oidc/callback",
        )
    })?;
    let groups_claim = raw.oidc_groups_claim.trim();
    if groups_claim.is_empty() {
        return Err(StartupError::new("EM_METRICS_OIDC_GROUPS_CLAIM", "must not be empty"));
    }
    let list = |v: &Option<String>| -> Vec<String> {
        v.as_deref()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .map(str::to_string)
            .collect()
    };
    Ok(Some(OidcSettings {
        issuer,
        client_id,
        client_secret,
        redirect_uri: format!("{}/ui/oidc/callback", public_url.as_str().trim_end_matches('/')),
        groups_claim: groups_claim.to_string(),
        read_groups: list(&raw.oidc_read_groups),
        admin_groups: list(&raw.oidc_admin_groups),
    }))
}
