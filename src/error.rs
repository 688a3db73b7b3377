//! One way to tell a person about a failure, for every layer: an error says what went wrong
//! (its `Display`), what to do next ([`Problem::next_step`]), and a stable key the window's
//! catalogue can translate ([`Problem::message_key`]). The command line and the window both
//! carry a failure as a [`Failure`], built from any [`Problem`] by `?`.

use std::fmt;

/// An error that can tell its cause and next step in Polish; the impls for every error type
/// are in the `polish` module, a layer above all of them.
pub trait InPolish {
    fn polish(&self) -> Polish;
}

/// An error a station operator (or a script) reads: the cause is its `Display`; the window
/// shows it in Polish through [`InPolish`], which every `Problem` must have.
pub trait Problem: std::error::Error + InPolish {
    /// What to do about it, as an instruction ("put the card back on the reader").
    fn next_step(&self) -> &'static str;

    /// `Type.Variant`, for example `TransportError.CardRemoved`: the same for every value of
    /// one variant whatever it carries, so a translation can be looked up by it. Only the
    /// variant's name is read from `Debug`, never the values it holds.
    fn message_key(&self) -> String {
        let type_name = std::any::type_name::<Self>();
        let type_name = type_name
            .split('<')
            .next()
            .unwrap_or(type_name)
            .rsplit("::")
            .next()
            .unwrap_or(type_name);
        let debug = format!("{self:?}");
        let variant: String = debug
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if variant.is_empty() || variant == type_name {
            type_name.to_owned()
        } else {
            format!("{type_name}.{variant}")
        }
    }
}

/// A failed operation as the command line prints it and the window shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub cause: String,
    pub next_step: String,
    /// The [`Problem::message_key`] of the error it came from; `Failure` for one made from
    /// text with [`Failure::new`].
    pub key: String,
    /// The same cause and next step in Polish, for the window; `None` only for a failure made
    /// from English text alone.
    /// (Boxed: most failures pass through `Result`s, which this keeps small.)
    pub polish: Option<Box<Polish>>,
}

/// A failure's cause and next step in Polish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Polish {
    pub cause: String,
    pub next_step: String,
}

impl Failure {
    /// A failure known only as text (a check made right here, not a lower layer's error).
    pub fn new(cause: impl Into<String>, next_step: impl Into<String>) -> Self {
        Self {
            cause: cause.into(),
            next_step: next_step.into(),
            key: "Failure".to_owned(),
            polish: None,
        }
    }

    /// The same failure with its Polish text, for a failure the window can show.
    pub fn with_polish(self, cause: impl Into<String>, next_step: impl Into<String>) -> Self {
        Self {
            polish: Some(Box::new(Polish {
                cause: cause.into(),
                next_step: next_step.into(),
            })),
            ..self
        }
    }

    /// The failure an error describes, for an error that is only borrowed.
    pub fn of<E: Problem + ?Sized>(err: &E) -> Self {
        Self {
            cause: err.to_string(),
            next_step: err.next_step().to_owned(),
            key: err.message_key(),
            polish: Some(Box::new(err.polish())),
        }
    }

    /// Prints the failure as every binary of the project does (`error:` and `next step:` on
    /// stderr) and gives the exit status for a failed operation, 1.
    pub fn report(&self) -> std::process::ExitCode {
        eprintln!("error: {}", self.cause);
        eprintln!("next step: {}", self.next_step);
        std::process::ExitCode::FAILURE
    }

    /// The one way a failure reads in a line: "what went wrong. what to do next".
    pub fn line(&self) -> String {
        format!("{}. {}", self.cause, self.next_step)
    }

    /// Cause and next step in Polish where the failure has them, in English otherwise.
    pub fn in_polish(&self) -> (&str, &str) {
        match &self.polish {
            Some(polish) => (&polish.cause, &polish.next_step),
            None => (&self.cause, &self.next_step),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.cause)
    }
}

// `Failure` itself is no `Problem`, so this does not overlap `From<T> for T`.
impl<E: Problem> From<E> for Failure {
    fn from(err: E) -> Self {
        Self::of(&err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum Sample {
        #[error("the card {0} was taken away")]
        Removed(String),
        #[error("no reader")]
        NoReader,
    }

    impl InPolish for Sample {
        fn polish(&self) -> Polish {
            match self {
                Sample::Removed(uid) => Polish {
                    cause: format!("kartę {uid} zabrano"),
                    next_step: "połóż ją z powrotem".into(),
                },
                Sample::NoReader => Polish {
                    cause: "brak czytnika".into(),
                    next_step: "podłącz czytnik".into(),
                },
            }
        }
    }

    impl Problem for Sample {
        fn next_step(&self) -> &'static str {
            match self {
                Sample::Removed(_) => "put it back",
                Sample::NoReader => "connect one",
            }
        }
    }

    #[test]
    fn a_failure_carries_cause_next_step_and_a_key_without_the_values() {
        let failure = Failure::from(Sample::Removed("secret-uid".into()));
        assert_eq!(failure.cause, "the card secret-uid was taken away");
        assert_eq!(failure.next_step, "put it back");
        assert_eq!(failure.key, "Sample.Removed");
        assert!(!failure.key.contains("secret"));
        assert_eq!(Failure::from(Sample::NoReader).key, "Sample.NoReader");
        assert_eq!(
            Failure::new("x", "y").line(),
            "x. y",
            "text-only failures read the same way"
        );
    }

    #[test]
    fn a_failure_carries_its_polish_beside_its_english() {
        let failure = Failure::from(Sample::NoReader);
        assert_eq!(failure.in_polish(), ("brak czytnika", "podłącz czytnik"));
        assert_eq!(
            (failure.cause.as_str(), failure.next_step.as_str()),
            ("no reader", "connect one")
        );
        let english_only = Failure::new("x", "y");
        assert_eq!(english_only.in_polish(), ("x", "y"));
        assert_eq!(
            english_only.with_polish("ix", "igrek").in_polish(),
            ("ix", "igrek")
        );
    }

    #[test]
    fn question_mark_turns_any_problem_into_a_failure() {
        fn run() -> Result<(), Failure> {
            Err(Sample::NoReader)?
        }
        assert_eq!(run().unwrap_err().line(), "no reader. connect one");
    }
}
