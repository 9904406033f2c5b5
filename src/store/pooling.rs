//! [`Db`]: the executor the store's statements run on, the same whatever sits in
//! front of PostgreSQL.
//!
//! Directly it is the pool. Behind PgBouncer's transaction pooling a server
//! session is ours only until a transaction ends, and outside an explicit
//! transaction every `Sync` ends one. sqlx sends a statement with arguments in
//! two exchanges (Parse and Describe, `Sync`; then Bind and Execute, `Sync`), so
//! the second could reach another session, where the statement does not exist.
//! There each statement runs in a transaction of its own (opened with the bounds,
//! see [`super::Database::begin_statement`]) and unnamed, so nothing of it
//! outlives the transaction.

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArguments, PgQueryResult, PgRow, PgStatement, PgTypeInfo};
use sqlx::{Describe, Either, Execute, Executor, PgPool, Postgres};

/// The pool, and how a statement must travel through what is in front of it.
#[derive(Debug, Clone)]
pub struct Db {
    pool: PgPool,
    /// `Some` behind a transaction pooler: what opens each statement's transaction.
    begin: Option<String>,
}

impl Db {
    pub(super) fn new(pool: PgPool, begin: Option<String>) -> Self {
        Self { pool, begin }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// A transaction: the pool's, opened with the bounds behind a pooler.
    pub async fn begin(&self) -> sqlx::Result<sqlx::Transaction<'static, Postgres>> {
        match &self.begin {
            None => self.pool.begin().await,
            Some(begin) => self.pool.begin_with(begin.clone()).await,
        }
    }

    /// A transaction whose statements the server cancels after `statement` and
    /// whose lock waits fail after `lock` (`None`: the session's own), for the
    /// background sweeps that must never hold the database long. `SET LOCAL`
    /// bounds end with the transaction, so this works behind a transaction pooler.
    pub async fn begin_bounded(
        &self,
        statement: std::time::Duration,
        lock: Option<std::time::Duration>,
    ) -> sqlx::Result<sqlx::Transaction<'static, Postgres>> {
        let ms = |d: std::time::Duration| d.as_millis().to_string();
        let mut tx = self.begin().await?;
        sqlx::query(
            "SELECT set_config('statement_timeout', $1, true),
                    set_config('lock_timeout', coalesce($2, current_setting('lock_timeout')), true)",
        )
        .bind(ms(statement))
        .bind(lock.map(ms))
        .persistent(false)
        .execute(&mut *tx)
        .await?;
        Ok(tx)
    }

    /// Runs `query` alone in a transaction, unnamed, and returns everything it answered.
    async fn alone<'q, E>(&self, query: E) -> sqlx::Result<Vec<Either<PgQueryResult, PgRow>>>
    where
        E: 'q + Execute<'q, Postgres>,
    {
        let mut tx = self.begin().await?;
        let answered = (&mut *tx).fetch_many(Unnamed(query)).try_collect().await?;
        tx.commit().await?;
        Ok(answered)
    }
}

/// A statement sent unnamed: parsed for this execution only.
struct Unnamed<E>(E);

impl<'q, E: Execute<'q, Postgres>> Execute<'q, Postgres> for Unnamed<E> {
    fn sql(&self) -> &'q str {
        self.0.sql()
    }
    fn statement(&self) -> Option<&PgStatement<'q>> {
        self.0.statement()
    }
    fn take_arguments(&mut self) -> Result<Option<PgArguments>, BoxDynError> {
        self.0.take_arguments()
    }
    fn persistent(&self) -> bool {
        false
    }
}

impl<'p> Executor<'p> for &'p Db {
    type Database = Postgres;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, sqlx::Result<Either<PgQueryResult, PgRow>>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        if self.begin.is_none() {
            return self.pool.fetch_many(query);
        }
        futures_util::stream::once(self.alone(query))
            .map_ok(|answered| futures_util::stream::iter(answered.into_iter().map(Ok)))
            .try_flatten()
            .boxed()
    }

    fn fetch_optional<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, sqlx::Result<Option<PgRow>>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        if self.begin.is_none() {
            return self.pool.fetch_optional(query);
        }
        Box::pin(async move {
            let answered = self.alone(query).await?;
            Ok(answered.into_iter().find_map(|item| item.right()))
        })
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        sql: &'q str,
        parameters: &'e [PgTypeInfo],
    ) -> BoxFuture<'e, sqlx::Result<PgStatement<'q>>>
    where
        'p: 'e,
    {
        self.pool.prepare_with(sql, parameters)
    }

    fn describe<'e, 'q: 'e>(self, sql: &'q str) -> BoxFuture<'e, sqlx::Result<Describe<Postgres>>>
    where
        'p: 'e,
    {
        self.pool.describe(sql)
    }
}
