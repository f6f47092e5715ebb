//! The assets upload queue, with wrangler's behaviour on errors (`syncAssets`
//! in workers-sdk `packages/deploy-helpers/src/deploy/helpers/assets.ts`):
//! a few requests in flight, each bucket retried up to 5 times with
//! exponential backoff, and one bucket at a time once the API answers with a
//! gateway timeout (HTTP 524, `APIError.isGatewayError`).

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::api::ApiError;
use crate::assets::manifest::ManifestEntry;
use crate::diagnostics::UserError;
use crate::printer;

/// Retries per bucket after its first try (wrangler's `MAX_UPLOAD_ATTEMPTS`).
pub const MAX_RETRIES: u32 = 5;
/// Gateway errors a bucket may meet before they count as failed attempts
/// too (wrangler's `MAX_UPLOAD_GATEWAY_ERRORS`).
const FREE_GATEWAY_ERRORS: u32 = 5;
/// The status wrangler treats as a gateway error: Cloudflare's "A timeout
/// occurred" (502 and 504 are retried like any other failure).
pub const GATEWAY_TIMEOUT: u16 = 524;
/// wrangler's first wait before a retry; each retry doubles it.
pub const DEFAULT_BACKOFF: Duration = Duration::from_secs(1);
/// A gateway error adds this many times the backoff, doubling with each one
/// (wrangler: `2^n · 5 s`).
const GATEWAY_FACTOR: u32 = 5;

/// How the queue runs.
#[derive(Debug, Clone, Copy)]
pub struct QueueOptions {
    /// Requests in flight at once until a gateway error.
    pub concurrency: usize,
    /// The first wait before a retry ([`DEFAULT_BACKOFF`]; tests shorten it).
    pub backoff: Duration,
    /// One file per request: jobs are named by their file, not as buckets.
    pub single: bool,
    /// The upload JWT's `exp` (seconds since the epoch), if it has one.
    pub expires: Option<u64>,
}

/// Where one bucket stands in wrangler's retry loop.
#[derive(Debug, Default, Clone, Copy)]
struct Retries {
    /// Failed attempts counted against [`MAX_RETRIES`].
    attempts: u32,
    /// Gateway errors met so far.
    gateway: u32,
}

impl Retries {
    /// Record a failure. Returns the wait before the next try and the number
    /// wrangler shows (`Retrying... N of 5 attempts`), or `None` when the
    /// bucket has used its retries.
    fn after_failure(&mut self, gateway: bool, backoff: Duration) -> Option<(Duration, u32)> {
        if self.attempts >= MAX_RETRIES {
            return None;
        }
        let shown = self.attempts + 1;
        let mut wait = backoff * 2u32.pow(self.attempts);
        if gateway {
            wait += backoff * GATEWAY_FACTOR * 2u32.pow(self.gateway);
            self.gateway += 1;
            if self.gateway >= FREE_GATEWAY_ERRORS {
                self.attempts += 1;
            }
        } else {
            self.attempts += 1;
        }
        Some((wait, shown))
    }
}

/// What the workers share.
struct Shared {
    /// Next job to start.
    next: usize,
    /// Jobs started and not finished (retries included).
    running: usize,
    /// Most jobs running at once; 1 after a gateway error.
    limit: usize,
    /// Files uploaded so far.
    uploaded: usize,
    /// The last completion token an answer carried.
    completion: Option<String>,
    /// The first job that failed for good: the queue stops.
    error: Option<anyhow::Error>,
}

/// The queue of jobs (buckets, or single files) and its state.
pub struct Queue<'j, 'a> {
    jobs: &'j [Vec<&'a ManifestEntry>],
    opts: QueueOptions,
    /// Files in all jobs, for the progress line.
    wanted: usize,
    shared: Mutex<Shared>,
    /// Signalled when a job ends, the queue fails, or the limit changes.
    changed: Condvar,
}

