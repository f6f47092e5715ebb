//! The fence around SQL that worker code supplies (D1 queries, `exec`,
//! `batch` and migrations; Durable Object `ctx.storage.sql`). A SQLite
//! authorizer applies the rules workerd applies to D1 and Durable Object
//! databases, so worker code cannot attach, vacuum into or otherwise reach
//! files on the host; a progress handler interrupts a statement at its
//! deadline, so a runaway query fails and frees its connection.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use rusqlite::config::DbConfig;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::limits::Limit;
use rusqlite::{Connection, ErrorCode};

/// Longest one worker SQL call may run: D1's per-query limit, which is also
/// the CPU time a Durable Object request gets.
pub const DEFAULT_TIME_LIMIT: Duration = Duration::from_secs(30);

/// SQLite VM steps between two deadline checks (a check is one clock read).
const STEPS_PER_CHECK: i32 = 1000;

/// Longest pause between two tries for a busy connection.
const MAX_LOCK_PAUSE: Duration = Duration::from_millis(2);

/// Settings for a database that runs worker SQL, whatever the authorizer
/// allows: defensive mode (no writes that could corrupt the file through
/// `writable_schema` or the schema tables) and no attached databases.
pub fn harden(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)?;
    conn.set_limit(Limit::SQLITE_LIMIT_ATTACHED, 0)?;
    Ok(())
}

std::thread_local! {
    /// When the event running on this thread runs out of wall-clock time.
    static REQUEST_DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// The wall-clock deadline of the event whose host calls run on this
/// thread; SQL started in them stops by then. Restores the outer event's
/// deadline when dropped (nested events run on the same thread).
pub struct RequestDeadline(Option<Instant>);

impl RequestDeadline {
    /// Host calls on this thread belong to an event ending at `deadline`
    /// (None: no deadline of its own).
    pub fn enter(deadline: Option<Instant>) -> RequestDeadline {
        RequestDeadline(REQUEST_DEADLINE.with(|d| d.replace(deadline)))
    }
}

impl Drop for RequestDeadline {
    fn drop(&mut self) {
        REQUEST_DEADLINE.with(|d| d.set(self.0));
    }
}

/// How long a query waits for a connection another query holds: until that
/// query should have been stopped (one `limit`), plus as much again for the
/// interruption to land on a busy machine, never past the request's deadline.
/// (Waiting only one `limit` made a query queued right behind a runaway one
/// fail as "overloaded" whenever the interruption came a little late.)
pub fn wait_deadline(limit: Duration) -> Instant {
    deadline(limit.saturating_mul(2))
}

/// When SQL starting now must stop: after `limit`, or earlier if the
/// request running it runs out of time first.
pub fn deadline(limit: Duration) -> Instant {
    let now = Instant::now();
    let own = now.checked_add(limit).unwrap_or(now + DEFAULT_TIME_LIMIT);
    match REQUEST_DEADLINE.with(Cell::get) {
        Some(request) => request.min(own),
        None => own,
    }
}

/// Lock `conn`, waiting no later than `deadline` (a connection is held at
/// most until its own statement's deadline, so this wait is bounded too).
pub fn lock_until<T>(conn: &Mutex<T>, deadline: Instant) -> Option<MutexGuard<'_, T>> {
    let mut pause = Duration::from_micros(50);
    loop {
        match conn.try_lock() {
            Ok(guard) => return Some(guard),
            Err(TryLockError::Poisoned(p)) => return Some(p.into_inner()),
            Err(TryLockError::WouldBlock) => {}
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        std::thread::sleep(pause.min(left));
        pause = (pause * 2).min(MAX_LOCK_PAUSE);
    }
}

/// Why a guarded statement failed.
#[derive(Debug)]
pub enum SqlFailure {
    /// The authorizer refused it; the message is workerd's, without the
    /// `: SQLITE_AUTH` suffix.
    Denied(String),
    /// It ran past its deadline and was interrupted.
    TimedOut,
    /// Any other SQLite error.
    Other(rusqlite::Error),
}

/// What the guard's hooks saw.
#[derive(Default)]
struct Seen {
    denial: Mutex<Option<String>>,
    timed_out: AtomicBool,
}

/// The authorizer and deadline installed on a connection while worker SQL
/// runs on it; removed on drop, so the tool's own SQL runs unrestricted.
pub struct SqlGuard<'c> {
    conn: &'c Connection,
    seen: Arc<Seen>,
}

