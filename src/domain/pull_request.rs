//! Pull requests: opened (or opened as a draft), made ready, reviewed,
//! merged or closed, reopened; and the stages of cycle time they give, from
//! the first commit to the production deployment that shipped the merge.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use utoipa::ToSchema;

use super::{
    not_before, required, Context, Differences, Dims, DomainEvent, Effect, Id, PullRequestDims, Rejection, Transition,
    Username, Write,
};
use crate::time::Timestamp;

/// Longest pull request title accepted.
pub const MAX_PULL_REQUEST_TITLE_CHARS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PullRequestState {
    Open,
    Merged,
    Closed,
}

impl PullRequestState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Merged => "merged",
            Self::Closed => "closed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        super::from_name(text)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewState {
    Approved,
    ChangesRequested,
    Commented,
}

impl ReviewState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approved => "approved",
            Self::ChangesRequested => "changes_requested",
            Self::Commented => "commented",
        }
    }
}

/// The branch a Git host says a pull request's commits are pushed to:
/// pushes to it give the pull request's first commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadBranch {
    /// The known-commits key of the repository (`github:acme/api`).
    pub repository: String,
    pub branch: String,
}

/// The key of the keyed hash of authors' logins: 32 random bytes made once
/// per database (the store keeps it).
pub struct HashKey(pub Vec<u8>);

impl HashKey {
    /// HMAC-SHA-256 of `login` under this key, in hex: the same person
    /// gives the same value, and without the key nobody can test a guessed
    /// login against it.
    pub fn author_key(&self, login: &Username) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(login.as_str().as_bytes());
        mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PullRequest {
    pub id: Id,
    pub project_id: Id,
    pub team_id: Option<String>,
    pub number: Option<i64>,
    pub title: Option<String>,
    /// None when usernames are not stored (EM_METRICS_STORE_USERNAMES=false) or erased.
    pub author: Option<Username>,
    /// The keyed hash of the author's login ([`HashKey::author_key`]), kept
    /// whether or not the login is: distinct authors are counted by it.
    pub author_key: Option<String>,
    pub base_branch: Option<String>,
    pub head_sha: Option<Id>,
    /// Known when a Git host's delivery made it.
    pub head_branch: Option<HeadBranch>,
    pub draft: bool,
    pub state: PullRequestState,
    pub opened_at: Timestamp,
    pub first_commit_at: Option<Timestamp>,
    /// `opened_at`, or when a draft first became ready for review.
    pub ready_at: Option<Timestamp>,
    /// The first review, and the first approval, by someone other than the author.
    pub first_review_at: Option<Timestamp>,
    pub approved_at: Option<Timestamp>,
    /// Reviews by others than the author.
    pub reviews: u64,
    pub merged_at: Option<Timestamp>,
    pub merge_commit_sha: Option<Id>,
    pub additions: Option<i64>,
    pub deletions: Option<i64>,
    pub closed_at: Option<Timestamp>,
    /// The first production deployment of the project that shipped the merge.
    pub deployment_id: Option<Id>,
    pub deployed_at: Option<Timestamp>,
    pub created_by: Option<String>,
}

/// Seconds from `from` to `to`, when both are known; a negative span (a
/// clock out of step, a review dated before the PR was ready) counts as 0.
fn span(from: Option<Timestamp>, to: Option<Timestamp>) -> Option<f64> {
    Some(to?.seconds_since(from?).max(0.0))
}

/// When a pull request's stages start and end: all cycle time is measured
/// from these, for a whole pull request or for a row an insight read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StageTimes {
    pub first_commit_at: Option<Timestamp>,
    pub opened_at: Timestamp,
    pub ready_at: Option<Timestamp>,
    pub first_review_at: Option<Timestamp>,
    pub merged_at: Option<Timestamp>,
    pub deployed_at: Option<Timestamp>,
}

impl StageTimes {
    /// `first_commit_at` → `ready_at`.
    pub fn coding_seconds(&self) -> Option<f64> {
        span(self.first_commit_at, self.ready_at)
    }

    /// `ready_at` → `first_review_at`.
    pub fn pickup_seconds(&self) -> Option<f64> {
        span(self.ready_at, self.first_review_at)
    }

    /// `first_review_at` → `merged_at`; merged without a review, from `ready_at`.
    pub fn review_seconds(&self) -> Option<f64> {
        span(self.first_review_at.or(self.ready_at), self.merged_at)
    }

