//! The operator of one continuous query: its state, kept up to date batch by batch.
//!
//! State is one entry per group (the group-by key, encoded in the arrow row format), holding one
//! partial state per pane: a DataFusion [`Accumulator`] per aggregate. A batch (a [`Scan`], whose
//! expressions' values and key encodings the stream's other queries share) is filtered, the rows
//! selected are assigned to (group, pane) slots, each aggregate's [`GroupsAccumulator`] folds the
//! batch into one partial state per slot (`update_batch`), and those are merged into the slots'
//! accumulators (`merge_batch`). Reading a group merges its panes in range.
//!
//! **Invariants:** every event of the stream at or after the start offset is applied exactly once
//! (offsets below [`Operator::position`] are skipped); a windowed query never holds panes older
//! than its range; a pane closed by the watermark takes no more events (they are counted as late).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, RecordBatch, UInt32Array, new_null_array,
};
use arrow::datatypes::{Int64Type, TimestampMicrosecondType};
use arrow::row::{RowConverter, Rows, SortField};
use datafusion::common::ScalarValue;
use datafusion::datasource::provider_as_source;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::{
    Accumulator, EmitTo, Expr, GroupsAccumulator, LogicalPlanBuilder, col, lit,
};
use datafusion::physical_expr::GroupsAccumulatorAdapter;
use datafusion::physical_plan::execute_stream;
use futures::StreamExt;
use protocol::Row;
use protocol::live::Change;
use storage::{OFFSET_COLUMN, TIME_COLUMN};

use super::Error;
use super::plan::{Aggregate, ContinuousPlan};
use super::scan::{Scan, key_of};
use crate::query::format;

/// Settings every operator shares.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    /// How far behind the stream's latest event time an event may be and still update its
    /// window, in µs.
    pub(crate) lateness: i64,
    /// After this long (µs) without events, the watermark follows the clock.
    pub(crate) idle: i64,
    /// Groups one query holds at most; events of further groups are left out, and the result
    /// says so.
    pub(crate) max_groups: usize,
}

/// Counters of one operator.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub(crate) struct Metrics {
    /// Events applied after the backfill (all of them, matching or not).
    pub(crate) events: u64,
    /// Events that matched but arrived after their window closed: left out of the live result.
    pub(crate) late_events: u64,
    /// Events of groups past the group cap, left out.
    pub(crate) overflow_events: u64,
}

struct Group {
    /// Partial states by pane (one pane, 0, for queries without a window).
    panes: BTreeMap<i64, Vec<Box<dyn Accumulator>>>,
    dirty: bool,
    /// The row last sent for this group, and its key.
    emitted: Option<(Row, Row)>,
}

pub(crate) struct Operator {
    plan: Arc<ContinuousPlan>,
    settings: Settings,
    /// Encodes group keys; `None` without GROUP BY (one group, the empty key).
    converter: Option<RowConverter>,
    groups: HashMap<Box<[u8]>, Group, foldhash::fast::RandomState>,
    dirty: Vec<Box<[u8]>>,
    /// Keys of rows removed since the last flush.
    removed: Vec<Row>,
    position: u64,
    clock: i64,
    watermark: i64,
    /// The event time of the newest event applied live (µs; 0: none yet).
    newest: i64,
    last_event_clock: i64,
    /// The oldest pane held, to skip expiry scans when nothing can expire.
    min_pane: i64,
    metrics: Metrics,
    keys: Keys,
}

/// A batch folded into one partial state per slot, to be merged into the groups.
struct Folded {
    /// The batch's encoded group keys (`None` without GROUP BY).
    rows: Option<Arc<Rows>>,
    /// Each slot's (row of its key, pane).
    slots: Vec<(usize, i64)>,
    /// Each aggregate's partial states, one per slot.
    states: Vec<Vec<ArrayRef>>,
}

/// The keys under which the query's expressions are shared in a [`Scan`].
struct Keys {
    filter: Option<String>,
    /// Of each group expression, and of all of them together.
    groups: Vec<String>,
    group: String,
    /// Of each aggregate's arguments and of its FILTER.
    args: Vec<Vec<String>>,
    aggregate_filters: Vec<Option<String>>,
}

