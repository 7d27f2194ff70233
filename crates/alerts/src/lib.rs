//! Alerts, as pure logic: a job (or a group, or the whole server) notifies its channels on a
//! failure, a run longer than expected, a missed schedule or a recovery.
//!
//! - [`rules`]: [`Event`], [`Scope`], [`Rule`] and [`Rules`]: which channels an event of a
//!   job goes to, and how long a job's run may take before it is "long".
//! - [`message`]: [`Alert`] (what happened, to which job and run) and what each channel sends:
//!   the webhook's JSON body, the e-mail's subject and text.
//! - [`sign`]: the webhook's `Consort-Signature` (HMAC-SHA256 over `timestamp.body`) and its
//!   check, for receivers and tests.
//! - [`retry`]: [`Backoff`], when a failed delivery is tried again.
//!
//! No I/O and no clock: times are arguments. Delivery (HTTP, SMTP) and the scheduler's
//! observer live in `consort-runtime`'s `alerts` module.

pub mod message;
pub mod retry;
pub mod rules;
pub mod sign;

pub use message::{Alert, EmailText};
pub use retry::Backoff;
pub use rules::{Event, Rule, RuleError, Rules, Scope};