    /// `merged_at` → `deployed_at`.
    pub fn deploy_seconds(&self) -> Option<f64> {
        span(self.merged_at, self.deployed_at)
    }

    /// `first_commit_at` (else `opened_at`) → `deployed_at`.
    pub fn cycle_seconds(&self) -> Option<f64> {
        span(Some(self.first_commit_at.unwrap_or(self.opened_at)), self.deployed_at)
    }
}

impl PullRequest {
    pub fn times(&self) -> StageTimes {
        StageTimes {
            first_commit_at: self.first_commit_at,
            opened_at: self.opened_at,
            ready_at: self.ready_at,
            first_review_at: self.first_review_at,
            merged_at: self.merged_at,
            deployed_at: self.deployed_at,
        }
    }

    pub fn coding_seconds(&self) -> Option<f64> {
        self.times().coding_seconds()
    }

    pub fn pickup_seconds(&self) -> Option<f64> {
        self.times().pickup_seconds()
    }

    pub fn review_seconds(&self) -> Option<f64> {
        self.times().review_seconds()
    }

    pub fn deploy_seconds(&self) -> Option<f64> {
        self.times().deploy_seconds()
    }

    pub fn cycle_seconds(&self) -> Option<f64> {
        self.times().cycle_seconds()
    }

    pub fn dims(&self) -> PullRequestDims {
        PullRequestDims { project_id: self.project_id.clone(), team_id: self.team_id.clone() }
    }

    /// The event of `shipment` shipping it for the first time.
    pub fn shipped_event(&self, environment: &Id) -> Option<DomainEvent> {
        Some(DomainEvent::PullRequestShipped {
            dims: Dims {
                project_id: self.project_id.clone(),
                environment: environment.clone(),
                team_id: self.team_id.clone(),
            },
            deploy_seconds: self.deploy_seconds()?,
            cycle_seconds: self.cycle_seconds()?,
        })
    }
}

/// `POST /pull-requests`, or a Git host's delivery.
#[derive(Debug, Clone, Default)]
pub struct NewPullRequest {
    pub id: Option<Id>,
    pub project_id: Option<Id>,
    pub number: Option<i64>,
    pub title: Option<String>,
    pub author: Option<Username>,
    pub base_branch: Option<String>,
    pub head_sha: Option<Id>,
    /// From a Git host's delivery only: the JSON API does not take it.
    pub head_branch: Option<HeadBranch>,
    pub draft: Option<bool>,
    pub opened_at: Option<Timestamp>,
    pub first_commit_at: Option<Timestamp>,
}

/// `POST /pull-requests/{id}/reviewed`.
#[derive(Debug, Clone)]
pub struct NewReview {
    pub reviewed_at: Option<Timestamp>,
    pub state: ReviewState,
    pub reviewer: Option<Username>,
}

/// `POST /pull-requests/{id}/merged`.
#[derive(Debug, Clone, Default)]
pub struct Merge {
    pub merged_at: Option<Timestamp>,
    pub merge_commit_sha: Option<Id>,
    pub additions: Option<i64>,
    pub deletions: Option<i64>,
}

/// The production deployment that first shipped a commit: its id, where
/// and when it went live.
#[derive(Debug, Clone, PartialEq)]
pub struct Shipment {
    pub deployment_id: Id,
    pub environment: Id,
    pub deployed_at: Timestamp,
}

fn not_found(id: &str) -> Rejection {
    Rejection::NotFound(format!("pull request `{id}` not found"))
}

/// Another project's pull request does not exist, as far as a scoped caller knows.
fn visible(existing: Option<PullRequest>, id: &str, ctx: &Context) -> Result<PullRequest, Rejection> {
    existing.filter(|p| ctx.scope.allows(&p.project_id)).ok_or_else(|| not_found(id))
}

fn checked_title(title: Option<String>) -> Result<Option<String>, Rejection> {
    let title = title.filter(|t| !t.trim().is_empty());
    if title.as_ref().is_some_and(|t| t.chars().count() > MAX_PULL_REQUEST_TITLE_CHARS) {
        return Err(Rejection::invalid(
            "title",
            format!("title is longer than {MAX_PULL_REQUEST_TITLE_CHARS} characters"),
        ));
    }
    Ok(title)
}

fn checked_count(field: &str, value: Option<i64>) -> Result<Option<i64>, Rejection> {
    if value.is_some_and(|v| v < 0) {
        return Err(Rejection::invalid(field, format!("{field} must not be negative")));
    }
    Ok(value)
}