impl Keys {
    fn of(plan: &ContinuousPlan) -> Keys {
        let groups: Vec<String> = plan.group_exprs.iter().map(|(e, _)| key_of(e)).collect();
        Keys {
            filter: plan.physical_filter.as_ref().map(key_of),
            group: groups.join("\u{1}"),
            groups,
            args: plan
                .aggregates
                .iter()
                .map(|a| a.function.expressions().iter().map(key_of).collect())
                .collect(),
            aggregate_filters: plan
                .aggregates
                .iter()
                .map(|a| a.filter.as_ref().map(key_of))
                .collect(),
        }
    }
}

impl Operator {
    /// An empty operator whose first event will be at offset `position`, at clock `now` (µs).
    pub(crate) fn new(
        plan: Arc<ContinuousPlan>,
        settings: Settings,
        position: u64,
        now: i64,
    ) -> Result<Operator, Error> {
        let converter = if plan.group_exprs.is_empty() {
            None
        } else {
            let fields = (0..plan.group_exprs.len())
                .map(|i| SortField::new(plan.aggregate_schema.field(i).data_type().clone()))
                .collect();
            Some(RowConverter::new(fields)?)
        };
        let keys = Keys::of(&plan);
        let mut operator = Operator {
            keys,
            plan,
            settings,
            converter,
            groups: HashMap::default(),
            dirty: Vec::new(),
            removed: Vec::new(),
            position,
            clock: now,
            watermark: now - settings.idle - settings.lateness,
            newest: 0,
            last_event_clock: now,
            min_pane: i64::MAX,
            metrics: Metrics::default(),
        };
        if operator.converter.is_none() {
            // An aggregate without GROUP BY has exactly one row, even over no events.
            operator.group_mut(&[]);
        }
        Ok(operator)
    }

    pub(crate) fn plan(&self) -> &Arc<ContinuousPlan> {
        &self.plan
    }

    /// The event time (µs) before which windows are closed.
    pub(crate) fn watermark(&self) -> i64 {
        self.watermark
    }

    pub(crate) fn metrics(&self) -> Metrics {
        self.metrics
    }

    pub(crate) fn n_groups(&self) -> usize {
        self.groups.len()
    }

    /// Bytes of state held (keys and accumulators).
    pub(crate) fn state_bytes(&self) -> usize {
        self.groups
            .iter()
            .map(|(key, group)| {
                key.len()
                    + 64
                    + group
                        .panes
                        .values()
                        .map(|accs| 32 + accs.iter().map(|a| a.size()).sum::<usize>())
                        .sum::<usize>()
            })
            .sum()
    }

    /// Computes the starting state from `plan.table` (every event below the position): DataFusion
    /// scans the stream's snapshot (pruning files and row groups by the WHERE clause and the
    /// range, reading only the columns the query uses), and the batches are folded in as live
    /// ones are, so that history and live events meet in the same state.
    pub(crate) async fn backfill(&mut self, state: &SessionState) -> Result<(), Error> {
        let plan = Arc::clone(&self.plan);
        let start = self.cutoff_pane().map(|cutoff| {
            let (width, origin) = plan.window.pane().expect("a range makes a window");
            origin + cutoff * width
        });
        let mut batches = self.scan(state, start, None, false).await?;
        while let Some(batch) = batches.next().await {
            let mut scan = Scan::new(batch?);
            let (schema, batch) = scan.adapted(&plan)?;
            self.absorb(&mut scan, schema, &batch, false)?;
        }
        Ok(())
    }

    /// The events of `plan.table` with `_time` in `[from, to]` (µs), in event-time order, in the
    /// columns the query reads: what a replay feeds [`Operator::replay`].
    pub(crate) async fn history(
        &self,
        state: &SessionState,
        from: i64,
        to: i64,
    ) -> Result<datafusion::execution::SendableRecordBatchStream, Error> {
        self.scan(state, Some(from), Some(to), true).await
    }

