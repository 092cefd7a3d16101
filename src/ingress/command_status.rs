//! `GET /v1/commands/{id}`: what became of a command, long-polled until the processor commits it.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ingress::auth::Caller;
use crate::ingress::orders::ReadErrors;
use crate::ingress::params;
use crate::ingress::{ApiError, AppState};

/// What became of a command.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct CommandView {
    command_id: Uuid,
    order_id: Option<Uuid>,
    /// CreateOrder, UpdateOrder, ...
    command: Option<String>,
    /// pending, applied or rejected.
    status: String,
    /// The order's version after the command (applied only).
    version: Option<i64>,
    /// When the processor applied or rejected it: stamped as its outcome is written, just
    /// before its batch commits.
    handled_at: Option<chrono::DateTime<chrono::Utc>>,
    rejection: Option<RejectionView>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct RejectionView {
    /// A stable rejection code (topology.md lists them).
    code: String,
    message: String,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct WaitQuery {
    /// Long-poll: wait up to this long (e.g. `5s`; at most 30 s, and at most a second below
    /// the server's request timeout) for the command to be handled.
    wait: Option<String>,
}

/// What became of a command: pending, applied (with the version) or rejected (code, message).
#[utoipa::path(get, path = "/v1/commands/{id}", tag = "commands",
    params(("id" = Uuid, Path, description = "Command id"), WaitQuery),
    responses((status = 200, description = "The command's status", body = CommandView), ReadErrors)
)]
pub(crate) async fn command(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    query: Result<Query<WaitQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadQuery(e.body_text()))?;
    let command_id = Uuid::parse_str(&id)
        .map_err(|e| ApiError::BadPath(format!("command id {id:?} is not a UUID: {e}")))?;
    let wait = query
        .wait
        .as_deref()
        .map(params::wait)
        .transpose()?
        .unwrap_or_default()
        .min(state.max_wait);
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        // Registered before the query, so a commit between the query and the wait wakes it.
        let handled = state.commands_handled.notified();
        tokio::pin!(handled);
        handled.as_mut().enable();
        let status = state
            .store
            .command_status(command_id, caller.storefront.as_str())
            .await
            .map_err(ApiError::from_store)?;
        if let Some(status) = status {
            let view = CommandView {
                command_id,
                order_id: Some(status.order_id),
                command: Some(status.command_type),
                status: status.outcome,
                version: status.version,
                handled_at: Some(status.processed_at),
                rejection: status.rejection_code.map(|code| RejectionView {
                    code,
                    message: status.rejection_msg.unwrap_or_default(),
                }),
            };
            return Ok(axum::Json(view).into_response());
        }
        if tokio::time::Instant::now() >= deadline {
            // Not handled yet (or not this storefront's): it may still be on its way.
            return Ok(axum::Json(
                serde_json::json!({ "command_id": command_id, "status": "pending" }),
            )
            .into_response());
        }
        let fallback = (tokio::time::Instant::now() + super::wakeups::FALLBACK_POLL).min(deadline);
        tokio::select! {
            () = &mut handled => {}
            () = tokio::time::sleep_until(fallback) => {}
        }
    }
}
