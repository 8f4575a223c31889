//! Second Brain's JSON Schemas, committed as files beside this crate and compiled in.
//!
//! Every schema is a draft 2020-12 document. [`validator`] compiles one, so tests (here and
//! in other crates) can check what the code emits against what is committed.

use std::fmt;

/// A committed schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    /// The body of `GET /health`.
    Health,
}

impl Schema {
    /// Every committed schema.
    pub const ALL: [Schema; 1] = [Schema::Health];

    /// The schema's file name under `schemas/`.
    pub fn file_name(self) -> &'static str {
        match self {
            Schema::Health => "health.schema.json",
        }
    }

    /// The schema's text.
    pub fn text(self) -> &'static str {
        match self {
            Schema::Health => include_str!("../health.schema.json"),
        }
    }

    /// The schema as JSON.
    pub fn json(self) -> serde_json::Value {
        // The text is committed and checked by this crate's tests, so it always parses.
        serde_json::from_str(self.text()).unwrap_or(serde_json::Value::Null)
    }
}

impl fmt::Display for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.file_name())
    }
}

/// Compiles a schema into a validator.
pub fn validator(schema: Schema) -> Result<jsonschema::Validator, String> {
    jsonschema::draft202012::new(&schema.json()).map_err(|e| format!("{schema}: {e}"))
}

/// Validates `instance` against `schema`, returning every violation as text.
pub fn validate(schema: Schema, instance: &serde_json::Value) -> Result<(), Vec<String>> {
    let validator = validator(schema).map_err(|e| vec![e])?;
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}