/// `POST /pull-requests`: created, or the same again (a retry, 200), or a
/// conflict naming the first field that differs.
pub fn open(
    existing: Option<PullRequest>,
    cmd: NewPullRequest,
    key: &HashKey,
    ctx: &Context,
) -> Result<Transition<PullRequest>, Rejection> {
    let id = required("id", cmd.id.clone(), "")?;
    let project_id = required("project_id", cmd.project_id.clone(), "")?;
    ctx.scope.check_write("project_id", &project_id)?;
    let title = checked_title(cmd.title)?;
    if cmd.number.is_some_and(|n| n < 0) {
        return Err(Rejection::invalid("number", "number must not be negative"));
    }
    ctx.given("opened_at", cmd.opened_at)?;
    ctx.given("first_commit_at", cmd.first_commit_at)?;
    let team_id = ctx.teams.resolve(&project_id, cmd.author.as_deref());
    let author_key = cmd.author.as_ref().map(|a| key.author_key(a));
    let author = cmd.author.filter(|_| ctx.store_usernames);

    if let Some(stored) = existing {
        if !ctx.scope.allows(&stored.project_id) {
            return Err(Rejection::conflict_on("id", format!("pull request `{id}` already exists")));
        }
        let mut diff = Differences::default();
        diff.check("project_id", Some(&project_id), &stored.project_id);
        diff.check("number", cmd.number.map(Some).as_ref(), &stored.number);
        diff.check("title", title.as_ref(), &stored.title.clone().unwrap_or_default());
        if ctx.store_usernames {
            diff.check("author", author.as_ref().map(Some).as_ref(), &stored.author.as_ref());
        }
        diff.check("base_branch", cmd.base_branch.as_ref().map(Some).as_ref(), &stored.base_branch.as_ref());
        diff.check("head_sha", cmd.head_sha.as_ref().map(Some).as_ref(), &stored.head_sha.as_ref());
        diff.check("opened_at", cmd.opened_at.as_ref(), &stored.opened_at);
        diff.check("first_commit_at", cmd.first_commit_at.map(Some).as_ref(), &stored.first_commit_at);
        diff.into_conflict("pull request", &id)?;
        return Ok(Transition::keep(stored));
    }

    let opened_at = cmd.opened_at.unwrap_or(ctx.now);
    let draft = cmd.draft.unwrap_or(false);
    let pull_request = PullRequest {
        team_id,
        id,
        project_id,
        number: cmd.number,
        title,
        author,
        author_key,
        base_branch: cmd.base_branch.filter(|b| !b.trim().is_empty()),
        head_sha: cmd.head_sha,
        head_branch: cmd.head_branch,
        draft,
        state: PullRequestState::Open,
        opened_at,
        first_commit_at: cmd.first_commit_at,
        ready_at: (!draft).then_some(opened_at),
        first_review_at: None,
        approved_at: None,
        reviews: 0,
        merged_at: None,
        merge_commit_sha: None,
        additions: None,
        deletions: None,
        closed_at: None,
        deployment_id: None,
        deployed_at: None,
        created_by: Some(ctx.actor.to_string()),
    };
    let events = vec![DomainEvent::PullRequestOpened(pull_request.dims())];
    Ok(Transition::new(Write::Insert, pull_request, events))
}

/// A time given for a step of pull request `p`: not before it was opened,
/// not in the future; now when not given.
fn step_time(field: &str, given: Option<Timestamp>, p: &PullRequest, ctx: &Context) -> Result<Timestamp, Rejection> {
    ctx.given(field, given)?;
    let at = given.unwrap_or(ctx.now);
    not_before(field, at, "opened_at", p.opened_at)?;
    Ok(at)
}

/// `POST /pull-requests/{id}/ready`: a draft is ready for review. Only the
/// first time counts: pickup is measured from it.
pub fn ready(
    id: &Id,
    existing: Option<PullRequest>,
    date: Option<Timestamp>,
    ctx: &Context,
) -> Result<Transition<PullRequest>, Rejection> {
    let mut p = visible(existing, id, ctx)?;
    if p.ready_at.is_some() && !p.draft {
        return Ok(Transition::keep(p));
    }
    let at = step_time("date", date, &p, ctx)?;
    p.ready_at = p.ready_at.or(Some(at));
    p.draft = false;
    Ok(Transition::new(Write::Update, p, Vec::new()))
}