    /// A scan of `plan.table` in the columns the query reads, by its WHERE clause and `_time` in
    /// `[from, to]` (µs; either end open), sorted by `_time` when `sorted`.
    async fn scan(
        &self,
        state: &SessionState,
        from: Option<i64>,
        to: Option<i64>,
        sorted: bool,
    ) -> Result<datafusion::execution::SendableRecordBatchStream, Error> {
        let plan = &self.plan;
        let tz = match plan
            .input_schema
            .field_with_name(TIME_COLUMN)
            .map(|f| f.data_type())
        {
            Ok(arrow::datatypes::DataType::Timestamp(_, tz)) => tz.clone(),
            _ => None,
        };
        let time = |t: i64| lit(ScalarValue::TimestampMicrosecond(Some(t), tz.clone()));
        let mut predicates: Vec<Expr> = plan.filter.iter().map(unqualify).collect();
        predicates.extend(from.map(|t| col(TIME_COLUMN).gt_eq(time(t))));
        predicates.extend(to.map(|t| col(TIME_COLUMN).lt_eq(time(t))));
        let source = provider_as_source(Arc::clone(&plan.table));
        let projection: Vec<usize> = plan
            .columns
            .iter()
            .filter_map(|c| plan.input_schema.index_of(c).ok())
            .collect();
        let mut builder = LogicalPlanBuilder::scan(plan.stream.as_str(), source, Some(projection))?;
        if let Some(predicate) = datafusion::logical_expr::utils::conjunction(predicates) {
            builder = builder.filter(predicate)?;
        }
        if sorted {
            builder = builder.sort(vec![col(TIME_COLUMN).sort(true, false)])?;
        }
        let scan = state.create_physical_plan(&builder.build()?).await?;
        Ok(execute_stream(scan, state.task_ctx())?)
    }

    /// Applies a batch of the stream (in offset order) at clock `now` (µs since the epoch).
    pub(crate) fn apply(&mut self, batch: &RecordBatch, now: i64) -> Result<(), Error> {
        self.apply_scan(&mut Scan::new(batch.clone()), now)
    }

    /// Applies the batch of `scan` (in offset order) at clock `now`, sharing the work on it
    /// with the other queries of the stream that apply the same scan.
    pub(crate) fn apply_scan(&mut self, scan: &mut Scan, now: i64) -> Result<(), Error> {
        self.advance_clock(now);
        let batch = scan.batch();
        let n = batch.num_rows();
        if n == 0 {
            return Ok(());
        }
        let offsets = batch
            .column_by_name(OFFSET_COLUMN)
            .ok_or(Error::MissingColumn(OFFSET_COLUMN))?
            .as_primitive::<Int64Type>();
        let (first, last) = (offsets.value(0) as u64, offsets.value(n - 1) as u64);
        if last < self.position {
            return Ok(());
        }
        let skip = self.position.saturating_sub(first) as usize;
        self.position = last + 1;
        if skip > 0 {
            // Seen in part: the rest is this query's alone.
            let rest = batch.slice(skip, n - skip);
            return self.take(&mut Scan::new(rest));
        }
        self.take(scan)
    }

    /// The offset of the next event this query has not applied.
    pub(crate) fn position(&self) -> u64 {
        self.position
    }

    /// Applies a batch of a replay of history at clock `now`, as [`Operator::apply`] applies a
    /// live one; a replay comes in event-time order, so offsets are not looked at.
    pub(crate) fn replay(&mut self, batch: &RecordBatch, now: i64) -> Result<(), Error> {
        self.advance_clock(now);
        self.take(&mut Scan::new(batch.clone()))
    }

    fn take(&mut self, scan: &mut Scan) -> Result<(), Error> {
        let plan = Arc::clone(&self.plan);
        let (schema, batch) = scan.adapted(&plan)?;
        self.metrics.events += batch.num_rows() as u64;
        self.absorb(scan, schema, &batch, true)?;
        if let Some(max) = scan.max_time() {
            self.watermark = self.watermark.max(max - self.settings.lateness);
            self.newest = self.newest.max(max);
        }
        self.last_event_clock = self.clock;
        Ok(())
    }

