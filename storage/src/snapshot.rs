//! A snapshot: one consistent view of a stream (a lake version plus the hot events after its
//! end offset), and the DataFusion table that scans it.
//!
//! ```text
//!   StreamTable::scan ─► UnionExec ─┬─ DataSourceExec (Parquet): the lake files left after
//!                                   │    pruning by the Delta log's statistics (and the row
//!                                   │    groups by bloom filters, for needles), with the filters
//!                                   │    as the Parquet predicate (row groups, pages, rows)
//!                                   └─ DataSourceExec (memory): the hot batches
//! ```

use std::sync::Arc;

use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use datafusion::catalog::{SchemaProvider, Session, TableProvider};
use datafusion::common::stats::Precision;
use datafusion::common::{DFSchema, ScalarValue, Statistics};
use datafusion::datasource::TableType;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::physical_plan::parquet::{ParquetAccessPlan, RowGroupAccess};
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_optimizer::pruning::PruningPredicateBuilder;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::union::UnionExec;

use crate::lake::{DataFile, LakeState};
use crate::{Offset, Store, StreamName, TIME_COLUMN};

/// Every retained event of a stream below `end`: the lake version holds those below `start` (its
/// end), the hot batches hold `[start, end)`. Later appends, tierings and compactions never
/// change a snapshot.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub(crate) stream: StreamName,
    pub(crate) schema: SchemaRef,
    pub(crate) lake: LakeState,
    pub(crate) start: Offset,
    pub(crate) batches: Vec<RecordBatch>,
    pub(crate) end: Offset,
}

impl Snapshot {
    pub fn stream(&self) -> &StreamName {
        &self.stream
    }

    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The first offset held in the hot tier (the lake holds everything before it).
    pub fn start(&self) -> Offset {
        self.start
    }

    /// One past the last offset the snapshot holds.
    pub fn end(&self) -> Offset {
        self.end
    }

    /// The hot batches: events `[start, end)`.
    pub fn batches(&self) -> &[RecordBatch] {
        &self.batches
    }

    /// The Delta table version the snapshot reads, if the stream has been tiered.
    pub fn lake_version(&self) -> Option<u64> {
        self.lake.version
    }

    /// The lake files the snapshot reads.
    pub fn lake_files(&self) -> Vec<std::path::PathBuf> {
        self.lake
            .files
            .files(None)
            .into_iter()
            .map(|f| f.path)
            .collect()
    }

    /// A DataFusion table over this snapshot.
    pub fn into_table(self) -> Arc<dyn TableProvider> {
        Arc::new(StreamTable { snapshot: self })
    }

    /// The snapshot a table made by [`Snapshot::into_table`] reads (`None` for other tables).
    pub fn of_table(table: &dyn TableProvider) -> Option<&Snapshot> {
        table.downcast_ref::<StreamTable>().map(|t| &t.snapshot)
    }
}

/// The DataFusion table of one snapshot.
#[derive(Debug)]
struct StreamTable {
    snapshot: Snapshot,
}

#[async_trait::async_trait]
impl TableProvider for StreamTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.snapshot.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    /// Filters prune lake files and row groups but are applied again above the scan.
    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let schema = &self.snapshot.schema;
        let partitions = state.config().target_partitions().max(1);
        let mut inputs: Vec<Arc<dyn ExecutionPlan>> = Vec::new();
        if self.snapshot.lake.files.len() > 0 {
            let predicate = match conjunction(filters.iter().cloned()) {
                Some(expr) => {
                    let df_schema = DFSchema::try_from(Arc::clone(schema))?;
                    Some(state.create_physical_expr(expr, &df_schema)?)
                }
                None => None,
            };
            // `None` when nothing in the filters can prune (then every file is read).
            let pruning = predicate.as_ref().and_then(|predicate| {
                PruningPredicateBuilder::new()
                    .with_file_schema(Arc::clone(schema))
                    .build(Arc::clone(predicate))
            });
            let keep = match pruning {
                Some(pruning) => Some(pruning.prune(self.snapshot.lake.files.as_ref())?),
                None => None,
            };
            let files = self.snapshot.lake.files.files(keep.as_deref());
            let mut files = self.needle_row_groups(files, filters).await?;
            if !files.is_empty() {
                // Newest first, dealt round-robin: every partition starts with the newest files,
                // so a `ORDER BY _time DESC LIMIT k` has its k rows after the first files and
                // its dynamic filter skips the rest by their `_time` bounds, unopened.
                files.sort_by_key(|(f, _, _)| std::cmp::Reverse(f.time.map(|(_, max)| max)));
                let mut groups: Vec<Vec<PartitionedFile>> =
                    vec![Vec::new(); partitions.min(files.len())];
                let n_groups = groups.len();
                for (idx, (file, row_groups, read_schema)) in files.into_iter().enumerate() {
                    let mut file = partitioned_file(schema, file);
                    if let Some(read_schema) = read_schema {
                        file = file.with_arrow_schema(read_schema);
                    }
                    if let Some(row_groups) = row_groups {
                        file = file.with_extension(ParquetAccessPlan::new(
                            row_groups
                                .into_iter()
                                .map(|keep| match keep {
                                    true => RowGroupAccess::Scan,
                                    false => RowGroupAccess::Skip,
                                })
                                .collect(),
                        ));
                    }
                    groups[idx % n_groups].push(file);
                }
                let mut source = ParquetSource::new(Arc::clone(schema))
                    .with_table_parquet_options(state.table_options().parquet.clone())
                    .with_enable_page_index(true);
                // With filter pushdown on, the optimizer moves the filter above the scan into
                // it (and prunes by it): set here too, every condition would be evaluated twice.
                if let Some(predicate) = predicate
                    && !state.config_options().execution.parquet.pushdown_filters
                {
                    source = source.with_predicate(predicate);
                }
                let config = FileScanConfigBuilder::new(
                    ObjectStoreUrl::local_filesystem(),
                    Arc::new(source),
                )
                .with_file_groups(groups.into_iter().map(FileGroup::new).collect())
                .with_projection_indices(projection.cloned())?
                .with_limit(limit)
                .build();
                let format =
                    ParquetFormat::default().with_options(state.table_options().parquet.clone());
                inputs.push(format.create_physical_plan(state, config).await?);
            }
        }
        let hot = &self.snapshot.batches;
        let per_partition = hot.len().div_ceil(partitions).max(1);
        let chunks: Vec<Vec<RecordBatch>> = if hot.is_empty() {
            vec![vec![]]
        } else {
            hot.chunks(per_partition)
                .map(<[RecordBatch]>::to_vec)
                .collect()
        };
        let memory = MemorySourceConfig::try_new(&chunks, Arc::clone(schema), projection.cloned())?
            .with_limit(limit);
        inputs.push(datafusion::datasource::source::DataSourceExec::from_data_source(memory));
        UnionExec::try_new(inputs)
    }
}

