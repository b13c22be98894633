//! The joining side of membership: a new node asks an existing member to admit
//! it, and a restarted node that is not a voter (or whose uri changed) asks
//! again in the background.

use std::time::Duration;

use tessera_proto::control_plane as cp;
use tessera_proto::control_plane::control_plane_client::ControlPlaneClient;
use tonic::Code;

use crate::grpc::JOIN_TIMEOUT;
use crate::raft::NodeId;
use crate::ControlPlaneError;
use tessera_runtime::internal_auth::internal;

/// How long a new node keeps trying to join before it gives up, so an
/// unreachable bootstrap member is reported instead of waited on forever.
pub const JOIN_DEADLINE: Duration = Duration::from_secs(60);
const RETRY_PERIOD: Duration = Duration::from_millis(500);
/// Lines a waiting node logs: one every this many attempts.
const LOG_EVERY: u32 = 10;

/// Who is asking to join.
#[derive(Clone)]
pub struct Joiner {
    pub node_id: NodeId,
    /// The uri to record; `None` lets the member derive it from the connection.
    pub uri: Option<String>,
    pub port: u16,
}

/// Why one attempt failed, and whether trying again can help.
struct Failure {
    message: String,
    retry: bool,
}

async fn ask(member: &str, joiner: &Joiner) -> Result<cp::JoinReply, Failure> {
    let endpoint = tessera_runtime::tls::endpoint(member).map_err(|e| Failure {
        message: e.to_string(),
        retry: false,
    })?;
    let channel = endpoint
        .connect_timeout(Duration::from_secs(2))
        .connect()
        .await
        .map_err(|e| Failure {
            message: format!("cannot connect: {e}"),
            retry: true,
        })?;
    let mut request = tonic::Request::new(cp::JoinRequest {
        node_id: joiner.node_id,
        uri: joiner.uri.clone(),
        port: u32::from(joiner.port),
    });
    // The member spends up to JOIN_TIMEOUT sending this node the log.
    request.set_timeout(JOIN_TIMEOUT + Duration::from_secs(5));
    match ControlPlaneClient::new(internal(channel))
        .join(request)
        .await
    {
        Ok(reply) => Ok(reply.into_inner()),
        Err(status) => Err(Failure {
            retry: matches!(
                status.code(),
                Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Unknown
            ),
            message: status.message().to_string(),
        }),
    }
}

/// Joins through `bootstrap`, trying again while it is unreachable or has no
/// leader, for up to JOIN_DEADLINE.
pub async fn join(bootstrap: &str, joiner: &Joiner) -> Result<cp::JoinReply, ControlPlaneError> {
    let deadline = tokio::time::Instant::now() + JOIN_DEADLINE;
    let mut attempts = 0u32;
    loop {
        let failure = match ask(bootstrap, joiner).await {
            Ok(reply) => return Ok(reply),
            Err(failure) => failure,
        };
        attempts += 1;
        if !failure.retry || tokio::time::Instant::now() + RETRY_PERIOD >= deadline {
            return Err(ControlPlaneError::Join {
                bootstrap: bootstrap.to_string(),
                reason: failure.message,
            });
        }
        if attempts % LOG_EVERY == 1 {
            tracing::info!(bootstrap, reason = %failure.message, "waiting to join the control plane");
        }
        tokio::time::sleep(RETRY_PERIOD).await;
    }
}

/// Asks each of `members` in turn until one admits this node; keeps trying
/// until it succeeds or the task is aborted.
pub async fn rejoin(members: Vec<String>, joiner: Joiner) {
    let mut attempts = 0u32;
    loop {
        for member in &members {
            match ask(member, &joiner).await {
                Ok(reply) => {
                    tracing::info!(
                        via = %member,
                        uri = %reply.uri,
                        voter = reply.voter,
                        "rejoined the control plane"
                    );
                    return;
                }
                Err(failure) => {
                    if attempts.is_multiple_of(LOG_EVERY) {
                        tracing::info!(via = %member, reason = %failure.message, "waiting to rejoin the control plane");
                    }
                }
            }
        }
        attempts += 1;
        tokio::time::sleep(RETRY_PERIOD).await;
    }
}