    /// Folds the matching events of `batch` (the scan's batch in input schema `schema`) into
    /// the groups; with `live`, events of closed windows are left out and counted as late.
    fn absorb(
        &mut self,
        scan: &mut Scan,
        schema: usize,
        batch: &RecordBatch,
        live: bool,
    ) -> Result<(), Error> {
        let plan = Arc::clone(&self.plan);
        let n = batch.num_rows();
        let mask: Option<BooleanArray> = match (&plan.physical_filter, &self.keys.filter) {
            (Some(filter), Some(key)) => {
                let value = scan.value(schema, key, filter)?;
                Some(definite(value.as_boolean()))
            }
            _ => None,
        };
        // The rows selected (`None`: all of them), and the pane of each.
        let mut selected: Option<Vec<u32>> = None;
        let mut panes = Vec::new();
        if let Some((width, origin)) = plan.window.pane() {
            let times = batch
                .column_by_name(TIME_COLUMN)
                .ok_or(Error::MissingColumn(TIME_COLUMN))?
                .as_primitive::<TimestampMicrosecondType>();
            let cutoff = self.cutoff_pane();
            let watermark = if live { self.watermark } else { i64::MIN };
            let mut kept = Vec::new();
            let mut late = 0;
            for (i, t) in times.values().iter().enumerate() {
                let matches = mask.as_ref().is_none_or(|m| m.value(i));
                let pane = (t - origin).div_euclid(width);
                let in_range = cutoff.is_none_or(|c| pane >= c);
                let closed = origin + (pane + 1) * width <= watermark;
                late += u64::from(matches && in_range && closed);
                if matches && in_range && !closed {
                    kept.push(i as u32);
                    panes.push(pane);
                }
            }
            self.metrics.late_events += late;
            selected = Some(kept);
        } else if let Some(mask) = &mask
            && mask.true_count() < n
        {
            selected = Some(mask.values().set_indices().map(|i| i as u32).collect());
        }
        let m = selected.as_ref().map_or(n, Vec::len);
        if m == 0 {
            return Ok(());
        }
        if panes.is_empty() {
            panes.resize(m, 0);
        }
        let folded = match self.fold(scan, schema, selected.as_deref(), &panes) {
            Err(Error::DataFusion(_) | Error::Arrow(_)) if selected.is_some() => {
                // Shared values are computed over every row of the batch; an expression that
                // fails on a row this query does not select (a division by zero the WHERE
                // excludes) is evaluated again over the selected rows alone.
                let rows = UInt32Array::from(selected.unwrap_or_default());
                let mut alone = Scan::new(arrow::compute::take_record_batch(batch, &rows)?);
                let (schema, _) = alone.adapted(&plan)?;
                self.fold(&mut alone, schema, None, &panes)?
            }
            result => result?,
        };
        self.merge_slots(folded.rows.as_deref(), &folded.slots, &folded.states)
    }

    /// Folds the rows `selected` (`None`: all) of the scan's batch in input schema `schema`,
    /// each into its pane in `panes`, into one partial state per (group, pane) slot; nothing is
    /// changed yet.
    fn fold(
        &self,
        scan: &mut Scan,
        schema: usize,
        selected: Option<&[u32]>,
        panes: &[i64],
    ) -> Result<Folded, Error> {
        let plan = Arc::clone(&self.plan);
        let m = panes.len();
        let row_of = |j: usize| selected.map_or(j, |s| s[j] as usize);
        let rows = match &self.converter {
            Some(converter) => Some(scan.rows(
                schema,
                &self.keys.group,
                &plan.group_exprs,
                &self.keys.groups,
                converter,
            )?),
            None => None,
        };
        // One local slot per distinct (group, pane) of the batch. Hashed once per event:
        // foldhash, not the default SipHash (which was ~20% of the engine's samples).
        let mut local: HashMap<(&[u8], i64), usize, foldhash::fast::RandomState> =
            HashMap::default();
        let mut slots: Vec<(usize, i64)> = Vec::new();
        let mut indices = Vec::with_capacity(m);
        for (j, pane) in panes.iter().enumerate() {
            let i = row_of(j);
            let key = rows.as_ref().map_or(&[][..], |r| r.row(i).data());
            let slot = *local.entry((key, *pane)).or_insert_with(|| {
                slots.push((i, *pane));
                slots.len() - 1
            });
            indices.push(slot);
        }
        let picked = selected.map(|s| UInt32Array::from(s.to_vec()));
        let pick = |array: ArrayRef| -> Result<ArrayRef, Error> {
            Ok(match &picked {
                Some(rows) => arrow::compute::take(&array, rows, None)?,
                None => array,
            })
        };
        let mut states = Vec::with_capacity(plan.aggregates.len());
        for (a, aggregate) in plan.aggregates.iter().enumerate() {
            let args = aggregate
                .function
                .expressions()
                .iter()
                .zip(&self.keys.args[a])
                .map(|(e, key)| pick(scan.value(schema, key, e)?))
                .collect::<Result<Vec<_>, _>>()?;
            let filter = match (&aggregate.filter, &self.keys.aggregate_filters[a]) {
                (Some(filter), Some(key)) => {
                    Some(pick(scan.value(schema, key, filter)?)?.as_boolean().clone())
                }
                _ => None,
            };
            states.push(batch_states(
                aggregate,
                &args,
                filter.as_ref(),
                &indices,
                slots.len(),
            )?);
        }
        Ok(Folded {
            rows,
            slots,
            states,
        })
    }

