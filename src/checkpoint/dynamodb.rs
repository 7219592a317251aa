//! Shard leases and checkpoints in a DynamoDB table, KCL-style, so several `floe run` processes
//! share one stream. The only module that talks to `aws-sdk-dynamodb`.
//!
//! One item per shard, keyed `lease_key = "<stream>:<shard id>"` (one table can serve several
//! streams). Every write is conditional, and every write increments `counter`:
//!
//! - *take*: `owner = me, epoch = epoch + 1` if `counter` is still what we last saw — two workers
//!   racing for one lease cannot both win, and a worker whose lease was taken cannot renew it.
//! - *renew*, *checkpoint*, *release*: only if `owner = me AND epoch = <the epoch we took>`. A
//!   failed condition means the lease was taken over: the worker is fenced and stops the shard.
//! - expiry is judged by the *other* workers from their own clocks (the counter did not move for
//!   `lease_duration`), never by comparing timestamps across machines.
//!
//! The holder stops writing a shard once it could not renew for `lease_duration` (see
//! [`LeaseTable::fence`]), before anyone else may consider the lease expired.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

pub use super::dynamodb_item::Lease;
use super::dynamodb_item::{KEY, classify, lost_err, num, parse_lease};
use super::shard_checkpoint::ShardCheckpoint;
use crate::config::LeaseSettings;
use crate::error::{Error, Result};
use crate::model::ShardId;

/// A lease this worker holds.
#[derive(Debug, Clone)]
struct Held {
    epoch: u64,
    checkpoint: ShardCheckpoint,
    /// Last time a conditional write proved we still own it.
    confirmed_at: Instant,
    /// When this worker's silver may start on the shard: a lease stolen from a live worker
    /// waits a lease duration, time for that worker to notice and commit what it gathered.
    silver_after: Instant,
}

pub struct LeaseTable {
    pub(super) client: Client,
    pub(super) table: String,
    stream: String,
    settings: LeaseSettings,
    held: Mutex<HashMap<ShardId, Held>>,
    /// Last time the table answered (for `/readyz`).
    last_answer: Mutex<Option<Instant>>,
}

impl LeaseTable {
    pub fn new(sdk: &aws_config::SdkConfig, stream: &str, settings: &LeaseSettings) -> Self {
        // A call (retries included) may not outlast a third of the lease: a table that stops
        // answering must not hold up renewals until the lease has expired under us.
        let call_limit = (settings.lease_duration / 3).max(Duration::from_millis(500));
        let timeouts = aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
            .connect_timeout(call_limit)
            .operation_timeout(call_limit)
            .build();
        let config = aws_sdk_dynamodb::config::Builder::from(sdk).timeout_config(timeouts).build();
        Self {
            client: Client::from_conf(config),
            table: settings.table.clone(),
            stream: stream.to_string(),
            settings: settings.clone(),
            held: Mutex::new(HashMap::new()),
            last_answer: Mutex::new(None),
        }
    }

    pub fn worker_id(&self) -> &str {
        &self.settings.worker_id
    }

    pub fn lease_duration(&self) -> Duration {
        self.settings.lease_duration
    }

    fn key(&self, shard: &ShardId) -> AttributeValue {
        AttributeValue::S(format!("{}:{}", self.stream, shard))
    }

