//! The building blocks of scenario steps, each compiled once and used per request:
//! [`template`] (request text with `{{ expr }}` placeholders), [`feeder`] (rows of CSV
//! data), [`extract`] (values taken from responses) and [`check`] (assertions on
//! responses). Pure: no sockets, no runtime; scenario files (`stampede-plan`) put them
//! together.
//!
//! ```
//! use std::time::Duration;
//! use stampede_script::{Check, Extractor, ResponseView, StatusMatch};
//!
//! let response = ResponseView::new(200, &[], br#"{"token":"abc"}"#);
//! let token = Extractor::json_path("$.token").unwrap();
//! assert_eq!(token.apply(&response).as_deref(), Some("abc"));
//! let ok = Check::Status(StatusMatch::code(200));
//! assert!(ok.evaluate(&response, Duration::from_millis(3)).is_ok());
//! ```
#![deny(missing_docs)]

pub mod check;
pub mod extract;
pub mod feeder;
pub mod template;

pub use check::{Check, StatusMatch};
pub use extract::{Extractor, ResponseView};
pub use feeder::{Feeder, FeederError, FeederMode};
pub use template::{RenderContext, Template, TemplateError, VarId, VarTable};