impl<'j, 'a> Queue<'j, 'a> {
    pub fn new(jobs: &'j [Vec<&'a ManifestEntry>], opts: QueueOptions) -> Self {
        Queue {
            jobs,
            opts,
            wanted: jobs.iter().map(Vec::len).sum(),
            shared: Mutex::new(Shared {
                next: 0,
                running: 0,
                limit: opts.concurrency.max(1),
                uploaded: 0,
                completion: None,
                error: None,
            }),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Send every job through `send`; returns the last completion token an
    /// answer carried. The first job to fail for good stops the queue: no
    /// job starts and no retry is made after it, and its error is returned
    /// once the requests in flight end.
    pub fn run<F>(self, send: F) -> anyhow::Result<Option<String>>
    where
        F: Fn(&[&'a ManifestEntry]) -> anyhow::Result<Value> + Sync,
    {
        let workers = self.opts.concurrency.clamp(1, self.jobs.len().max(1));
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| self.work(&send));
            }
        });
        let shared = self.shared.into_inner().unwrap_or_else(|e| e.into_inner());
        match shared.error {
            Some(e) => Err(e),
            None => Ok(shared.completion),
        }
    }

    /// One worker: take the next job while the limit allows, until none is left.
    fn work<F>(&self, send: &F)
    where
        F: Fn(&[&'a ManifestEntry]) -> anyhow::Result<Value>,
    {
        loop {
            let i = {
                let mut s = self.lock();
                loop {
                    if s.error.is_some() || s.next >= self.jobs.len() {
                        return;
                    }
                    if s.running < s.limit {
                        break;
                    }
                    s = self.changed.wait(s).unwrap_or_else(|e| e.into_inner());
                }
                s.running += 1;
                s.next += 1;
                s.next - 1
            };
            let result = self.run_job(i, send);
            let mut s = self.lock();
            s.running -= 1;
            match result {
                Ok(v) => {
                    s.uploaded += self.jobs[i].len();
                    printer::verbose(format!("Uploaded {} of {} assets", s.uploaded, self.wanted));
                    if let Some(jwt) = v.get("jwt").and_then(Value::as_str) {
                        s.completion = Some(jwt.to_string());
                    }
                }
                Err(e) => {
                    if s.error.is_none() {
                        s.error = Some(e);
                    }
                }
            }
            self.changed.notify_all();
        }
    }

    /// Send job `i`, retrying API failures on wrangler's schedule.
    fn run_job<F>(&self, i: usize, send: &F) -> anyhow::Result<Value>
    where
        F: Fn(&[&'a ManifestEntry]) -> anyhow::Result<Value>,
    {
        let job = &self.jobs[i];
        let mut retries = Retries::default();
        let mut requests = 0;
        loop {
            requests += 1;
            let mut err = match send(job) {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            // Only the API's answers (or their absence) are worth another
            // try; a file that cannot be read fails at once.
            let Some(status) = err.downcast_ref::<ApiError>().map(|a| a.status) else {
                return Err(err.context(self.describe(i)));
            };
            if self.lock().error.is_some() {
                return Err(err);
            }
            let gateway = status == Some(GATEWAY_TIMEOUT);
            let Some((wait, shown)) = retries.after_failure(gateway, self.opts.backoff) else {
                if let Some(api) = err.downcast_mut::<ApiError>() {
                    api.attempts = requests;
                }
                let err = err.context(self.describe(i));
                if self.expired() {
                    return Err(err.context(UserError::new(format!(
                        "Upload took too long.\nAsset upload took too long on bucket {}/{}. Please try again.\nAssets already uploaded have been saved, so the next attempt will automatically resume from this point.",
                        i + 1,
                        self.jobs.len()
                    ))));
                }
                return Err(err);
            };
            if gateway {
                let mut s = self.lock();
                if s.limit > 1 {
                    s.limit = 1;
                    printer::warn(
                        "The Cloudflare API timed out (HTTP 524): uploading the remaining assets one request at a time.",
                    );
                }
            }
            let what = match status {
                Some(code) => format!("HTTP {code}"),
                None => "no response".to_string(),
            };
            printer::warn(format!(
                "Asset upload failed: {}, {what}. Retrying in {}... {shown} of {MAX_RETRIES} attempts.",
                self.describe(i),
                human_wait(wait)
            ));
            printer::verbose(format!("{err:#}"));
            // Sleep, but wake at once if another job fails for good.
            let s = self.lock();
            let (s, _) = self
                .changed
                .wait_timeout_while(s, wait, |s| s.error.is_none())
                .unwrap_or_else(|e| e.into_inner());
            if s.error.is_some() {
                return Err(err);
            }
        }
    }

    /// `bucket 3 of 6 (2 assets: /a.txt, ...)`, or `asset /a.txt`.
    fn describe(&self, i: usize) -> String {
        let job = &self.jobs[i];
        let first = job.first().map_or("", |e| e.key.as_str());
        if self.opts.single {
            return format!("asset {first}");
        }
        let n = self.jobs.len();
        match job.len() {
            1 => format!("bucket {} of {n} (1 asset: {first})", i + 1),
            len => format!("bucket {} of {n} ({len} assets: {first}, ...)", i + 1),
        }
    }

    /// Whether the upload JWT's `exp` has passed (wrangler's `isJwtExpired`).
    fn expired(&self) -> bool {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.opts.expires.is_some_and(|exp| exp <= now)
    }
}

/// `1 s`, `2.5 s`, `0.01 s`.
fn human_wait(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs >= 1.0 && d.subsec_millis() == 0 {
        format!("{secs:.0} s")
    } else {
        format!("{} s", (secs * 1000.0).round() / 1000.0)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use serde_json::json;

    use super::*;

    fn entries(n: usize) -> Vec<ManifestEntry> {
        (0..n)
            .map(|i| ManifestEntry {
                key: format!("/f{i}"),
                hash: format!("{i:032x}"),
                size: 1,
                file: std::path::PathBuf::from(format!("f{i}")),
            })
            .collect()
    }

    fn opts(concurrency: usize) -> QueueOptions {
        QueueOptions {
            concurrency,
            backoff: Duration::ZERO,
            single: false,
            expires: None,
        }
    }

    fn api_error(status: u16) -> anyhow::Error {
        ApiError {
            method: "POST".into(),
            path: "/accounts/a/workers/assets/upload".into(),
            status: Some(status),
            errors: vec![],
            detail: None,
            attempts: 1,
            timed_out: false,
        }
        .into()
    }

    /// wrangler waits 1, 2, 4, 8 and 16 s, then gives up; a gateway error
    /// adds 5 s · 2^n and counts as an attempt only from the fifth on.
    #[test]
    fn the_backoff_schedule_is_wranglers() {
        let s = Duration::from_secs(1);
        let mut r = Retries::default();
        let waits: Vec<Option<(Duration, u32)>> =
            (0..6).map(|_| r.after_failure(false, s)).collect();
        let secs = |v: &[Option<(Duration, u32)>]| -> Vec<Option<(u64, u32)>> {
            v.iter().map(|w| w.map(|(d, n)| (d.as_secs(), n))).collect()
        };
        assert_eq!(
            secs(&waits),
            [
                Some((1, 1)),
                Some((2, 2)),
                Some((4, 3)),
                Some((8, 4)),
                Some((16, 5)),
                None
            ]
        );
        let mut r = Retries::default();
        let waits: Vec<Option<(Duration, u32)>> =
            (0..10).map(|_| r.after_failure(true, s)).collect();
        assert_eq!(
            secs(&waits),
            [
                Some((1 + 5, 1)),
                Some((1 + 10, 1)),
                Some((1 + 20, 1)),
                Some((1 + 40, 1)),
                Some((1 + 80, 1)),
                Some((2 + 160, 2)),
                Some((4 + 320, 3)),
                Some((8 + 640, 4)),
                Some((16 + 1280, 5)),
                None
            ]
        );
    }

    #[test]
    fn uploads_run_concurrently_and_keep_the_completion_token() {
        let files = entries(9);
        let jobs: Vec<Vec<&ManifestEntry>> = files.chunks(2).map(|c| c.iter().collect()).collect();
        let (now, most, sent) = (
            AtomicUsize::new(0),
            AtomicUsize::new(0),
            AtomicUsize::new(0),
        );
        let barrier = std::sync::Barrier::new(3);
        let token = Queue::new(&jobs, opts(3))
            .run(|job| {
                let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(n, Ordering::SeqCst);
                // The first three requests meet: all three are in flight at once.
                if sent.fetch_add(1, Ordering::SeqCst) < 3 {
                    barrier.wait();
                }
                now.fetch_sub(1, Ordering::SeqCst);
                Ok(if job.iter().any(|e| e.key == "/f8") {
                    json!({"jwt": "done"})
                } else {
                    json!({})
                })
            })
            .unwrap();
        assert_eq!(token.as_deref(), Some("done"));
        assert_eq!(most.load(Ordering::SeqCst), 3);
        assert_eq!(sent.load(Ordering::SeqCst), 5);
    }

    /// Five failures of one bucket are retried; the sixth request succeeds.
    #[test]
    fn a_bucket_is_retried_five_times() {
        let files = entries(2);
        let jobs: Vec<Vec<&ManifestEntry>> = vec![files.iter().collect()];
        let sent = AtomicUsize::new(0);
        let token = Queue::new(&jobs, opts(3))
            .run(|_| {
                if sent.fetch_add(1, Ordering::SeqCst) < 5 {
                    return Err(api_error(400));
                }
                Ok(json!({"jwt": "done"}))
            })
            .unwrap();
        assert_eq!(token.as_deref(), Some("done"));
        assert_eq!(sent.load(Ordering::SeqCst), 6);
    }

    #[test]
    fn a_bucket_that_keeps_failing_stops_the_rest_and_is_named() {
        let files = entries(10);
        let jobs: Vec<Vec<&ManifestEntry>> = files.chunks(2).map(|c| c.iter().collect()).collect();
        let sent = AtomicUsize::new(0);
        let err = Queue::new(&jobs, opts(1))
            .run(|job| {
                sent.fetch_add(1, Ordering::SeqCst);
                if job[0].key == "/f4" {
                    return Err(api_error(500));
                }
                Ok(json!({}))
            })
            .unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "bucket 3 of 5 (2 assets: /f4, ...): Cloudflare API request POST /accounts/a/workers/assets/upload failed (HTTP 500 after 6 attempts)"
        );
        assert_eq!(sent.load(Ordering::SeqCst), 2 + 6, "nothing sent after");
    }

    /// A file that cannot be read is not the API's fault: no retry.
    #[test]
    fn a_local_error_is_not_retried() {
        let files = entries(1);
        let jobs: Vec<Vec<&ManifestEntry>> = vec![files.iter().collect()];
        let sent = AtomicUsize::new(0);
        let mut o = opts(3);
        o.single = true;
        let err = Queue::new(&jobs, o)
            .run(|_| {
                sent.fetch_add(1, Ordering::SeqCst);
                anyhow::bail!("cannot read f0")
            })
            .unwrap_err();
        assert_eq!(format!("{err:#}"), "asset /f0: cannot read f0");
        assert_eq!(sent.load(Ordering::SeqCst), 1);
    }

    /// After the retries, an expired upload JWT gets wrangler's "took too long".
    #[test]
    fn an_expired_session_says_the_upload_took_too_long() {
        let files = entries(4);
        let jobs: Vec<Vec<&ManifestEntry>> = files.chunks(2).map(|c| c.iter().collect()).collect();
        let mut o = opts(1);
        o.expires = Some(1);
        let err = Queue::new(&jobs, o)
            .run(|job| {
                if job[0].key == "/f2" {
                    return Err(api_error(401));
                }
                Ok(json!({}))
            })
            .unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.starts_with("Upload took too long.\nAsset upload took too long on bucket 2/2."),
            "{text}"
        );
        assert!(text.contains("(HTTP 401 after 6 attempts)"), "{text}");
    }

    /// Once a request meets a gateway error, no new bucket starts while
    /// another is in flight: the three first requests run together, the
    /// failed one is retried while the other two are still open, and every
    /// later request finds itself alone.
    #[test]
    fn a_gateway_error_leaves_one_request_in_flight() {
        let files = entries(16);
        let jobs: Vec<Vec<&ManifestEntry>> = files.chunks(2).map(|c| c.iter().collect()).collect();
        let now = AtomicUsize::new(0);
        // (in flight when each request started, in order)
        let seen = Mutex::new(Vec::new());
        let gate = Condvar::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let token = Queue::new(&jobs, opts(3))
            .run(|job| {
                let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                let order = {
                    let mut s = seen.lock().unwrap();
                    s.push(n);
                    gate.notify_all();
                    s.len()
                };
                // The first three wait for each other; the first then fails
                // with 524, the other two wait for its retry (the fourth).
                let wait_for = match order {
                    1 => 3,
                    2 | 3 => 4,
                    _ => 0,
                };
                let mut s = seen.lock().unwrap();
                while s.len() < wait_for && std::time::Instant::now() < deadline {
                    s = gate.wait_timeout(s, Duration::from_millis(50)).unwrap().0;
                }
                drop(s);
                now.fetch_sub(1, Ordering::SeqCst);
                if order == 1 {
                    return Err(api_error(GATEWAY_TIMEOUT));
                }
                Ok(if job.iter().any(|e| e.key == "/f15") {
                    json!({"jwt": "done"})
                } else {
                    json!({})
                })
            })
            .unwrap();
        assert_eq!(token.as_deref(), Some("done"));
        let seen = seen.into_inner().unwrap();
        assert_eq!(seen.len(), 9, "{seen:?}");
        assert_eq!(seen[2], 3, "three at once before the error: {seen:?}");
        assert_eq!(seen[3], 3, "the retry runs beside the two open: {seen:?}");
        assert!(
            seen[4..].iter().all(|&n| n == 1),
            "one at a time after: {seen:?}"
        );
    }

    #[test]
    fn waits_read_well() {
        assert_eq!(human_wait(Duration::from_secs(6)), "6 s");
        assert_eq!(human_wait(Duration::from_millis(2500)), "2.5 s");
        assert_eq!(human_wait(Duration::from_millis(6)), "0.006 s");
    }
}
