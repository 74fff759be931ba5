//! How a committed state change is answered.

use axum::http::StatusCode;
use axum::Json;

use crate::domain::{Transition, Write};

/// The status of a committed transition (201 when something was created,
/// 200 otherwise) and its JSON view.
pub fn applied<T, V>(t: Transition<T>, view: impl FnOnce(T) -> V) -> (StatusCode, Json<V>) {
    let status = if t.write == Write::Insert { StatusCode::CREATED } else { StatusCode::OK };
    (status, Json(view(t.value)))
}
