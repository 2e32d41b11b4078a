//! Which customers a client serves: every customer (a first-party client, the self-care
//! app's own back end) or only those granted to it (a partner). A customer outside the
//! caller's scope is answered exactly as an unknown customer is, so that no answer tells a
//! partner that another business's customer exists.

use std::{fmt, str::FromStr};

use serde::Serialize;

/// A customer as the contract names it: `idType` and `id` (`ID_TYPE:CODE` on the command
/// line).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct CustomerName {
    pub id_type: String,
    pub code: i64,
}

impl FromStr for CustomerName {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let malformed = || format!("`{value}` is not ID_TYPE:CODE (for example CLIENT_CODE:1001)");
        let (id_type, code) = value.split_once(':').ok_or_else(malformed)?;
        let id_type_ok = id_type.len() <= 32
            && id_type.starts_with(|c: char| c.is_ascii_alphabetic())
            && id_type
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        let code = code.parse::<i64>().ok().filter(|code| *code >= 0);
        match code {
            Some(code) if id_type_ok => Ok(Self {
                id_type: id_type.to_owned(),
                code,
            }),
            _ => Err(malformed()),
        }
    }
}

impl fmt::Display for CustomerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.id_type, self.code)
    }
}

/// The customers a caller serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerScope {
    /// Every customer: a first-party client.
    Every,
    /// These customers only, sorted: a partner.
    Only(Vec<CustomerName>),
}

impl CustomerScope {
    /// The scope of a partner granted `customers`.
    pub fn only(mut customers: Vec<CustomerName>) -> Self {
        customers.sort();
        CustomerScope::Only(customers)
    }

    /// Whether the caller serves the customer named `id_type` and `code`.
    pub fn serves(&self, id_type: &str, code: i64) -> bool {
        match self {
            CustomerScope::Every => true,
            CustomerScope::Only(customers) => customers
                .binary_search_by(|customer| {
                    (customer.id_type.as_str(), customer.code).cmp(&(id_type, code))
                })
                .is_ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_customer_is_written_id_type_colon_code() {
        let name: CustomerName = "CLIENT_CODE:1001".parse().expect("parses");
        assert_eq!((name.id_type.as_str(), name.code), ("CLIENT_CODE", 1001));
        assert_eq!(name.to_string(), "CLIENT_CODE:1001");
        for refused in [
            "CLIENT_CODE",
            "CLIENT_CODE:-1",
            ":1",
            "1X:2",
            "CLIENT CODE:1",
        ] {
            assert!(refused.parse::<CustomerName>().is_err(), "{refused}");
        }
    }

    #[test]
    fn a_partner_serves_its_customers_alone() {
        let names = ["B:2", "A:1"].map(|n| n.parse().expect("name")).to_vec();
        let scope = CustomerScope::only(names);
        assert!(scope.serves("A", 1) && scope.serves("B", 2));
        assert!(!scope.serves("A", 2) && !scope.serves("C", 1));
        assert!(CustomerScope::Every.serves("C", 1));
    }
}