/// Back to draft (a Git host's `converted_to_draft`): `ready_at` keeps the
/// first time it was ready.
pub fn to_draft(id: &Id, existing: Option<PullRequest>, ctx: &Context) -> Result<Transition<PullRequest>, Rejection> {
    let mut p = visible(existing, id, ctx)?;
    if p.draft || p.state != PullRequestState::Open {
        return Ok(Transition::keep(p));
    }
    p.draft = true;
    Ok(Transition::new(Write::Update, p, Vec::new()))
}

/// `POST /pull-requests/{id}/reviewed`. `seen`: this very review (reviewer,
/// state and time) is stored already, so this is a retry.
pub fn review(
    id: &Id,
    existing: Option<PullRequest>,
    cmd: NewReview,
    seen: bool,
    ctx: &Context,
) -> Result<Transition<PullRequest>, Rejection> {
    let mut p = visible(existing, id, ctx)?;
    let at = step_time("reviewed_at", cmd.reviewed_at, &p, ctx)?;
    if seen {
        return Ok(Transition::keep(p));
    }
    let by_author = matches!((&cmd.reviewer, &p.author), (Some(r), Some(a)) if r == a);
    let mut events = Vec::new();
    if !by_author && p.first_review_at.is_none() {
        if let Some(pickup_seconds) = span(p.ready_at, Some(at)) {
            events.push(DomainEvent::PullRequestPickedUp { dims: p.dims(), pickup_seconds });
        }
    }
    if !by_author {
        p.reviews += 1;
        p.first_review_at = Some(p.first_review_at.map_or(at, |f| f.min(at)));
        if cmd.state == ReviewState::Approved {
            p.approved_at = Some(p.approved_at.map_or(at, |f| f.min(at)));
        }
    }
    let reviewer = cmd.reviewer.filter(|_| ctx.store_usernames);
    let record = Effect::RecordReview { pull_request_id: p.id.clone(), reviewer, state: cmd.state, at, by_author };
    Ok(Transition { write: Write::Update, value: p, events, effects: vec![record] })
}

/// The merge commit a merge names: required, and what links the pull
/// request to the deployment that ships it.
pub fn merge_sha(cmd: &Merge) -> Result<&Id, Rejection> {
    required("merge_commit_sha", cmd.merge_commit_sha.as_ref(), "")
}

/// `POST /pull-requests/{id}/merged`. `shipped`: the production deployment
/// that already shipped the merge commit, if one did.
pub fn merge(
    id: &Id,
    existing: Option<PullRequest>,
    cmd: Merge,
    shipped: Option<Shipment>,
    ctx: &Context,
) -> Result<Transition<PullRequest>, Rejection> {
    let mut p = visible(existing, id, ctx)?;
    let sha = merge_sha(&cmd)?.clone();
    let additions = checked_count("additions", cmd.additions)?;
    let deletions = checked_count("deletions", cmd.deletions)?;
    match p.state {
        PullRequestState::Merged => {
            let mut diff = Differences::default();
            diff.check("merge_commit_sha", Some(&Some(sha)), &p.merge_commit_sha);
            diff.check("merged_at", cmd.merged_at.map(Some).as_ref(), &p.merged_at);
            diff.into_conflict("pull request", id)?;
            return Ok(Transition::keep(p));
        }
        PullRequestState::Closed => {
            return Err(Rejection::conflict(format!("pull request `{id}` is closed: reopen it before merging")));
        }
        PullRequestState::Open => {}
    }
    let at = step_time("merged_at", cmd.merged_at, &p, ctx)?;
    p.state = PullRequestState::Merged;
    p.draft = false;
    p.merged_at = Some(at);
    p.merge_commit_sha = Some(sha);
    p.additions = additions;
    p.deletions = deletions;
    let size = match (additions, deletions) {
        (Some(a), Some(d)) => Some((a + d) as f64),
        _ => None,
    };
    let mut events = vec![DomainEvent::PullRequestMerged {
        dims: p.dims(),
        coding_seconds: p.coding_seconds(),
        review_seconds: p.review_seconds(),
        size,
    }];
    if let Some(s) = shipped {
        p.deployment_id = Some(s.deployment_id);
        p.deployed_at = Some(s.deployed_at);
        events.extend(p.shipped_event(&s.environment));
    }
    Ok(Transition::new(Write::Update, p, events))
}

