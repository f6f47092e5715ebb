//! Work that is not an HTTP request: delivering queue batches to the
//! consumer, firing Durable Object alarms, and (with `--test-scheduled`)
//! running `triggers.crons` on their schedule.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Timelike;
use serde_json::Value;

use super::builder::Shared;
use super::server::{event_error_info, report_to_terminal};

const TICK: Duration = Duration::from_millis(50);
const ALARM_TICK: Duration = Duration::from_millis(200);
const ALARM_MAX_RETRIES: u32 = 6;

/// Deliver queued messages to the local consumer, forever.
pub async fn queue_loop(shared: Arc<Shared>) {
    // When each queue last had visible messages waiting, for max_batch_timeout.
    let mut waiting_since: HashMap<String, Instant> = HashMap::new();
    loop {
        tokio::time::sleep(TICK).await;
        let Some(generation) = shared.ready() else {
            continue;
        };
        let consumers = generation.settings.consumers.clone();
        for c in consumers {
            let store = generation.bindings.queues();
            let Ok((pending, _)) = store.pending(&c.queue) else {
                continue;
            };
            if pending == 0 {
                waiting_since.remove(&c.queue);
                continue;
            }
            let since = *waiting_since
                .entry(c.queue.clone())
                .or_insert_with(Instant::now);
            if pending < c.max_batch_size && since.elapsed() < c.max_batch_timeout {
                continue;
            }
            waiting_since.remove(&c.queue);
            let batch = match store.take_batch(&c.queue, c.max_batch_size) {
                Ok(b) if !b.is_empty() => b,
                Ok(_) => continue,
                Err(e) => {
                    crate::printer::warn(format!("queue {}: {e}", c.queue));
                    continue;
                }
            };
            let ids: Vec<String> = batch.iter().map(|m| m.id.clone()).collect();
            let messages = Value::Array(batch.iter().map(|m| m.to_json()).collect());
            let queue = c.queue.clone();
            let label = format!("[queue {queue}] ");
            let result = generation
                .run(label, move |inst| inst.queue(&queue, messages))
                .await;
            let outcome = match result {
                Ok(v) => v,
                Err(e) => {
                    let info = event_error_info(&e);
                    report_to_terminal(&info);
                    serde_json::json!({ "acks": [], "retries": ids })
                }
            };
            let list = |k: &str| -> Vec<String> {
                outcome
                    .get(k)
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let retries = list("retries");
            let acks: Vec<String> = ids
                .iter()
                .filter(|id| !retries.contains(id))
                .cloned()
                .collect();
            let _ = store.ack(&acks);
            let delays = outcome.get("retry_delays").cloned().unwrap_or(Value::Null);
            for id in &retries {
                let delay = delays
                    .get(id)
                    .and_then(Value::as_i64)
                    .unwrap_or(c.retry_delay);
                match store.retry(
                    std::slice::from_ref(id),
                    delay,
                    c.max_retries,
                    c.dead_letter_queue.as_deref(),
                ) {
                    Ok(dropped) if !dropped.is_empty() => crate::printer::warn(format!(
                        "queue {}: message {id} failed {} times and was dropped (no dead_letter_queue)",
                        c.queue,
                        c.max_retries + 1
                    )),
                    Ok(_) => {}
                    Err(e) => crate::printer::warn(format!("queue {}: {e}", c.queue)),
                }
            }
            crate::printer::info(format!(
                "QUEUE {} {}/{} acked",
                c.queue,
                acks.len(),
                ids.len()
            ));
        }
    }
}

/// Fire Durable Object alarms when due, forever.
pub async fn alarm_loop(shared: Arc<Shared>) {
    let mut failures: HashMap<(String, String, i64), u32> = HashMap::new();
    loop {
        tokio::time::sleep(ALARM_TICK).await;
        let Some(generation) = shared.ready() else {
            continue;
        };
        if generation.settings.durable_classes.is_empty() {
            continue;
        }
        let now = chrono::Utc::now().timestamp_millis();
        let due: Vec<_> = generation
            .bindings
            .durable()
            .all_alarms()
            .into_iter()
            .filter(|a| a.time_ms <= now)
            .filter(|a| generation.settings.durable_classes.contains(&a.class))
            .collect();
        for alarm in due {
            let key = (alarm.class.clone(), alarm.id.clone(), alarm.time_ms);
            let g = generation.clone();
            let a = alarm.clone();
            let busy = super::listen::Busy::enter();
            let result = tokio::task::spawn_blocking(move || {
                let _busy = busy;
                let label = format!("[alarm {}:{}] ", a.class, &a.id[..8]);
                g.run_object(&a.class, &a.id, &label, |inst| inst.alarm(&a.class, &a.id))
            })
            .await;
            let ok = matches!(result, Ok(Ok(_)));
            if !ok {
                let msg = match result {
                    Ok(Err(e)) => e.to_string(),
                    Err(e) => e.to_string(),
                    Ok(Ok(_)) => String::new(),
                };
                let n = failures.entry(key.clone()).or_insert(0);
                *n += 1;
                crate::printer::warn(format!(
                    "alarm of {} {} failed (attempt {n}): {msg}",
                    alarm.class, alarm.id
                ));
                if *n < ALARM_MAX_RETRIES {
                    continue;
                }
            }
            failures.remove(&key);
            let _ = generation.bindings.durable().clear_alarm_if(
                &alarm.class,
                &alarm.id,
                alarm.time_ms,
            );
        }
    }
}

/// Run `triggers.crons` on their schedule (`--test-scheduled`), forever.
pub async fn cron_loop(shared: Arc<Shared>) {
    loop {
        let Some(generation) = shared.ready() else {
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        };
        let now = chrono::Utc::now();
        // Cron times are whole seconds; croner keeps the sub-second part of `from`.
        let from = now.with_nanosecond(0).unwrap_or(now);
        let mut next: Option<(chrono::DateTime<chrono::Utc>, String)> = None;
        for expr in &generation.settings.crons {
            let Ok(cron) = croner::Cron::from_str(expr) else {
                continue;
            };
            if let Ok(t) = cron.find_next_occurrence(&from, false)
                && next.as_ref().is_none_or(|(n, _)| t < *n)
            {
                next = Some((t, expr.clone()));
            }
        }
        let Some((when, expr)) = next else {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        let wait = (when - now).to_std().unwrap_or_default();
        // Re-check at least every second so a reload's new crons take effect.
        if wait > Duration::from_secs(1) {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        tokio::time::sleep(wait).await;
        let time = when.timestamp_millis();
        let label = format!("[cron {expr}] ");
        let e2 = expr.clone();
        match generation
            .run(label, move |inst| inst.scheduled(&e2, time))
            .await
        {
            Ok(_) => crate::printer::info(format!("CRON {expr} ran")),
            Err(e) => report_to_terminal(&event_error_info(&e)),
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
