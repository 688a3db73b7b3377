//! One way to tell a person about a failure, for every layer: an error says what went wrong
//! (its `Display`), what to do next ([`Problem::next_step`]), and a stable key the window's
//! catalogue can translate ([`Problem::message_key`]). The command line and the window both
//! carry a failure as a [`Failure`], built from any [`Problem`] by `?`.

use std::fmt;

/// An error a station operator (or a script) reads: the cause is its `Display`.
pub trait Problem: std::error::Error {
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
}

impl Failure {
    /// A failure known only as text (a check made right here, not a lower layer's error).
    pub fn new(cause: impl Into<String>, next_step: impl Into<String>) -> Self {
        Self {
            cause: cause.into(),
            next_step: next_step.into(),
            key: "Failure".to_owned(),
        }
    }

    /// The failure an error describes, for an error that is only borrowed.
    pub fn of<E: Problem + ?Sized>(err: &E) -> Self {
        Self {
            cause: err.to_string(),
            next_step: err.next_step().to_owned(),
            key: err.message_key(),
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
    fn question_mark_turns_any_problem_into_a_failure() {
        fn run() -> Result<(), Failure> {
            Err(Sample::NoReader)?
        }
        assert_eq!(run().unwrap_err().line(), "no reader. connect one");
    }
}
