//! Who may do what at this station. Every workflow that changes a card or the register asks
//! [`Session::require`] first, so a hidden button is never the only guard: a kiosk cannot
//! issue, a printer cannot block cards, whatever calls the workflow.

use crate::config::Role;
use crate::error::Problem;
use crate::store::{Operator, OperatorRole};

/// Something a workflow is about to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    IssueCard,
    ProlongCard,
    BlockCard,
    UnblockCard,
    /// Create and edit persons and their cardholder records.
    EditPeople,
    PrintCards,
    ManageOperators,
    ManageTrust,
    /// Tell a cardholder something through the university's system (USOS "card ready").
    NotifyHolder,
}

impl Action {
    fn describe(self) -> &'static str {
        match self {
            Action::IssueCard => "issue cards",
            Action::ProlongCard => "prolong cards",
            Action::BlockCard => "block cards",
            Action::UnblockCard => "unblock cards",
            Action::EditPeople => "edit people",
            Action::PrintCards => "print cards",
            Action::ManageOperators => "manage operators",
            Action::ManageTrust => "manage trusted issuers",
            Action::NotifyHolder => "send notices to cardholders",
        }
    }
}

/// A signed-in operator at a station of some role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub operator: String,
    pub role: OperatorRole,
    pub station: Role,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("a {station} cannot {}", action.describe())]
    Station { station: Role, action: Action },
    #[error("{operator} signed in as {} may not {}", role.as_str(), action.describe())]
    Operator {
        operator: String,
        role: OperatorRole,
        action: Action,
    },
}

impl Problem for Denied {
    fn next_step(&self) -> &'static str {
        match self {
            Denied::Station { .. } => "do this at a station with the right profile",
            Denied::Operator { .. } => "ask an operator with the right role, or an administrator",
        }
    }
}

impl Session {
    pub fn signed_in(operator: Operator, station: Role) -> Self {
        Self {
            operator: operator.name,
            role: operator.role,
            station,
        }
    }

    pub fn require(&self, action: Action) -> Result<(), Denied> {
        if !station_allows(self.station, action) {
            return Err(Denied::Station {
                station: self.station,
                action,
            });
        }
        if !role_allows(self.role, action) {
            return Err(Denied::Operator {
                operator: self.operator.clone(),
                role: self.role,
                action,
            });
        }
        Ok(())
    }

    pub fn may(&self, action: Action) -> bool {
        self.require(action).is_ok()
    }
}

/// What a station of each role is for. A kiosk only validates, which needs no session.
fn station_allows(station: Role, action: Action) -> bool {
    match station {
        Role::Kiosk => false,
        // Desks often have a printer beside them.
        Role::Issuance => true,
        Role::Print => matches!(
            action,
            Action::PrintCards | Action::ManageOperators | Action::ManageTrust
        ),
    }
}

fn role_allows(role: OperatorRole, action: Action) -> bool {
    match role {
        OperatorRole::Admin => true,
        OperatorRole::Operator => matches!(
            action,
            Action::IssueCard
                | Action::ProlongCard
                | Action::BlockCard
                | Action::UnblockCard
                | Action::EditPeople
                | Action::NotifyHolder
        ),
        OperatorRole::Printer => action == Action::PrintCards,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(role: OperatorRole, station: Role) -> Session {
        Session {
            operator: "anna".to_owned(),
            role,
            station,
        }
    }

    #[test]
    fn a_kiosk_cannot_issue_even_for_an_administrator() {
        let kiosk = session(OperatorRole::Admin, Role::Kiosk);
        assert_eq!(
            kiosk.require(Action::IssueCard),
            Err(Denied::Station {
                station: Role::Kiosk,
                action: Action::IssueCard
            })
        );
        assert_eq!(
            kiosk.require(Action::IssueCard).unwrap_err().to_string(),
            "a validation kiosk cannot issue cards"
        );
    }

    #[test]
    fn a_printer_cannot_block_cards_but_can_print() {
        let printer = session(OperatorRole::Printer, Role::Issuance);
        let denied = printer.require(Action::BlockCard).unwrap_err();
        assert_eq!(
            denied.to_string(),
            "anna signed in as printer may not block cards"
        );
        assert!(printer.may(Action::PrintCards));
    }

    #[test]
    fn desk_operators_issue_and_block_but_do_not_manage_operators() {
        let operator = session(OperatorRole::Operator, Role::Issuance);
        for action in [
            Action::IssueCard,
            Action::ProlongCard,
            Action::BlockCard,
            Action::UnblockCard,
            Action::NotifyHolder,
        ] {
            assert!(operator.may(action), "{action:?}");
        }
        assert!(!operator.may(Action::ManageOperators));
        assert!(!operator.may(Action::PrintCards));
    }

    #[test]
    fn a_print_station_prints_but_does_not_issue_at_the_desk() {
        let admin = session(OperatorRole::Admin, Role::Print);
        assert!(admin.may(Action::PrintCards));
        assert!(!admin.may(Action::IssueCard));
        assert!(!admin.may(Action::BlockCard));
        assert!(!admin.may(Action::NotifyHolder));
    }

    #[test]
    fn a_printer_at_the_desk_sends_no_notices() {
        let printer = session(OperatorRole::Printer, Role::Issuance);
        assert_eq!(
            printer
                .require(Action::NotifyHolder)
                .unwrap_err()
                .to_string(),
            "anna signed in as printer may not send notices to cardholders"
        );
    }
}
