//! The team config file (CONFIG) and how events are mapped to teams.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};

/// `{"teams": {"backend": {"projects": [...], "users": [...]}}, "projects": {"api": {"aliases": [...]}}}`;
/// every part optional. Unknown keys are rejected so that a typo ("project")
/// fails loudly at start.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamConfig {
    #[serde(default)]
    pub teams: BTreeMap<String, Team>,
    /// The names webhook sources use for each project (a GitHub repository,
    /// a PagerDuty service, an alert's `job`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub projects: BTreeMap<String, Project>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Project {
    /// Matched case-insensitively: `acme/api`, `Checkout API`.
    #[serde(default)]
    pub aliases: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Team {
    #[serde(default)]
    pub projects: Vec<String>,
    #[serde(default)]
    pub users: Vec<User>,
}

/// A GitHub username, or an object that also carries the person's other handles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged, expecting = "a GitHub username string or an object with github_username, email and slack_member_id")]
pub enum User {
    Username(String),
    Details(UserDetails),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github_username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_member_id: Option<String>,
}

impl User {
    /// Usernames from CI are GitHub logins (case-insensitive) or e-mail addresses.
    fn is(&self, username: &str) -> bool {
        let same = |a: &Option<String>| a.as_deref().is_some_and(|a| a.eq_ignore_ascii_case(username));
        match self {
            User::Username(name) => name.eq_ignore_ascii_case(username),
            User::Details(d) => same(&d.github_username) || same(&d.email),
        }
    }
}