impl StreamTable {
    /// The files with the row groups of each that may hold the needles among `filters` (`None`:
    /// all of them), without the files where none may, and the types to read each one's columns
    /// as (`None`: its footer says nothing, the scan reads what the file says).
    async fn needle_row_groups(
        &self,
        files: Vec<DataFile>,
        filters: &[Expr],
    ) -> DfResult<Vec<(DataFile, Option<Vec<bool>>, Option<SchemaRef>)>> {
        let needles = crate::lake::needles(filters, &self.snapshot.schema);
        let blooms = Arc::clone(&self.snapshot.lake.blooms);
        // Footers and filter blocks are read from disk (once a file: they are cached): off the
        // query's threads.
        tokio::task::spawn_blocking(move || {
            files
                .into_iter()
                .filter_map(|file| {
                    let row_groups = match needles.is_empty() {
                        true => None,
                        false => match blooms.row_groups(&file.path, &needles) {
                            Some(row_groups) if !row_groups.contains(&true) => return None,
                            row_groups => row_groups,
                        },
                    };
                    let read_schema = blooms.read_schema(&file.path);
                    Some((file, row_groups, read_schema))
                })
                .collect()
        })
        .await
        .map_err(|e| DataFusionError::External(Box::new(e)))
    }
}

/// A lake file as DataFusion scans it: with the `_time` bounds of the Delta log as its
/// statistics, which the Parquet opener prunes it by (a dynamic filter's bound too). The bounds
/// are marked exact because pruning takes only exact ones; they are bounds (the maximum is
/// widened), and the scan's own statistics stay unknown, so no aggregate is answered from them.
fn partitioned_file(schema: &SchemaRef, file: DataFile) -> PartitionedFile {
    let path = file.path.to_string_lossy().into_owned();
    let partitioned = PartitionedFile::new(path, file.size);
    let (Some((min, max)), Ok(idx)) = (file.time, schema.index_of(TIME_COLUMN)) else {
        return partitioned;
    };
    let DataType::Timestamp(TimeUnit::Microsecond, tz) = schema.field(idx).data_type() else {
        return partitioned;
    };
    let mut statistics = Statistics::new_unknown(schema);
    if let Some(rows) = file.rows {
        statistics.num_rows = Precision::Exact(rows as usize);
    }
    let bound = |v: i64| Precision::Exact(ScalarValue::TimestampMicrosecond(Some(v), tz.clone()));
    let time = &mut statistics.column_statistics[idx];
    time.min_value = bound(min);
    time.max_value = bound(max);
    // Every event has a `_time` (the store refuses a batch without): a dynamic filter's
    // `_time IS NULL OR _time > t` can prune only knowing that.
    time.null_count = Precision::Exact(0);
    partitioned.with_statistics(Arc::new(statistics))
}

/// The store as a DataFusion schema: every stream is a table, snapshotted when a query names it.
#[derive(Debug)]
pub(crate) struct StoreSchema {
    pub(crate) store: Arc<Store>,
}

#[async_trait::async_trait]
impl SchemaProvider for StoreSchema {
    fn table_names(&self) -> Vec<String> {
        self.store
            .stream_names()
            .into_iter()
            .map(|name| name.as_str().to_owned())
            .collect()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let Ok(stream) = StreamName::new(name) else {
            return Ok(None);
        };
        match self.store.snapshot(&stream) {
            Ok(snapshot) => Ok(Some(snapshot.into_table())),
            Err(crate::Error::StreamNotFound { .. }) => Ok(None),
            Err(err) => Err(DataFusionError::External(Box::new(err))),
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        StreamName::new(name).is_ok_and(|stream| self.store.has_stream(&stream))
    }
}