    /// Merges one partial state per slot `(row of keys, pane)` into the operator's groups.
    fn merge_slots(
        &mut self,
        rows: Option<&Rows>,
        slots: &[(usize, i64)],
        states: &[Vec<ArrayRef>],
    ) -> Result<(), Error> {
        for (slot, (row, pane)) in slots.iter().enumerate() {
            let key = rows.map_or(&[][..], |r| r.row(*row).data());
            if !self.groups.contains_key(key) && self.groups.len() >= self.settings.max_groups {
                self.metrics.overflow_events += 1;
                continue;
            }
            let plan = Arc::clone(&self.plan);
            let group = self.group_mut(key);
            let accumulators = match group.panes.entry(*pane) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => e.insert(new_accumulators(&plan)?),
            };
            for (accumulator, state) in accumulators.iter_mut().zip(states) {
                let state: Vec<ArrayRef> = state.iter().map(|s| s.slice(slot, 1)).collect();
                accumulator.merge_batch(&state)?;
            }
            self.min_pane = self.min_pane.min(*pane);
        }
        Ok(())
    }

    /// The group of `key`, created if new, marked dirty.
    fn group_mut(&mut self, key: &[u8]) -> &mut Group {
        if !self.groups.contains_key(key) {
            self.groups.insert(
                key.into(),
                Group {
                    panes: BTreeMap::new(),
                    dirty: false,
                    emitted: None,
                },
            );
        }
        let group = self.groups.get_mut(key).expect("inserted above");
        if !group.dirty {
            group.dirty = true;
            self.dirty.push(key.into());
        }
        group
    }

    /// The first pane in range at the current clock (`None` without a moving range).
    fn cutoff_pane(&self) -> Option<i64> {
        let range = self.plan.range?;
        let (width, origin) = self.plan.window.pane()?;
        Some((self.clock - range - origin).div_euclid(width))
    }

    fn advance_clock(&mut self, now: i64) {
        self.clock = self.clock.max(now);
        if self.clock - self.last_event_clock >= self.settings.idle {
            let idle_watermark = self.clock - self.settings.idle - self.settings.lateness;
            self.watermark = self.watermark.max(idle_watermark);
        }
    }

    /// Drops panes that left the range.
    fn expire(&mut self) {
        let Some(cutoff) = self.cutoff_pane() else {
            return;
        };
        if cutoff <= self.min_pane {
            return;
        }
        let global = self.converter.is_none();
        let mut min_pane = i64::MAX;
        let mut dirty = Vec::new();
        let mut removed = Vec::new();
        self.groups.retain(|key, group| {
            if group
                .panes
                .first_key_value()
                .is_some_and(|(p, _)| *p < cutoff)
            {
                group.panes = group.panes.split_off(&cutoff);
                if !group.dirty {
                    group.dirty = true;
                    dirty.push(key.clone());
                }
            }
            if group.panes.is_empty() && !global {
                if let Some((_, key)) = group.emitted.take() {
                    removed.push(key);
                }
                return false;
            }
            if let Some((p, _)) = group.panes.first_key_value() {
                min_pane = min_pane.min(*p);
            }
            true
        });
        self.min_pane = min_pane;
        self.dirty.extend(dirty);
        self.removed.extend(removed);
    }

    /// Moves the clock to `now`, expires panes, and returns how the result changed since the
    /// last flush, at the watermark after it.
    pub(crate) fn flush(&mut self, now: i64) -> Result<Change, Error> {
        self.advance_clock(now);
        self.expire();
        let mut upserts = Vec::new();
        let mut deletes = std::mem::take(&mut self.removed);
        let keys: Vec<Box<[u8]>> = std::mem::take(&mut self.dirty)
            .into_iter()
            .filter(|k| self.groups.contains_key(k))
            .collect();
        if keys.is_empty() {
            return Ok(Change::new(upserts, deletes, self.watermark, now).with_newest(self.newest));
        }
        let plan = Arc::clone(&self.plan);
        let mut columns: Vec<ArrayRef> = match &self.converter {
            Some(converter) => {
                let parser = converter.parser();
                converter.convert_rows(keys.iter().map(|k| parser.parse(k)))?
            }
            None => Vec::new(),
        };
        for (a, aggregate) in plan.aggregates.iter().enumerate() {
            let mut values = Vec::with_capacity(keys.len());
            for key in &keys {
                let group = self.groups.get_mut(key).expect("filtered above");
                values.push(group_value(aggregate, a, group)?);
            }
            let field = plan.aggregate_schema.field(columns.len());
            let array = ScalarValue::iter_to_array(values)?;
            let array = if array.data_type() == field.data_type() {
                array
            } else {
                arrow::compute::cast(&array, field.data_type())?
            };
            columns.push(array);
        }
        let aggregated = RecordBatch::try_new(Arc::clone(&plan.aggregate_schema), columns)?;
        let visible = match &plan.having {
            Some(having) => Some(
                having
                    .evaluate(&aggregated)?
                    .into_array(keys.len())?
                    .as_boolean()
                    .clone(),
            ),
            None => None,
        };
        let output: Vec<ArrayRef> = plan
            .projection
            .iter()
            .map(|e| {
                e.evaluate(&aggregated)
                    .and_then(|v| v.into_array(keys.len()))
            })
            .collect::<Result<_, _>>()?;
        let output = RecordBatch::try_new(Arc::clone(&plan.output_schema), output)?;
        let rows = format::batch_rows(&output)?;
        for (i, (key, row)) in keys.iter().zip(rows).enumerate() {
            let group = self.groups.get_mut(key).expect("filtered above");
            group.dirty = false;
            let shown = visible.as_ref().is_none_or(|v| v.is_valid(i) && v.value(i));
            if shown {
                if group.emitted.as_ref().is_none_or(|(old, _)| *old != row) {
                    let key = plan.shape.key_of(&row);
                    upserts.push(row.clone());
                    group.emitted = Some((row, key));
                }
            } else if let Some((_, key)) = group.emitted.take() {
                deletes.push(key);
            }
        }
        Ok(Change::new(upserts, deletes, self.watermark, now).with_newest(self.newest))
    }

    /// The event time of the newest event applied live (µs; 0: none yet).
    pub(crate) fn newest(&self) -> i64 {
        self.newest
    }

    /// The whole current result (as of the last flush), in the order clients keep it.
    pub(crate) fn rows(&self) -> Vec<Row> {
        let mut rows: Vec<Row> = self
            .groups
            .values()
            .filter_map(|g| g.emitted.as_ref().map(|(row, _)| row.clone()))
            .collect();
        self.plan.shape.sort(&mut rows);
        rows
    }
}

