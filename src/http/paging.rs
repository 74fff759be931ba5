//! The list parameters every list route takes: a page and a time range.

use super::error::{AppError, Result};
use crate::store::{Order, Page, TimeRange};
use crate::time::Timestamp;

/// Default and largest page of the list endpoints.
const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 1000;

/// `limit` (1 to 1000, default 50), `offset` (default 0) and `order`.
pub fn page(limit: Option<&str>, offset: Option<&str>, order: Option<Order>) -> Result<Page> {
    let limit = match limit.map(str::trim).filter(|l| !l.is_empty()) {
        None => DEFAULT_LIMIT,
        Some(text) => text.parse::<u32>().ok().filter(|l| (1..=MAX_LIMIT).contains(l)).ok_or_else(|| {
            AppError::bad_field("limit", format!("limit must be a whole number from 1 to {MAX_LIMIT}"))
        })?,
    };
    let offset = match offset.map(str::trim).filter(|o| !o.is_empty()) {
        None => 0,
        Some(text) => text
            .parse::<u64>()
            .ok()
            .filter(|o| *o <= i64::MAX as u64)
            .ok_or_else(|| AppError::bad_field("offset", "offset must be a whole number, 0 or more"))?,
    };
    Ok(Page { limit, offset, order: order.unwrap_or_default() })
}

/// `from` must be before `to` when both are given.
pub fn range(from: Option<Timestamp>, to: Option<Timestamp>) -> Result<TimeRange> {
    match (from, to) {
        (Some(f), Some(t)) if f >= t => Err(AppError::bad_field("from", "from must be before to")),
        _ => Ok(TimeRange { from, to }),
    }
}