impl TeamConfig {
    /// Reads and validates the file; the error names the position of a JSON mistake.
    pub fn load(path: &Path) -> Result<Self, String> {
        let size = std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?.len();
        if size > MAX_CONFIG_BYTES {
            return Err(format!(
                "{} is {size} bytes, more than the {} MiB a team config may have",
                path.display(),
                MAX_CONFIG_BYTES >> 20
            ));
        }
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim_start().chars().next() {
            None => return Err("the file is empty: expected JSON like {\"teams\": {}}".into()),
            Some('{') => {}
            Some(_) => return Err("the file is not JSON: expected an object like {\"teams\": {}}".into()),
        }
        let de = &mut serde_json::Deserializer::from_str(text);
        let config: TeamConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if path == "." || path == "?" {
                inner.to_string()
            } else {
                format!("{path}: {inner}")
            }
        })?;
        config.check_aliases()?;
        Ok(config)
    }

    /// One alias must name one project: which one a webhook meant would
    /// otherwise depend on the order of the file.
    fn check_aliases(&self) -> Result<(), String> {
        let mut owner: BTreeMap<String, &str> = BTreeMap::new();
        for (project, entry) in &self.projects {
            for alias in &entry.aliases {
                if alias.trim().is_empty() {
                    return Err(format!("projects.{project}.aliases: an alias must not be blank"));
                }
                match owner.insert(alias.trim().to_lowercase(), project) {
                    Some(other) if other != project => {
                        return Err(format!(
                            "projects: the alias `{alias}` maps to two projects, `{other}` and `{project}`"
                        ))
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// The project a webhook source's names stand for: the project whose
    /// aliases hold the first of `names` that any alias matches (ignoring
    /// case), else `fallback` as it is.
    pub fn project_for(&self, names: &[&str], fallback: &str) -> String {
        for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
            let found =
                self.projects.iter().find(|(_, p)| p.aliases.iter().any(|a| a.trim().eq_ignore_ascii_case(name)));
            if let Some((project, _)) = found {
                return project.clone();
            }
        }
        fallback.to_string()
    }

    /// The team of an event: the project's only team; else the user's only
    /// team; else the one team both share; else none.
    pub fn resolve(&self, project_id: &str, username: Option<&str>) -> Option<String> {
        let of_project: Vec<&String> =
            self.teams.iter().filter(|(_, t)| t.projects.iter().any(|p| p == project_id)).map(|(n, _)| n).collect();
        if let [only] = of_project.as_slice() {
            return Some((*only).clone());
        }
        let username = username?;
        let of_user: Vec<&String> =
            self.teams.iter().filter(|(_, t)| t.users.iter().any(|u| u.is(username))).map(|(n, _)| n).collect();
        if let [only] = of_user.as_slice() {
            return Some((*only).clone());
        }
        let shared: Vec<&&String> = of_project.iter().filter(|t| of_user.contains(t)).collect();
        match shared.as_slice() {
            [only] => Some((**only).clone()),
            _ => None,
        }
    }
}

/// Largest team config file read; a bigger one is refused with a clear line.
pub const MAX_CONFIG_BYTES: u64 = 10 * 1024 * 1024;

/// The config in force, swapped whole on reload (SIGHUP) so readers never see
/// half a file.
#[derive(Clone, Default)]
pub struct Teams {
    current: Arc<RwLock<Arc<TeamConfig>>>,
}

impl Teams {
    pub fn new(config: TeamConfig) -> Self {
        Self { current: Arc::new(RwLock::new(Arc::new(config))) }
    }

    pub fn get(&self) -> Arc<TeamConfig> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn replace(&self, config: TeamConfig) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(config);
    }

    pub fn resolve(&self, project_id: &str, username: Option<&str>) -> Option<String> {
        self.get().resolve(project_id, username)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> TeamConfig {
        TeamConfig::parse(json).expect("valid config")
    }

    #[test]
    fn a_project_in_exactly_one_team_decides() {
        let c = config(r#"{"teams": {"a": {"projects": ["api"]}, "b": {"users": ["bob"]}}}"#);
        assert_eq!(c.resolve("api", Some("bob")).as_deref(), Some("a"));
    }

    #[test]
    fn an_unknown_project_falls_back_to_the_users_only_team() {
        let c = config(r#"{"teams": {"a": {"projects": ["api"]}, "b": {"users": [{"github_username": "Jane"}]}}}"#);
        assert_eq!(c.resolve("web", Some("jane")).as_deref(), Some("b"));
        assert_eq!(c.resolve("web", None), None);
    }

    #[test]
    fn a_shared_project_and_user_meet_in_the_one_common_team() {
        let c = config(
            r#"{"teams": {
                "a": {"projects": ["api"], "users": ["bob"]},
                "b": {"projects": ["api"], "users": ["alice"]},
                "c": {"projects": ["web"], "users": ["bob"]}}}"#,
        );
        assert_eq!(c.resolve("api", Some("bob")).as_deref(), Some("a"));
        assert_eq!(c.resolve("api", Some("carol")), None);
        assert_eq!(c.resolve("api", None), None);
    }

    #[test]
    fn two_common_teams_resolve_to_none() {
        let c = config(
            r#"{"teams": {
                "a": {"projects": ["api"], "users": ["bob"]},
                "b": {"projects": ["api"], "users": ["bob"]}}}"#,
        );
        assert_eq!(c.resolve("api", Some("bob")), None);
    }

    #[test]
    fn an_alias_matches_any_case_and_the_first_matching_name_wins() {
        let c =
            config(r#"{"projects": {"api": {"aliases": ["acme/api", "Checkout API"]}, "web": {"aliases": ["web"]}}}"#);
        assert_eq!(c.project_for(&["ACME/Api", "web"], "x"), "api");
        assert_eq!(c.project_for(&["checkout api"], "x"), "api");
        assert_eq!(c.project_for(&["acme/other", "web"], "x"), "web");
        assert_eq!(c.project_for(&["acme/other"], "other"), "other");
    }

    #[test]
    fn one_alias_for_two_projects_is_refused() {
        let err =
            TeamConfig::parse(r#"{"projects": {"api": {"aliases": ["acme/api"]}, "web": {"aliases": ["ACME/API"]}}}"#)
                .expect_err("ambiguous alias");
        assert!(err.contains("`api`") && err.contains("`web`") && err.contains("ACME/API"), "{err}");
    }

    #[test]
    fn typos_and_bad_json_are_reported_with_place() {
        let err = TeamConfig::parse(r#"{"teams": {"a": {"project": ["api"]}}}"#).expect_err("typo");
        assert!(err.contains("teams.a") && err.contains("project"), "{err}");
        let err = TeamConfig::parse("{\"teams\": {\n  \"a\": }").expect_err("syntax");
        assert!(err.contains("line 2"), "{err}");
        let err = TeamConfig::parse(r#"{"teams": {"a": {"users": [{"nick": "x"}]}}}"#).expect_err("user");
        assert!(err.contains("teams.a.users[0]"), "{err}");
    }
}
