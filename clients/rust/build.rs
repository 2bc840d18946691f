//! Generates the median.v1 messages and the MedianService client from the shared proto.
//!
//! prost-build needs a `protoc`; the Makefile points `PROTOC` at the repository's pinned one.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tonic_prost_build::configure()
        .build_server(false)
        .compile_protos(&["../../protos/median/v1/median.proto"], &["../../protos"])?;
    Ok(())
}