/// `POST /pull-requests/{id}/closed`: closed without merging.
pub fn close(
    id: &Id,
    existing: Option<PullRequest>,
    date: Option<Timestamp>,
    ctx: &Context,
) -> Result<Transition<PullRequest>, Rejection> {
    let mut p = visible(existing, id, ctx)?;
    match p.state {
        PullRequestState::Merged => {
            Err(Rejection::conflict(format!("pull request `{id}` was merged; a merged pull request cannot be closed")))
        }
        PullRequestState::Closed => {
            if date.is_some_and(|d| Some(d) != p.closed_at) {
                return Err(Rejection::conflict_on("closed_at", format!("pull request `{id}` was already closed")));
            }
            Ok(Transition::keep(p))
        }
        PullRequestState::Open => {
            p.closed_at = Some(step_time("closed_at", date, &p, ctx)?);
            p.state = PullRequestState::Closed;
            Ok(Transition::new(Write::Update, p, Vec::new()))
        }
    }
}

/// `POST /pull-requests/{id}/reopened`: a closed pull request is open again.
pub fn reopen(
    id: &Id,
    existing: Option<PullRequest>,
    date: Option<Timestamp>,
    ctx: &Context,
) -> Result<Transition<PullRequest>, Rejection> {
    let mut p = visible(existing, id, ctx)?;
    match p.state {
        PullRequestState::Merged => Err(Rejection::conflict(format!("pull request `{id}` was merged"))),
        PullRequestState::Open => Ok(Transition::keep(p)),
        PullRequestState::Closed => {
            step_time("date", date, &p, ctx)?;
            p.state = PullRequestState::Open;
            p.closed_at = None;
            Ok(Transition::new(Write::Update, p, Vec::new()))
        }
    }
}

/// Commits pushed to its head branch, the earliest at `earliest`: its first
/// commit is the earliest of all its branch's pushes, in whatever order
/// they arrive.
pub fn commits_pushed(mut p: PullRequest, earliest: Timestamp) -> Transition<PullRequest> {
    if p.first_commit_at.is_some_and(|known| known <= earliest) {
        return Transition::keep(p);
    }
    p.first_commit_at = Some(earliest);
    Transition::new(Write::Update, p, Vec::new())
}

