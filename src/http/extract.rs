//! Extractors that answer bad input in the service's error shape.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use super::error::AppError;
use crate::domain::{Id, Username};

/// Largest request body accepted; larger ones get 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Longest query string accepted; longer ones get 414.
pub const MAX_QUERY_BYTES: usize = 8 * 1024;

/// A JSON body read whatever its Content-Type says (curl `-d` sends a form
/// type), with an empty body taken as `{}`. Errors name the field at fault.
pub struct LenientJson<T>(pub T);

/// How long a client may take to send a request body. Headers have their
/// own limit in the server; together they cut off slow (or stuck) clients.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for LenientJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let read = tokio::time::timeout(BODY_TIMEOUT, Bytes::from_request(req, state));
        let bytes = read.await.map_err(|_| AppError::RequestTimeout)?.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                AppError::PayloadTooLarge(MAX_BODY_BYTES)
            } else {
                AppError::BadRequest { message: format!("cannot read the request body: {rejection}"), field: None }
            }
        })?;
        parse_json(&bytes).map(LenientJson)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    let text = bytes.trim_ascii();
    let text: &[u8] = if text.is_empty() { b"{}" } else { text };
    if text.first() != Some(&b'{') {
        return Err(AppError::BadRequest {
            message: "the request body must be a JSON object, like {\"project_id\": \"api\"}".into(),
            field: None,
        });
    }
    let mut de = serde_json::Deserializer::from_slice(text);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if let Some(unknown) = unknown_field(&path, &inner.to_string()) {
            return unknown;
        }
        if inner.is_syntax() || inner.is_eof() || path == "." {
            AppError::BadRequest { message: format!("malformed JSON: {inner}"), field: None }
        } else {
            // serde_json appends the position; the field name says more to a person.
            let message = inner.to_string();
            let message = message.split(" at line ").next().unwrap_or(&message);
            AppError::bad_field(path.clone(), format!("{path}: {message}"))
        }
    })?;
    de.end().map_err(|e| AppError::BadRequest { message: format!("malformed JSON: {e}"), field: None })?;
    Ok(value)
}

/// serde's "unknown field `x`, expected one of `a`, `b`" as a 400 that names
/// the field and, when one is close, the field that was probably meant:
/// `unknown field projectId; did you mean project_id?`.
fn unknown_field(path: &str, message: &str) -> Option<AppError> {
    let rest = message.strip_prefix("unknown field `")?;
    let (name, rest) = rest.split_once('`')?;
    let known: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
    // serde_path_to_error's path already ends in the unknown key.
    let field = match path {
        "." | "?" | "" => name.to_string(),
        path => path.to_string(),
    };
    let message = match nearest(name, &known) {
        Some(meant) => format!("unknown field {field}; did you mean {meant}?"),
        None if known.is_empty() => format!("unknown field {field}"),
        None => format!("unknown field {field}; the known fields are {}", known.join(", ")),
    };
    Some(AppError::bad_field(field, message))
}

/// The known name closest to `name`, ignoring case, `_` and `-`, when it is
/// close enough to be a typo or another spelling (`projectId`, `deployedAt`).
fn nearest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    let fold = |s: &str| s.chars().filter(|c| *c != '_' && *c != '-').flat_map(char::to_lowercase).collect::<String>();
    let wanted = fold(name);
    let (best, distance) =
        known.iter().map(|k| (*k, strsim::levenshtein(&wanted, &fold(k)))).min_by_key(|(_, d)| *d)?;
    (distance <= 2.max(wanted.chars().count() / 4)).then_some(best)
}

/// The `{id}` of a route, decoded and checked like an id in a body.
pub struct IdPath(pub Id);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| AppError::bad_field("id", format!("invalid id in the path: {e}")))?;
        Id::parse(id).map(Self).map_err(|why| AppError::bad_field("id", format!("id {why}")))
    }
}

/// Query parameters, where list parameters may repeat (`?project_id=a&project_id=b`).
/// Errors name the parameter at fault.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        parse_query(parts.uri.query().unwrap_or_default()).map(Query)
    }
}

/// A query string as a `T`, with [`Query`]'s errors; for a handler that must
/// check something (credentials) before it reads the parameters.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, AppError> {
    let de = serde_html_form::Deserializer::from_bytes(query.as_bytes());
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if let Some(unknown) = unknown_field(&path, &inner.to_string()) {
            return unknown;
        }
        if path == "." || path == "?" {
            AppError::BadRequest { message: format!("invalid query string: {inner}"), field: None }
        } else {
            AppError::bad_field(path.clone(), format!("{path}: {inner}"))
        }
    })
}

/// A list parameter, repeated (`?status=a&status=b`) or comma-separated
/// (`?status=a,b`), blanks dropped, each value parsed as a `T`.
pub fn comma_list<'de, D, T>(de: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    use serde::de::value::StringDeserializer;
    Vec::<String>::deserialize(de)?
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| T::deserialize(StringDeserializer::<D::Error>::new(v.to_string())))
        .collect()
}

/// A single parameter where an empty value (`?interval=`) means "not given".
pub fn blank_is_none<'de, D, T>(de: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    use serde::de::value::StringDeserializer;
    match Option::<String>::deserialize(de)? {
        Some(v) if !v.trim().is_empty() => {
            T::deserialize(StringDeserializer::<D::Error>::new(v.trim().to_string())).map(Some)
        }
        _ => Ok(None),
    }
}

/// A username field: blank counts as none (CI variables are often empty);
/// the rest is [`Username::optional`]'s.
pub fn username<'de, D: Deserializer<'de>>(de: D) -> Result<Option<Username>, D::Error> {
    Username::optional(Option::<String>::deserialize(de)?).map_err(serde::de::Error::custom)
}
