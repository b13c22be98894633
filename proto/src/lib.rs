//! Tessera's internal gRPC contracts, generated from the .proto files beside
//! this crate, and their conversions to the shared domain types.

pub mod convert;
pub mod status;

pub mod common {
    tonic::include_proto!("tessera.common");
}
pub mod control_plane {
    tonic::include_proto!("tessera.control_plane");
}
pub mod data_plane {
    tonic::include_proto!("tessera.data_plane");
}
pub mod raft {
    tonic::include_proto!("tessera.raft");
}