/// `mask` with its nulls (rows the predicate is unknown for) false.
fn definite(mask: &BooleanArray) -> BooleanArray {
    match mask.nulls() {
        Some(_) => arrow::compute::prep_null_mask_filter(mask),
        None => mask.clone(),
    }
}

fn new_accumulators(plan: &ContinuousPlan) -> Result<Vec<Box<dyn Accumulator>>, Error> {
    plan.aggregates
        .iter()
        .map(|a| a.function.create_accumulator().map_err(Error::from))
        .collect()
}

/// The value of aggregate `a` of a group: its one pane's, or the merge of its panes' states.
fn group_value(aggregate: &Aggregate, a: usize, group: &mut Group) -> Result<ScalarValue, Error> {
    match group.panes.len() {
        0 => Ok(aggregate.function.create_accumulator()?.evaluate()?),
        1 => {
            let accumulators = group.panes.values_mut().next().expect("one pane");
            Ok(accumulators[a].evaluate()?)
        }
        _ => {
            let mut merged = aggregate.function.create_accumulator()?;
            for accumulators in group.panes.values_mut() {
                // `state` consumes an accumulator's state: restore it from what it returned.
                let state = accumulators[a].state()?;
                let state: Vec<ArrayRef> = state
                    .iter()
                    .map(|s| s.to_array())
                    .collect::<Result<_, _>>()?;
                let mut restored = aggregate.function.create_accumulator()?;
                restored.merge_batch(&state)?;
                accumulators[a] = restored;
                merged.merge_batch(&state)?;
            }
            Ok(merged.evaluate()?)
        }
    }
}

