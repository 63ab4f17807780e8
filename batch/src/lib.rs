//! `aiops`: the nightly batch job and the operator CLI, as a library so each command is
//! tested without spawning the binary. `main.rs` only parses the command line and maps
//! outcomes to exit codes.
//!
//! - [`rca`]: one RCA run in this process (`--request` or `--bundle`).
//! - [`runs`]: reading run records.
//! - [`eval`]: scoring the analysis on a folder of incident cases.
//! - [`policy`]: `aiops policy check`.
//! - [`redact`]: the shared redactor over a file or stdin.
//! - [`sync_groups`]: ZITADEL role assignments → Backstage users and groups in Git.

pub mod eval;
pub mod policy;
pub mod rca;
pub mod redact;
pub mod runs;
pub mod sync_groups;