impl<'c> SqlGuard<'c> {
    /// Guard `conn` until this value is dropped; statements stop at `deadline`.
    pub fn new(conn: &'c Connection, deadline: Instant) -> SqlGuard<'c> {
        let seen = Arc::new(Seen::default());
        let on_deny = seen.clone();
        conn.authorizer(Some(move |ctx: AuthContext<'_>| match authorize(&ctx) {
            Ok(()) => Authorization::Allow,
            Err(why) => {
                let mut first = on_deny.denial.lock().unwrap_or_else(|e| e.into_inner());
                first.get_or_insert(why);
                Authorization::Deny
            }
        }));
        let on_tick = seen.clone();
        conn.progress_handler(
            STEPS_PER_CHECK,
            Some(move || {
                let late = Instant::now() >= deadline;
                if late {
                    on_tick.timed_out.store(true, Ordering::Relaxed);
                }
                late
            }),
        );
        SqlGuard { conn, seen }
    }

    /// Sort a statement's error into refused, timed out or other. A refusal
    /// fails the statement, whatever code SQLite reports it with (a refused
    /// function is a plain `SQLITE_ERROR`).
    pub fn failure(&self, e: rusqlite::Error) -> SqlFailure {
        let code = e.sqlite_error_code();
        if code == Some(ErrorCode::OperationInterrupted)
            && self.seen.timed_out.load(Ordering::Relaxed)
        {
            return SqlFailure::TimedOut;
        }
        let denial = self
            .seen
            .denial
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        match denial {
            Some(why) => SqlFailure::Denied(why),
            None if code == Some(ErrorCode::AuthorizationForStatementDenied) => {
                SqlFailure::Denied(NOT_AUTHORIZED.to_string())
            }
            None => SqlFailure::Other(e),
        }
    }
}

impl Drop for SqlGuard<'_> {
    fn drop(&mut self) {
        self.conn
            .authorizer(None::<fn(AuthContext<'_>) -> Authorization>);
        self.conn.progress_handler(0, None::<fn() -> bool>);
    }
}

/// workerd's message for a refused statement.
const NOT_AUTHORIZED: &str = "not authorized";

/// Pragmas worker SQL may run, with the argument each takes (workerd's list).
const PRAGMAS: &[(&str, PragmaArg)] = &[
    ("data_version", PragmaArg::None),
    ("case_sensitive_like", PragmaArg::Boolean),
    ("foreign_keys", PragmaArg::Boolean),
    ("defer_foreign_keys", PragmaArg::Boolean),
    ("ignore_check_constraints", PragmaArg::Boolean),
    ("legacy_alter_table", PragmaArg::Boolean),
    ("recursive_triggers", PragmaArg::Boolean),
    ("reverse_unordered_selects", PragmaArg::Boolean),
    ("foreign_key_check", PragmaArg::OptionalName),
    ("foreign_key_list", PragmaArg::Name),
    ("index_info", PragmaArg::Name),
    ("index_list", PragmaArg::Name),
    ("index_xinfo", PragmaArg::Name),
    ("table_info", PragmaArg::Name),
    ("table_xinfo", PragmaArg::Name),
    ("table_list", PragmaArg::Any),
    ("quick_check", PragmaArg::OptionalNumberOrName),
    ("optimize", PragmaArg::OptionalNumber),
];

/// The argument an allowed pragma takes.
#[derive(Clone, Copy)]
enum PragmaArg {
    None,
    Any,
    Boolean,
    Name,
    OptionalName,
    OptionalNumber,
    OptionalNumberOrName,
}

/// Functions worker SQL may not call: loading native code, and the FTS3
/// tokenizer hook that takes a raw pointer.
const FUNCTIONS_DENIED: &[&str] = &["load_extension", "fts3_tokenizer"];

/// Virtual table modules worker SQL may create (D1 supports full-text search only).
const VTABLE_MODULES: &[&str] = &["fts5", "fts5vocab"];

/// Allow an action, or say why not (workerd's message).
fn authorize(ctx: &AuthContext<'_>) -> Result<(), String> {
    let deny = || Err(NOT_AUTHORIZED.to_string());
    match ctx.database_name {
        None | Some("main") => {}
        // The temp schema lives in a separate file; workerd lets statements
        // only read and update what SQLite keeps there itself.
        Some("temp") => {
            if !matches!(
                ctx.action,
                AuthAction::Read { .. } | AuthAction::Update { .. }
            ) {
                return deny();
            }
        }
        Some(_) => return deny(),
    }
    match ctx.action {
        AuthAction::Select | AuthAction::Recursive | AuthAction::Analyze { .. } => Ok(()),
        AuthAction::Transaction { .. } => Ok(()),
        AuthAction::Savepoint { savepoint_name, .. } => name(savepoint_name),
        AuthAction::Read {
            table_name,
            column_name,
        }
        | AuthAction::Update {
            table_name,
            column_name,
        } => {
            if protected(table_name) {
                Err(format!(
                    "access to {table_name}.{column_name} is prohibited"
                ))
            } else {
                Ok(())
            }
        }
        AuthAction::CreateTable { table_name }
        | AuthAction::DropTable { table_name }
        | AuthAction::Insert { table_name }
        | AuthAction::Delete { table_name }
        | AuthAction::AlterTable { table_name, .. } => name(table_name),
        AuthAction::CreateView { view_name } | AuthAction::DropView { view_name } => {
            name(view_name)
        }
        AuthAction::Reindex { index_name } => name(index_name),
        AuthAction::CreateIndex {
            index_name: first,
            table_name: second,
        }
        | AuthAction::DropIndex {
            index_name: first,
            table_name: second,
        }
        | AuthAction::CreateTrigger {
            trigger_name: first,
            table_name: second,
        }
        | AuthAction::DropTrigger {
            trigger_name: first,
            table_name: second,
        } => name(first).and(name(second)),
        AuthAction::CreateVtable {
            table_name,
            module_name,
        }
        | AuthAction::DropVtable {
            table_name,
            module_name,
        } => {
            if VTABLE_MODULES
                .iter()
                .any(|m| m.eq_ignore_ascii_case(module_name))
            {
                name(table_name)
            } else {
                deny()
            }
        }
        AuthAction::Function { function_name } => {
            if FUNCTIONS_DENIED
                .iter()
                .any(|f| f.eq_ignore_ascii_case(function_name))
            {
                deny()
            } else {
                Ok(())
            }
        }
        AuthAction::Pragma {
            pragma_name,
            pragma_value,
        } => pragma(pragma_name, pragma_value),
        // ATTACH and DETACH (also how VACUUM and VACUUM INTO open their
        // target), temp tables, views and triggers, and whatever SQLite adds later.
        _ => deny(),
    }
}

/// Names of the runtime's own tables (`_cf_KV`, `_cf_METADATA`, …).
fn protected(name: &str) -> bool {
    name.get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("_cf_"))
}