/// One partial state per slot, from the aggregate's groups accumulator over its arguments
/// `args` (and its FILTER's value) of the rows assigned to `slots`.
fn batch_states(
    aggregate: &Aggregate,
    args: &[ArrayRef],
    filter: Option<&BooleanArray>,
    slots: &[usize],
    n_slots: usize,
) -> Result<Vec<ArrayRef>, Error> {
    let function = &aggregate.function;
    // A groups accumulator's state can differ in format from its row accumulator's (the
    // approximate ones serialize sparsely), so only those known to match are used directly.
    let native = matches!(
        function.fun().name(),
        "count" | "sum" | "avg" | "min" | "max"
    );
    let mut accumulator: Box<dyn GroupsAccumulator> =
        if native && function.groups_accumulator_supported() {
            function.create_groups_accumulator()?
        } else {
            let function = Arc::clone(function);
            Box::new(GroupsAccumulatorAdapter::new(move || {
                function.create_accumulator()
            }))
        };
    accumulator.update_batch(args, slots, filter, n_slots)?;
    Ok(accumulator.state(EmitTo::All)?)
}

/// `batch` in the columns the query was compiled for: columns found by name, missing ones null.
/// A column whose type changed (a widening) cannot be evaluated by the compiled expressions.
pub(crate) fn adapt(batch: &RecordBatch, plan: &ContinuousPlan) -> Result<RecordBatch, Error> {
    let schema = &plan.input_schema;
    if batch.schema().fields() == schema.fields() {
        return Ok(batch.clone());
    }
    let columns = schema
        .fields()
        .iter()
        .map(|field| match batch.column_by_name(field.name()) {
            Some(column) if column.data_type() == field.data_type() => Ok(Arc::clone(column)),
            Some(column) => Err(Error::SchemaChanged {
                column: field.name().clone(),
                from: field.data_type().to_string(),
                to: column.data_type().to_string(),
            }),
            None => Ok(new_null_array(field.data_type(), batch.num_rows())),
        })
        .collect::<Result<Vec<_>, _>>()?;
    // Columns the query does not read are null here, whatever their declared nullability.
    let nullable: arrow::datatypes::Fields = schema
        .fields()
        .iter()
        .map(|f| Arc::new(f.as_ref().clone().with_nullable(true)))
        .collect();
    let schema = Arc::new(arrow::datatypes::Schema::new(nullable));
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// `expr` with its columns unqualified, to be planned over the bare stream.
fn unqualify(expr: &Expr) -> Expr {
    use datafusion::common::tree_node::{Transformed, TreeNode};
    expr.clone()
        .transform(|e| {
            Ok(match e {
                Expr::Column(c) => {
                    Transformed::yes(Expr::Column(datafusion::common::Column::from_name(c.name)))
                }
                other => Transformed::no(other),
            })
        })
        .map(|t| t.data)
        .unwrap_or_else(|_| expr.clone())
}
