//! Id newtypes. Runner and org ids appear in NATS subjects, so they are restricted to
//! characters that are safe in a subject token: lowercase ASCII letters, digits and '-'.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdError {
    pub what: &'static str,
    pub value: String,
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {} {:?}: use 1-64 lowercase letters, digits or '-'", self.what, self.value)
    }
}
impl std::error::Error for IdError {}

fn valid_token(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

macro_rules! id_type {
    ($name:ident, $what:literal) => {
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: impl Into<String>) -> Result<Self, IdError> {
                let s = s.into();
                if valid_token(&s) { Ok(Self(s)) } else { Err(IdError { what: $what, value: s }) }
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }
        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(RunnerId, "runner id");
id_type!(OrgId, "org id");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_safe() {
        assert!(RunnerId::parse("r-0a1b").is_ok());
        for bad in ["", "a.b", "a*", "A", "a>b", "a b", &"x".repeat(65)] {
            assert!(RunnerId::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Anything at all: no panic; what is accepted is a safe NATS subject token, and a
        /// refusal names the value.
        #[test]
        fn runner_ids_are_subject_tokens_or_named_refusals(s in ".{0,80}") {
            match RunnerId::parse(s.clone()) {
                Ok(id) => prop_assert!(!id.as_str().is_empty() && !id.as_str().contains(['.', '*', '>', ' '])),
                Err(e) => {
                    let (msg, named) = (e.to_string(), format!("{s:?}"));
                    prop_assert!(msg.contains(&named), "{}", msg);
                }
            }
        }
    }
}
