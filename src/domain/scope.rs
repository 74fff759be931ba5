//! [`Scope`]: the projects a caller may see and change.

use std::sync::Arc;

use super::{Id, Rejection};

/// Every project, or only those listed (a token limited to projects).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Scope {
    #[default]
    All,
    Projects(Arc<[Id]>),
}

impl Scope {
    pub fn allows(&self, project: &str) -> bool {
        match self {
            Self::All => true,
            Self::Projects(list) => list.iter().any(|p| p.as_str() == project),
        }
    }

    /// A write naming `project`: refused (403, naming the field) outside the scope.
    pub fn check_write(&self, field: &str, project: &str) -> Result<(), Rejection> {
        if self.allows(project) {
            return Ok(());
        }
        Err(Rejection::Forbidden {
            field: Some(field.to_string()),
            message: format!("this token may not write to project `{project}`: {}", self.describe()),
        })
    }

    /// The project filter of a read: the projects asked for, all within the
    /// scope (403 naming `project_id` otherwise), or the scope's own when
    /// none is asked for.
    pub fn narrow(&self, asked: Vec<String>) -> Result<Vec<String>, Rejection> {
        match self {
            Self::All => Ok(asked),
            Self::Projects(list) if asked.is_empty() => Ok(list.iter().map(Id::to_string).collect()),
            Self::Projects(_) => match asked.iter().find(|p| !self.allows(p)) {
                Some(outside) => Err(Rejection::Forbidden {
                    field: Some("project_id".into()),
                    message: format!("this token may not read project `{outside}`: {}", self.describe()),
                }),
                None => Ok(asked),
            },
        }
    }

    /// The projects, as JSON keeps them (None: every project).
    pub fn projects(&self) -> Option<Vec<Id>> {
        match self {
            Self::All => None,
            Self::Projects(list) => Some(list.to_vec()),
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::All => "it may use every project".into(),
            Self::Projects(list) => {
                let names: Vec<&str> = list.iter().map(Id::as_str).collect();
                format!("it is limited to {}", names.join(", "))
            }
        }
    }
}

impl From<Option<Vec<Id>>> for Scope {
    fn from(projects: Option<Vec<Id>>) -> Self {
        match projects {
            None => Self::All,
            Some(list) => Self::Projects(list.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(list: &[&str]) -> Scope {
        Scope::Projects(list.iter().map(|p| Id::parse(*p).expect("id")).collect())
    }

    #[test]
    fn a_scoped_caller_writes_and_reads_only_its_projects() {
        let s = scope(&["api", "web"]);
        assert!(s.check_write("project_id", "api").is_ok());
        assert!(matches!(s.check_write("project_id", "billing"),
            Err(Rejection::Forbidden { field: Some(f), .. }) if f == "project_id"));
        assert_eq!(s.narrow(vec![]).expect("ok"), ["api", "web"]);
        assert_eq!(s.narrow(vec!["web".into()]).expect("ok"), ["web"]);
        assert!(s.narrow(vec!["web".into(), "billing".into()]).is_err());
        assert!(!s.allows("billing"));
        assert_eq!(Scope::All.narrow(vec![]).expect("ok"), Vec::<String>::new());
    }
}
