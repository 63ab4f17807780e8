//! `aiops`: the nightly batch job and the operator CLI, as a library so each command is
//! tested without spawning the binary. `main.rs` only parses the command line and maps
//! outcomes to exit codes.
//!
//! - [`rca`]: one RCA run in this process (`--request` or `--bundle`).
//! - [`runs`]: reading run records.
//! - [`eval`]: scoring the analysis on a folder of incident cases.
//! - [`policy`]: `aiops policy check`.
//! - [`redact`]: the shared redactor over a file or stdin.
//! - [`audit`]: the namespace-ownership audit (`aiops audit-namespaces`).
//! - [`rerun`]: the re-run of failed and preliminary RCAs (`aiops rerun-failed`).
//! - [`nightly`]: both, once or on a cron schedule, and the Lambda entry point.
//! - [`sync_groups`]: ZITADEL role assignments → Backstage users and groups in Git.

pub mod audit;
pub mod eval;
pub mod nightly;
pub mod policy;
pub mod rca;
pub mod redact;
pub mod rerun;
pub mod runs;
pub mod sync_groups;
