//! The database URL: which backend, and where. A leaf (configuration parses it without
//! pulling in the rest of `db`); its `Debug` never shows a password.

use std::path::PathBuf;

/// Where the data lives, parsed from the database URL's scheme.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl DatabaseUrl {
    /// Accepts `sqlite://PATH`, `sqlite:PATH`, `postgres://…` and `postgresql://…`.
    pub fn parse(url: &str) -> Result<Self, &'static str> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_owned()));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or("expected a sqlite:// or postgres:// URL")?;
        if path.is_empty() {
            return Err("the sqlite URL names no file");
        }
        if path == ":memory:" || path.starts_with("file::memory:") {
            return Err("an in-memory SQLite database cannot be shared by a pool");
        }
        Ok(Self::Sqlite(PathBuf::from(path)))
    }

    /// The URL with any password replaced, for logs and `Debug`.
    pub fn redacted(&self) -> String {
        match self {
            Self::Sqlite(path) => format!("sqlite://{}", path.display()),
            // Scheme, user, host, port and database only: a password can also hide in
            // the query (`?password=`, `sslpassword=`).
            Self::Postgres(url) => match url::Url::parse(url) {
                Ok(mut parsed) => {
                    if parsed.password().is_some() {
                        // set_password only fails for URLs that cannot carry one.
                        let _ = parsed.set_password(Some("redacted"));
                    }
                    parsed.set_query(None);
                    parsed.set_fragment(None);
                    parsed.to_string()
                }
                Err(_) => "postgres://(unparsable)".to_owned(),
            },
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls_by_scheme() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://data/t.db"),
            Ok(DatabaseUrl::Sqlite(PathBuf::from("data/t.db")))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:/tmp/t.db"),
            Ok(DatabaseUrl::Sqlite(PathBuf::from("/tmp/t.db")))
        );
        assert!(DatabaseUrl::parse("postgres://u@h/db").is_ok_and(|u| u.is_postgres()));
        assert!(DatabaseUrl::parse("mysql://h/db").is_err());
        assert!(DatabaseUrl::parse("sqlite://:memory:").is_err());
        assert!(DatabaseUrl::parse("sqlite://").is_err());
        assert!(DatabaseUrl::parse("data/t.db").is_err());
    }

    #[test]
    fn redacts_passwords() {
        let url = DatabaseUrl::parse("postgres://svc:hunter2@db:5432/tessera").ok();
        let shown = format!("{url:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("redacted"), "{shown}");
        let url =
            DatabaseUrl::parse("postgres://svc@db/tessera?password=hunter2&sslpassword=x").ok();
        let shown = format!("{url:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("sslpassword"),
            "{shown}"
        );
    }
}
