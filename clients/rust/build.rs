//! Generates the median.v1 messages and the MedianService client from the shared proto.
//!
//! prost-build needs a `protoc`; the Makefile points `PROTOC` at the repository's pinned one.

const PROTO: &str = "../../protos/median/v1/median.proto";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // prost-build names no inputs, and without any Cargo would rerun this script whenever any
    // file of the package changes.
    println!("cargo:rerun-if-changed={PROTO}");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PROTOC");
    tonic_prost_build::configure()
        .build_server(false)
        .compile_protos(&[PROTO], &["../../protos"])?;
    Ok(())
}
