//! `second-brain secrets`: which Worker secrets exist, which a file sets, and which are
//! missing, as pure planning. The command reads the file and the deployed names, then sets
//! each secret with `wrangler secret put` (the value on stdin, never in argv or output).
//!
//! Every secret the Worker reads is listed in [`KNOWN`] with what it is for; `.env.example` is
//! the same list for operators, and a test keeps the two in step.

use std::collections::BTreeMap;

/// Whether the Worker needs a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Sign-in answers 503 `misconfigured` without it.
    Required,
    /// Backups need all of this group or none.
    Backups,
    /// A feature that is off without it.
    Optional,
}

/// One secret the Worker reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Known {
    /// Its name.
    pub name: &'static str,
    /// Whether it is needed.
    pub need: Need,
    /// What it is for.
    pub purpose: &'static str,
    /// What a value must look like.
    pub shape: Shape,
}

/// What a value must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Anything not empty.
    Text,
    /// 64 hexadecimal characters (32 bytes).
    Hex32,
    /// At least 32 characters.
    Long,
}

/// Every secret the Worker reads.
pub const KNOWN: [Known; 9] = [
    Known {
        name: "GITHUB_CLIENT_ID",
        need: Need::Required,
        purpose: "the GitHub OAuth app's client id (sign-in)",
        shape: Shape::Text,
    },
    Known {
        name: "GITHUB_CLIENT_SECRET",
        need: Need::Required,
        purpose: "the GitHub OAuth app's client secret (sign-in)",
        shape: Shape::Text,
    },
    Known {
        name: "COOKIE_ENCRYPTION_KEY",
        need: Need::Required,
        purpose: "32 bytes as hex: encrypts the sign-in state cookie and keys the user tags in telemetry",
        shape: Shape::Hex32,
    },
    Known {
        name: "S3_BACKUP_ACCESS_KEY",
        need: Need::Backups,
        purpose: "access key of the S3 backup bucket",
        shape: Shape::Text,
    },
    Known {
        name: "S3_BACKUP_SECRET_KEY",
        need: Need::Backups,
        purpose: "secret key of the S3 backup bucket",
        shape: Shape::Text,
    },
    Known {
        name: "S3_BACKUP_BUCKET",
        need: Need::Backups,
        purpose: "the backup bucket's name",
        shape: Shape::Text,
    },
    Known {
        name: "S3_BACKUP_REGION",
        need: Need::Backups,
        purpose: "the backup bucket's region (auto for R2)",
        shape: Shape::Text,
    },
    Known {
        name: "BACKUP_SIGNING_KEY",
        need: Need::Optional,
        purpose: "ed25519 seed as hex: signs backup manifests (second-brain backup keygen)",
        shape: Shape::Hex32,
    },
    Known {
        name: "ADMIN_TOKEN",
        need: Need::Optional,
        purpose: "32+ characters: enables POST /admin/rebuild/{user}",
        shape: Shape::Long,
    },
];

/// Why a secrets file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretsError {
    /// A line is not `NAME=VALUE`.
    #[error("line {line}: expected NAME=VALUE")]
    Syntax {
        /// The 1-based line number.
        line: usize,
    },
    /// A name the Worker does not read (a typo?).
    #[error("line {line}: {name} is not a secret the Worker reads (known: {known})")]
    Unknown {
        /// The line number.
        line: usize,
        /// The name.
        name: String,
        /// The known names.
        known: String,
    },
    /// A value of the wrong shape (the value is not repeated).
    #[error("{name}: {why}")]
    Shape {
        /// The name.
        name: &'static str,
        /// What is wrong.
        why: &'static str,
    },
    /// A name given twice.
    #[error("line {line}: {name} is given twice")]
    Twice {
        /// The line number.
        line: usize,
        /// The name.
        name: String,
    },
}

/// Reads a dotenv-style file: `NAME=VALUE` lines, `#` comments, blank lines, values optionally
/// in single or double quotes; a name with an empty value is not given. Only [`KNOWN`] names; each value checked against its shape.
pub fn parse_file(text: &str) -> Result<BTreeMap<&'static str, String>, SecretsError> {
    let mut values = BTreeMap::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let trimmed = trimmed.strip_prefix("export ").unwrap_or(trimmed);
        let (name, value) = trimmed
            .split_once('=')
            .ok_or(SecretsError::Syntax { line })?;
        let name = name.trim();
        let known = KNOWN
            .iter()
            .find(|k| k.name == name)
            .ok_or_else(|| SecretsError::Unknown {
                line,
                name: name.to_owned(),
                known: KNOWN.iter().map(|k| k.name).collect::<Vec<_>>().join(", "),
            })?;
        let value = unquote(value.trim());
        if value.is_empty() {
            // Left blank (as in .env.example): not given.
            continue;
        }
        check_shape(known, value)?;
        if values.insert(known.name, value.to_owned()).is_some() {
            return Err(SecretsError::Twice {
                line,
                name: name.to_owned(),
            });
        }
    }
    Ok(values)
}

fn unquote(value: &str) -> &str {
    for quote in ['"', '\''] {
        if let Some(inner) = value
            .strip_prefix(quote)
            .and_then(|rest| rest.strip_suffix(quote))
        {
            return inner;
        }
    }
    value
}