    /// Add a lease for `shard` unless one exists (every worker does this for every shard it
    /// lists; the condition makes it idempotent).
    pub async fn ensure(&self, shard: &ShardId, parents: &[ShardId]) -> Result<()> {
        let mut req = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(KEY, self.key(shard))
            .item("stream", AttributeValue::S(self.stream.clone()))
            .item("shard_id", AttributeValue::S(shard.to_string()))
            .item("counter", num(0))
            .item("epoch", num(0))
            .item("ended", AttributeValue::Bool(false))
            .condition_expression("attribute_not_exists(lease_key)");
        if !parents.is_empty() {
            req = req.item("parents", AttributeValue::Ss(parents.iter().map(|p| p.to_string()).collect()));
        }
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => Ok(()),
            Err(e) => Err(classify("PutItem", &self.table, e)),
        }
    }

    /// Every lease of this stream, read consistently.
    pub async fn scan(&self) -> Result<Vec<Lease>> {
        let mut out = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .filter_expression("#s = :s")
                .expression_attribute_names("#s", "stream")
                .expression_attribute_values(":s", AttributeValue::S(self.stream.clone()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| classify("Scan", &self.table, e))?;
            self.answered();
            for item in page.items() {
                out.push(parse_lease(item).map_err(|m| Error::Checkpoint {
                    message: format!("lease table {}: {m}", self.table),
                    transient: false,
                })?);
            }
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return Ok(out),
            }
        }
    }

    /// Take `lease` if nobody wrote it since we read it (`counter` unchanged): free, expired or
    /// stolen for balance alike. Bumps the epoch, fencing the previous owner. `Ok(false)` when
    /// another worker got there first. `stolen`: from a live worker (see [`Self::silver_ready`]).
    pub async fn take(&self, lease: &Lease, stolen: bool) -> Result<bool> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY, self.key(&lease.shard))
            .update_expression("SET #o = :me, #c = #c + :one, #e = #e + :one")
            .condition_expression("#c = :seen")
            .expression_attribute_names("#o", "owner")
            .expression_attribute_names("#c", "counter")
            .expression_attribute_names("#e", "epoch")
            .expression_attribute_values(":me", AttributeValue::S(self.settings.worker_id.clone()))
            .expression_attribute_values(":one", num(1))
            .expression_attribute_values(":seen", num(lease.counter))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        if res.is_ok() || res.as_ref().is_err_and(|e| e.as_service_error().is_some()) {
            self.answered();
        }
        match res {
            Ok(out) => {
                let item = out.attributes().ok_or_else(|| Error::Checkpoint {
                    message: "UpdateItem returned no attributes".into(),
                    transient: true,
                })?;
                let now = parse_lease(item).map_err(|m| Error::Checkpoint { message: m, transient: false })?;
                let at = Instant::now();
                let silver_after = if stolen { at + self.settings.lease_duration } else { at };
                self.lock().insert(
                    lease.shard.clone(),
                    Held { epoch: now.epoch, checkpoint: now.checkpoint, confirmed_at: at, silver_after },
                );
                crate::telemetry::record_leases_held(self.held_count());
                Ok(true)
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(classify("UpdateItem", &self.table, e)),
        }
    }

    /// Renew every held lease; returns the shards whose lease was lost. A failure of a hold
    /// that was replaced meanwhile (the coordinator took the shard again at a newer epoch) is
    /// not a loss of the new hold and is not returned: the caller stops the shard's task on it.
    pub async fn renew_all(&self) -> Vec<(ShardId, Error)> {
        let holds: Vec<(ShardId, u64)> = self.lock().iter().map(|(s, h)| (s.clone(), h.epoch)).collect();
        let mut lost = Vec::new();
        for (s, epoch) in holds {
            match self.owned_update_at(&s, epoch, "SET #c = #c + :one", Vec::new()).await {
                Ok(_) => {}
                Err(e @ Error::LeaseLost { .. }) => {
                    if self.holds(&s) {
                        tracing::debug!(shard = %s, epoch, "a renewal of a replaced hold failed; the newer hold stands");
                    } else {
                        lost.push((s, e));
                    }
                }
                Err(e) => {
                    // Not proof of loss: the next renewal may get through. `fence` stops the
                    // shard's writes once no renewal succeeded for a whole lease duration.
                    tracing::warn!(shard = %s, error = %e, "lease renewal failed");
                    if self.expired_locally(&s) {
                        let why = "no renewal succeeded for a whole lease duration";
                        lost.push((s.clone(), self.lose(&s, epoch, why)));
                    }
                }
            }
        }
        lost
    }

    /// Before a bronze object is written: the lease must still be ours (a conditional write, so
    /// a takeover that already happened is seen). Returns the epoch to stamp on the object.
    pub async fn fence(&self, shard: &ShardId) -> Result<u64> {
        let epoch = self.epoch_of(shard)?;
        if self.expired_locally(shard) {
            return Err(self.lose(shard, epoch, "no renewal succeeded for a whole lease duration"));
        }
        self.owned_update_at(shard, epoch, "SET #c = #c + :one", Vec::new()).await
    }

    /// Record `cp` for `shard` — only while we hold its lease.
    pub async fn save(&self, shard: &ShardId, cp: ShardCheckpoint) -> Result<()> {
        let mut set = vec![("#ended", "ended", AttributeValue::Bool(cp.ended))];
        let mut expr = "SET #c = #c + :one, #ended = :ended".to_string();
        let mut add = |name: &'static str, attr: &'static str, v: Option<AttributeValue>| {
            if let Some(v) = v {
                expr.push_str(&format!(", {name} = :{}", &name[1..]));
                set.push((name, attr, v));
            }
        };
        add("#cp", "checkpoint", cp.sequence_number.clone().map(AttributeValue::S));
        add("#sub", "sub_sequence", Some(num(cp.sub_sequence)));
        add("#obj", "last_object", cp.last_object.clone().map(AttributeValue::S));
        add("#at", "updated_at", cp.updated_at.clone().map(AttributeValue::S));
        self.owned_update(shard, &expr, set).await?;
        if let Some(h) = self.lock().get_mut(shard) {
            h.checkpoint = cp;
        }
        Ok(())
    }

    /// Give `shard` up (after SHARD_END, or at shutdown once its writer checkpointed), so
    /// another worker can take it at once instead of waiting for expiry.
    pub async fn release(&self, shard: &ShardId) -> Result<()> {
        self.release_marked(shard, None).await
    }

    /// Give an ended `shard` up, saying whether this stream's silver still has some of it to
    /// commit (`true`: a worker running silver takes it to finish that, ADR 0018).
    pub async fn release_ended(&self, shard: &ShardId, silver_pending: bool) -> Result<()> {
        self.release_marked(shard, Some(silver_pending)).await
    }

    async fn release_marked(&self, shard: &ShardId, silver_pending: Option<bool>) -> Result<()> {
        let (expr, values) = match silver_pending {
            None => ("SET #c = #c + :one REMOVE #o", Vec::new()),
            Some(p) => {
                ("SET #c = #c + :one, #sp = :sp REMOVE #o", vec![("#sp", "silver_pending", AttributeValue::Bool(p))])
            }
        };
        let res = self.owned_update(shard, expr, values).await;
        self.forget(shard);
        match res {
            Ok(_) | Err(Error::LeaseLost { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The checkpoint of a lease we hold (from the take and our own saves).
    pub fn checkpoint(&self, shard: &ShardId) -> Option<ShardCheckpoint> {
        self.lock().get(shard).map(|h| h.checkpoint.clone())
    }

    pub fn holds(&self, shard: &ShardId) -> bool {
        self.lock().contains_key(shard)
    }

    /// Whether this worker's silver may work on `shard`: held, and not within the hand-over
    /// wait of a stolen lease (ADR 0018).
    pub fn silver_ready(&self, shard: &ShardId) -> bool {
        self.lock().get(shard).is_some_and(|h| Instant::now() >= h.silver_after)
    }

    /// The lease epoch of `shard` when this worker's silver may work on it (see
    /// [`silver_ready`](Self::silver_ready)): a shard lost and taken again has a new epoch.
    pub fn silver_ready_epoch(&self, shard: &ShardId) -> Option<u64> {
        self.lock().get(shard).filter(|h| Instant::now() >= h.silver_after).map(|h| h.epoch)
    }

    /// Every shard silver may work on now, with its lease epoch.
    pub fn silver_ready_epochs(&self) -> std::collections::BTreeMap<ShardId, u64> {
        let now = Instant::now();
        self.lock().iter().filter(|(_, h)| now >= h.silver_after).map(|(s, h)| (s.clone(), h.epoch)).collect()
    }

    pub fn held(&self) -> Vec<ShardId> {
        self.lock().keys().cloned().collect()
    }

    pub fn held_count(&self) -> usize {
        self.lock().len()
    }

    /// How long since the table last answered any call (`None`: never yet).
    pub fn since_last_answer(&self) -> Option<Duration> {
        self.last_answer.lock().unwrap_or_else(|p| p.into_inner()).map(|t| t.elapsed())
    }

    fn answered(&self) {
        *self.last_answer.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    }

    fn forget(&self, shard: &ShardId) {
        self.lock().remove(shard);
        crate::telemetry::record_leases_held(self.held_count());
    }

    /// The hold of `shard` at `epoch` is gone: stop counting it as held, count the loss once,
    /// say why. A newer hold of the same shard (taken again while the failed call was in
    /// flight) is left alone: a stale answer must not drop it.
    fn lose(&self, shard: &ShardId, epoch: u64, why: &str) -> Error {
        let removed = {
            let mut held = self.lock();
            match held.get(shard) {
                Some(h) if h.epoch == epoch => held.remove(shard).is_some(),
                _ => false,
            }
        };
        if removed {
            crate::telemetry::record_lease_lost(shard.as_str());
            crate::telemetry::record_leases_held(self.held_count());
        }
        lost_err(shard, why)
    }

    fn expired_locally(&self, shard: &ShardId) -> bool {
        self.lock().get(shard).is_none_or(|h| h.confirmed_at.elapsed() >= self.settings.lease_duration)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ShardId, Held>> {
        // A panic while holding this lock cannot leave the map half-updated (single inserts and
        // removes), so a poisoned lock is still usable.
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The epoch of our hold of `shard`.
    fn epoch_of(&self, shard: &ShardId) -> Result<u64> {
        self.lock().get(shard).map(|h| h.epoch).ok_or_else(|| lost_err(shard, "not held by this worker"))
    }

    /// An update conditional on our ownership at the epoch we took. Returns that epoch.
    async fn owned_update(
        &self,
        shard: &ShardId,
        expression: &str,
        values: Vec<(&'static str, &'static str, AttributeValue)>,
    ) -> Result<u64> {
        let epoch = self.epoch_of(shard)?;
        self.owned_update_at(shard, epoch, expression, values).await
    }

    /// [`Self::owned_update`] at a given `epoch`: its answer concerns that hold only.
    async fn owned_update_at(
        &self,
        shard: &ShardId,
        epoch: u64,
        expression: &str,
        values: Vec<(&'static str, &'static str, AttributeValue)>,
    ) -> Result<u64> {
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY, self.key(shard))
            .update_expression(expression)
            .condition_expression("#o = :me AND #e = :epoch")
            .expression_attribute_names("#o", "owner")
            .expression_attribute_names("#c", "counter")
            .expression_attribute_names("#e", "epoch")
            .expression_attribute_values(":me", AttributeValue::S(self.settings.worker_id.clone()))
            .expression_attribute_values(":epoch", num(epoch))
            .expression_attribute_values(":one", num(1));
        for (name, attr, v) in values {
            req = req.expression_attribute_names(name, attr).expression_attribute_values(format!(":{}", &name[1..]), v);
        }
        let res = req.send().await;
        if res.is_ok() || res.as_ref().is_err_and(|e| e.as_service_error().is_some()) {
            self.answered();
        }
        match res {
            Ok(_) => {
                if let Some(h) = self.lock().get_mut(shard).filter(|h| h.epoch == epoch) {
                    h.confirmed_at = Instant::now();
                }
                Ok(epoch)
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => {
                Err(self.lose(shard, epoch, "another worker took it over (owner or epoch changed)"))
            }
            Err(e) => Err(classify("UpdateItem", &self.table, e)),
        }
    }
}