/// `DELETE /pull-requests/{id}`.
pub fn remove(id: &Id, existing: Option<PullRequest>, ctx: &Context) -> Result<Transition<PullRequest>, Rejection> {
    let p = visible(existing, id, ctx)?;
    Ok(Transition::new(Write::Delete, p, Vec::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(t: &str) -> Timestamp {
        Timestamp::parse(t).expect("time")
    }

    fn id(s: &str) -> Id {
        Id::parse(s).expect("id")
    }

    fn ctx() -> Context {
        Context::at(ts("2024-06-01T00:00:00Z"), id("production"))
    }

    fn opened(draft: bool) -> PullRequest {
        let cmd = NewPullRequest {
            id: Some(id("api#1")),
            project_id: Some(id("api")),
            author: Some(Username::parse("ada").expect("name")),
            draft: Some(draft),
            opened_at: Some(ts("2024-05-01T10:00:00Z")),
            first_commit_at: Some(ts("2024-05-01T08:00:00Z")),
            ..NewPullRequest::default()
        };
        open(None, cmd, &HashKey(vec![7; 32]), &ctx()).expect("opens").value
    }

    fn reviewed(p: PullRequest, who: &str, state: ReviewState, at: &str) -> PullRequest {
        let cmd = NewReview { reviewed_at: Some(ts(at)), state, reviewer: Some(Username::parse(who).expect("name")) };
        review(&p.id.clone(), Some(p), cmd, false, &ctx()).expect("reviewed").value
    }

    #[test]
    fn a_draft_is_picked_up_from_when_it_became_ready_and_the_author_never_counts() {
        let p = opened(true);
        assert_eq!(p.ready_at, None);
        let p = ready(&p.id.clone(), Some(p), Some(ts("2024-05-01T12:00:00Z")), &ctx()).expect("ready").value;
        let p = reviewed(p, "ada", ReviewState::Approved, "2024-05-01T12:30:00Z");
        assert_eq!((p.reviews, p.first_review_at, p.approved_at), (0, None, None), "the author's own review");
        let p = reviewed(p, "bob", ReviewState::Commented, "2024-05-01T13:00:00Z");
        let p = reviewed(p, "cy", ReviewState::Approved, "2024-05-01T14:00:00Z");
        assert_eq!(p.reviews, 2);
        assert_eq!(p.coding_seconds(), Some(4.0 * 3600.0));
        assert_eq!(p.pickup_seconds(), Some(3600.0));
        assert_eq!(p.approved_at, Some(ts("2024-05-01T14:00:00Z")));
        let merge_cmd =
            Merge { merged_at: Some(ts("2024-05-01T15:00:00Z")), merge_commit_sha: Some(id("m1")), ..Merge::default() };
        let shipped = Shipment {
            deployment_id: id("d1"),
            environment: id("production"),
            deployed_at: ts("2024-05-01T16:30:00Z"),
        };
        let p = merge(&p.id.clone(), Some(p), merge_cmd, Some(shipped), &ctx()).expect("merged").value;
        assert_eq!(p.review_seconds(), Some(2.0 * 3600.0));
        assert_eq!(p.deploy_seconds(), Some(1.5 * 3600.0));
        assert_eq!(p.cycle_seconds(), Some(8.5 * 3600.0));
    }

    #[test]
    fn pushes_can_only_move_the_first_commit_earlier() {
        let p = opened(false);
        let later = commits_pushed(p.clone(), ts("2024-05-01T09:00:00Z"));
        assert_eq!((later.write, later.value.first_commit_at), (Write::Keep, Some(ts("2024-05-01T08:00:00Z"))));
        let earlier = commits_pushed(p, ts("2024-04-30T08:00:00Z"));
        assert_eq!((earlier.write, earlier.value.first_commit_at), (Write::Update, Some(ts("2024-04-30T08:00:00Z"))));
    }

    #[test]
    fn authors_are_told_apart_by_a_keyed_hash_even_when_logins_are_not_stored() {
        let ctx = Context { store_usernames: false, ..ctx() };
        let cmd = |who: &str| NewPullRequest {
            id: Some(id("api#1")),
            project_id: Some(id("api")),
            author: Some(Username::parse(who).expect("name")),
            ..NewPullRequest::default()
        };
        let key = HashKey(vec![7; 32]);
        let ada = open(None, cmd("ada"), &key, &ctx).expect("opens").value;
        assert_eq!(ada.author, None, "the login is not kept");
        let ada_key = ada.author_key.expect("its keyed hash is");
        assert_eq!(ada_key.len(), 64);
        assert!(!ada_key.contains("ada"));
        let again = open(None, cmd("ada"), &key, &ctx).expect("opens").value;
        assert_eq!(again.author_key.as_deref(), Some(ada_key.as_str()), "the same person, the same value");
        let bob = open(None, cmd("bob"), &key, &ctx).expect("opens").value;
        assert_ne!(bob.author_key.as_deref(), Some(ada_key.as_str()));
        let other_key = open(None, cmd("ada"), &HashKey(vec![8; 32]), &ctx).expect("opens").value;
        assert_ne!(other_key.author_key.as_deref(), Some(ada_key.as_str()), "another database, another value");
    }

    #[test]
    fn merged_without_a_review_measures_review_from_ready() {
        let p = opened(false);
        let cmd =
            Merge { merged_at: Some(ts("2024-05-01T11:00:00Z")), merge_commit_sha: Some(id("m")), ..Merge::default() };
        let p = merge(&p.id.clone(), Some(p), cmd, None, &ctx()).expect("merged").value;
        assert_eq!(p.review_seconds(), Some(3600.0));
        assert_eq!((p.deploy_seconds(), p.cycle_seconds()), (None, None));
    }

    #[test]
    fn times_out_of_order_and_merges_of_closed_ones_are_refused() {
        let p = opened(false);
        let early =
            Merge { merged_at: Some(ts("2024-05-01T09:00:00Z")), merge_commit_sha: Some(id("m")), ..Merge::default() };
        let why = merge(&p.id.clone(), Some(p.clone()), early, None, &ctx()).expect_err("before opened");
        assert!(matches!(why, Rejection::Invalid { ref field, .. } if field == "merged_at"), "{why:?}");
        let no_sha = Merge::default();
        let why = merge(&p.id.clone(), Some(p.clone()), no_sha, None, &ctx()).expect_err("no sha");
        assert!(matches!(why, Rejection::Invalid { ref field, .. } if field == "merge_commit_sha"), "{why:?}");
        let closed = close(&p.id.clone(), Some(p), None, &ctx()).expect("closed").value;
        let cmd = Merge { merge_commit_sha: Some(id("m")), ..Merge::default() };
        assert!(matches!(
            merge(&closed.id.clone(), Some(closed.clone()), cmd, None, &ctx()),
            Err(Rejection::Conflict { .. })
        ));
        let again = reopen(&closed.id.clone(), Some(closed), None, &ctx()).expect("reopened").value;
        assert_eq!((again.state, again.closed_at), (PullRequestState::Open, None));
    }
}