fn check_shape(known: &Known, value: &str) -> Result<(), SecretsError> {
    let bad = |why| {
        Err(SecretsError::Shape {
            name: known.name,
            why,
        })
    };
    match known.shape {
        Shape::Text => Ok(()),
        Shape::Hex32 if value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()) => Ok(()),
        Shape::Hex32 => bad("expected 64 hexadecimal characters (32 bytes: openssl rand -hex 32)"),
        Shape::Long if value.len() >= 32 => Ok(()),
        Shape::Long => bad("expected at least 32 characters (openssl rand -hex 32)"),
    }
}

/// What the command will do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Secrets to set that the Worker does not have yet.
    pub add: Vec<&'static str>,
    /// Secrets to set again (the Worker has them; the value may be the same).
    pub replace: Vec<&'static str>,
    /// Required secrets neither the file nor the Worker has.
    pub missing: Vec<&'static str>,
    /// Backup secrets missing while others of the group are set (backups stay off).
    pub incomplete_backups: Vec<&'static str>,
}

/// Plans setting `from_file` on a Worker that has the secrets `deployed`.
pub fn plan(from_file: &BTreeMap<&'static str, String>, deployed: &[String]) -> Plan {
    let has = |name: &str| deployed.iter().any(|d| d == name);
    let mut plan = Plan::default();
    for name in from_file.keys() {
        if has(name) {
            plan.replace.push(name);
        } else {
            plan.add.push(name);
        }
    }
    let present = |name: &str| from_file.contains_key(name) || has(name);
    for known in &KNOWN {
        if known.need == Need::Required && !present(known.name) {
            plan.missing.push(known.name);
        }
    }
    let group: Vec<&Known> = KNOWN.iter().filter(|k| k.need == Need::Backups).collect();
    if group.iter().any(|k| present(k.name)) {
        plan.incomplete_backups = group
            .iter()
            .filter(|k| !present(k.name))
            .map(|k| k.name)
            .collect();
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    #[test]
    fn a_file_with_comments_quotes_and_export_is_read() {
        let text = format!(
            "# sign-in\nGITHUB_CLIENT_ID=abc\nexport GITHUB_CLIENT_SECRET=\"s e c\"\n\nCOOKIE_ENCRYPTION_KEY='{KEY}'\n"
        );
        let values = parse_file(&text).unwrap();
        assert_eq!(values["GITHUB_CLIENT_ID"], "abc");
        assert_eq!(values["GITHUB_CLIENT_SECRET"], "s e c");
        assert_eq!(values["COOKIE_ENCRYPTION_KEY"], KEY);
    }

    #[test]
    fn unknown_names_bad_shapes_and_repeats_are_refused_without_echoing_values() {
        assert!(matches!(
            parse_file("GITHUB_CLIENT_IDD=x"),
            Err(SecretsError::Unknown { line: 1, .. })
        ));
        assert_eq!(
            parse_file("just text"),
            Err(SecretsError::Syntax { line: 1 })
        );
        let short = parse_file("COOKIE_ENCRYPTION_KEY=deadbeef").unwrap_err();
        assert!(matches!(
            short,
            SecretsError::Shape {
                name: "COOKIE_ENCRYPTION_KEY",
                ..
            }
        ));
        assert!(!short.to_string().contains("deadbeef"));
        let admin = parse_file("ADMIN_TOKEN=tooshortsecretvalue").unwrap_err();
        assert!(!admin.to_string().contains("tooshortsecretvalue"));
        assert!(matches!(
            parse_file("GITHUB_CLIENT_ID=a\nGITHUB_CLIENT_ID=b"),
            Err(SecretsError::Twice { line: 2, .. })
        ));
        assert_eq!(
            parse_file("GITHUB_CLIENT_ID=\nADMIN_TOKEN=''"),
            Ok(BTreeMap::new())
        );
        // The example file itself reads as "nothing given".
        assert_eq!(
            parse_file(include_str!("../../.env.example")),
            Ok(BTreeMap::new())
        );
    }

    #[test]
    fn the_plan_says_what_is_added_replaced_and_still_missing() {
        let file = parse_file("GITHUB_CLIENT_ID=a\nS3_BACKUP_BUCKET=b").unwrap();
        let deployed = vec!["GITHUB_CLIENT_ID".to_owned(), "S3_BACKUP_REGION".to_owned()];
        let plan = plan(&file, &deployed);
        assert_eq!(plan.add, ["S3_BACKUP_BUCKET"]);
        assert_eq!(plan.replace, ["GITHUB_CLIENT_ID"]);
        assert_eq!(
            plan.missing,
            ["GITHUB_CLIENT_SECRET", "COOKIE_ENCRYPTION_KEY"]
        );
        assert_eq!(
            plan.incomplete_backups,
            ["S3_BACKUP_ACCESS_KEY", "S3_BACKUP_SECRET_KEY"]
        );
        // No backup secret anywhere: backups are simply off.
        let plan = super::plan(&BTreeMap::new(), &[]);
        assert!(plan.incomplete_backups.is_empty());
        assert_eq!(plan.missing.len(), 3);
    }

    #[test]
    fn env_example_lists_every_secret_the_worker_reads() {
        let example = include_str!("../../.env.example");
        for known in &KNOWN {
            assert!(
                example
                    .lines()
                    .any(|l| l.starts_with(&format!("{}=", known.name))
                        || l.starts_with(&format!("# {}=", known.name))),
                "{} is not in .env.example",
                known.name
            );
        }
    }
}
