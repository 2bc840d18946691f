//! Writes `../src/generated/median.v1.rs`, the median.v1 messages and MedianService client that
//! the median-client crate compiles from, generated from `protos/median/v1/median.proto` with
//! prost-build and tonic-prost-build (client only). Needs `PROTOC` (the Makefile gives the
//! repository's pinned protoc). `cargo test` here checks that the committed copy is current.

use std::path::{Path, PathBuf};

fn crate_folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The stubs as generated now from the proto.
fn generate() -> Result<String, Box<dyn std::error::Error>> {
    let repository = crate_folder().join("../..");
    let out = std::env::temp_dir().join(format!("median-stubgen-{}", std::process::id()));
    std::fs::create_dir_all(&out)?;
    let generated = tonic_prost_build::configure()
        .build_server(false)
        .out_dir(&out)
        .compile_protos(
            &[repository.join("protos/median/v1/median.proto")],
            &[repository.join("protos")],
        )
        .and_then(|()| std::fs::read_to_string(out.join("median.v1.rs")));
    std::fs::remove_dir_all(&out)?;
    Ok(generated?)
}

fn committed_path() -> PathBuf {
    crate_folder().join("src/generated/median.v1.rs")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    std::fs::write(committed_path(), generate()?)?;
    println!("wrote {}", committed_path().display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_stubs_match_the_proto() {
        let committed = std::fs::read_to_string(committed_path()).unwrap();
        assert!(
            generate().unwrap() == committed,
            "clients/rust/src/generated/median.v1.rs is out of date: run `make -C clients/rust stubs`"
        );
    }
}