fn name(name: &str) -> Result<(), String> {
    if protected(name) {
        Err(format!("access to {name} is prohibited"))
    } else {
        Ok(())
    }
}

fn pragma(pragma: &str, value: Option<&str>) -> Result<(), String> {
    let Some(&(_, arg)) = PRAGMAS.iter().find(|(p, _)| p.eq_ignore_ascii_case(pragma)) else {
        return Err(NOT_AUTHORIZED.to_string());
    };
    let number = |v: &str| v.trim().parse::<i64>().is_ok();
    let allowed = match (arg, value) {
        (PragmaArg::Any, _) => true,
        (PragmaArg::None, v) => v.is_none(),
        (PragmaArg::Boolean, None) => true,
        (PragmaArg::Boolean, Some(v)) => boolean(v),
        (PragmaArg::Name, None) => false,
        (PragmaArg::Name | PragmaArg::OptionalName, Some(v)) => return name(v),
        (PragmaArg::OptionalName | PragmaArg::OptionalNumber, None) => true,
        (PragmaArg::OptionalNumber, Some(v)) => number(v),
        (PragmaArg::OptionalNumberOrName, None) => true,
        (PragmaArg::OptionalNumberOrName, Some(v)) => {
            return if number(v) { Ok(()) } else { name(v) };
        }
    };
    if allowed {
        Ok(())
    } else {
        Err(NOT_AUTHORIZED.to_string())
    }
}

/// Every way SQLite spells a boolean pragma value.
fn boolean(v: &str) -> bool {
    let v = v.trim();
    let v = v
        .strip_prefix(['\'', '"'])
        .and_then(|s| s.strip_suffix(['\'', '"']))
        .unwrap_or(v);
    ["true", "false", "yes", "no", "on", "off", "1", "0"]
        .iter()
        .any(|b| b.eq_ignore_ascii_case(v))
}
