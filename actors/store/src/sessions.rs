//! Exec sessions: who ran what where, how it ended, and the capped recording an admin replays.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use crate::{Result, Store, StoreError, exec_session};

/// How a session ended, with what the recorder kept of it.
#[derive(Debug, Clone, Default)]
pub struct ExecEnd {
    pub end: String,
    pub exit_code: Option<i32>,
    pub total_bytes: i64,
    pub recorded_bytes: i64,
    pub truncated: bool,
    /// JSON lines, one frame each.
    pub recording: String,
}

#[derive(Debug, Clone, Default)]
pub struct SessionFilter {
    pub since: Option<chrono::DateTime<Utc>>,
    pub principal: Option<String>,
    pub limit: u64,
}

impl Store {
    pub async fn exec_session_start(&self, row: exec_session::Model) -> Result<()> {
        let am: exec_session::ActiveModel = row.into();
        exec_session::Entity::insert(am).exec(&self.db).await?;
        Ok(())
    }

    /// Completes a session once; a second end (another gateway's recorder) changes nothing.
    pub async fn exec_session_finish(&self, id: &str, end: ExecEnd) -> Result<()> {
        let Some(row) = exec_session::Entity::find_by_id(id).one(&self.db).await? else {
            return Err(StoreError::NotFound { what: "session", name: id.into() });
        };
        if row.ended_at.is_some() {
            return Ok(());
        }
        let mut am: exec_session::ActiveModel = row.into();
        am.ended_at = Set(Some(Utc::now()));
        am.end = Set(Some(end.end));
        am.exit_code = Set(end.exit_code);
        am.total_bytes = Set(end.total_bytes);
        am.recorded_bytes = Set(end.recorded_bytes);
        am.truncated = Set(end.truncated);
        am.recording = Set(Some(end.recording));
        am.update(&self.db).await?;
        Ok(())
    }

    /// Newest first, without the recordings.
    pub async fn exec_sessions(&self, org_id: &str, f: &SessionFilter) -> Result<Vec<exec_session::Model>> {
        let mut q = exec_session::Entity::find().filter(exec_session::Column::OrgId.eq(org_id));
        if let Some(s) = f.since {
            q = q.filter(exec_session::Column::StartedAt.gte(s));
        }
        if let Some(p) = &f.principal {
            q = q.filter(exec_session::Column::PrincipalName.eq(p.clone()));
        }
        let mut rows = q
            .order_by_desc(exec_session::Column::StartedAt)
            .limit(if f.limit == 0 { 100 } else { f.limit })
            .all(&self.db)
            .await?;
        for r in &mut rows {
            r.recording = None;
        }
        Ok(rows)
    }

    pub async fn exec_session(&self, org_id: &str, id: &str) -> Result<exec_session::Model> {
        exec_session::Entity::find_by_id(id)
            .filter(exec_session::Column::OrgId.eq(org_id))
            .one(&self.db)
            .await?
            .ok_or_else(|| StoreError::NotFound { what: "session", name: id.into() })
    }
}
