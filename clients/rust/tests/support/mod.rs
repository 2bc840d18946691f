//! A real `median-server` on a loopback port for the library's tests, and test certificates.
//!
//! The server is the repository's (`.venv/bin/median-server`, made by `make venv generate` at
//! the top; `make -C clients/rust test` runs that first). It logs `listening on HOST:PORT` on
//! standard error once it serves; a thread keeps reading its log so that the pipe never fills.

#![allow(dead_code)] // each test file uses its own part of this module

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a server may take to start on this shared, busy machine.
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// The bearer token that servers started with [`Certificates::tls_server_flags`] accept.
pub const TOKEN: &str = "0123456789abcdef0123456789abcdef";

pub fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A running server; killed when dropped.
pub struct Server {
    child: Child,
    pub port: u16,
    args: Vec<String>,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts a server on a free port ([`free_port`]) with `args` (flags of `median-server`).
    pub fn start(args: &[&str]) -> Server {
        Server::start_on(
            free_port(),
            args.iter().map(|arg| arg.to_string()).collect(),
        )
    }

    /// Starts a server on `port` (e.g. one of [`free_port`]) with `args`.
    pub fn start_at(port: u16, args: &[&str]) -> Server {
        Server::start_on(port, args.iter().map(|arg| arg.to_string()).collect())
    }

    fn start_on(port: u16, args: Vec<String>) -> Server {
        let program = repository().join(".venv/bin/median-server");
        assert!(
            program.exists(),
            "{} is missing: run `make venv generate` at the top of the repository",
            program.display()
        );
        let mut child = Command::new(&program)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("median-server starts");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (listening, port_told) = mpsc::channel();
        let stderr = child.stderr.take().expect("piped");
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some((_, address)) = line.split_once("listening on ") {
                    let address = address.split_whitespace().next().unwrap_or_default();
                    let port = address
                        .rsplit(':')
                        .next()
                        .and_then(|p| p.parse::<u16>().ok());
                    let _ = listening.send(port);
                }
                lines.lock().unwrap().push(line);
            }
        });
        let port = match port_told.recv_timeout(START_TIMEOUT) {
            Ok(Some(port)) => port,
            _ => {
                let _ = child.kill();
                panic!("median-server did not start: {:?}", log.lock().unwrap());
            }
        };
        Server {
            child,
            port,
            args,
            log,
        }
    }

    /// `HOST:PORT` of the server.
    pub fn target(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `localhost:PORT`, the name the test server certificate carries.
    pub fn tls_target(&self) -> String {
        format!("localhost:{}", self.port)
    }

    /// SIGKILL: no goodbye to the clients, nothing flushed that was not committed.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// A new server on the same port with the same flags (e.g. the same `--data-dir`).
    pub fn restart(&mut self) {
        self.kill();
        let fresh = Server::start_on(self.port, self.args.clone());
        *self = fresh;
    }

    /// Every line the server has logged so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Waits until the server has logged a line that contains every one of `parts` (it logs on
    /// its own time, and a thread reads it): true once it has, false after 30 s.
    pub fn logged(&self, parts: &[&str]) -> bool {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let matches = |line: &String| parts.iter().all(|part| line.contains(part));
            if self.log.lock().unwrap().iter().any(matches) {
                return true;
            }
            if std::time::Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A loopback port in 20000..31999 that nothing listens on right now.
///
/// Not the kernel's pick for port 0: that comes from the ephemeral range (32768 and up), from
/// which every outgoing connection takes its local port, so a port of that range that was free when
/// the server first bound it may be a connection's by the time the test restarts the server on it.
pub fn free_port() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    for _ in 0..1000 {
        // A random draw from std alone: RandomState is seeded randomly per instance.
        let random = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let port = 20_000 + (random % 12_000) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between 20000 and 32000 on 127.0.0.1");
}

/// A fresh folder under the system's temporary folder, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let unique = median_client::new_id().unwrap();
        let path = std::env::temp_dir().join(format!("median-rust-{name}-{unique}"));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self, file: &str) -> String {
        self.0.join(file).to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The test certificates of the repository's tests/certs.py (one place makes them for every
/// language), as PEM files in a fresh folder: `ca.pem` signed `server.pem`/`server.key` (for
/// localhost, 127.0.0.1 and ::1) and `client.pem`/`client.key`; `other-ca.pem` signed
/// `other-client.pem`/`other-client.key`, nothing the server trusts. P-256 keys, two days.
pub struct Certificates {
    pub dir: TempDir,
}

impl Certificates {
    /// Runs tests/certs.py with the repository's `.venv/bin/python` (made by `make venv` at the
    /// top; `make -C clients/rust test` makes it first); panics with its output if it fails.
    pub fn make() -> Certificates {
        let dir = TempDir::new("certs");
        let python = repository().join(".venv/bin/python");
        assert!(
            python.exists(),
            "{} is missing: run `make venv` at the top of the repository",
            python.display()
        );
        let output = Command::new(&python)
            .args([
                "-c",
                "import sys; from pathlib import Path; from tests.certs import make_certificates; \
                 make_certificates(Path(sys.argv[1]))",
            ])
            .arg(&dir.0)
            .current_dir(repository())
            .output()
            .expect("the repository's python runs");
        assert!(
            output.status.success(),
            "tests/certs.py failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        Certificates { dir }
    }

    pub fn path(&self, file: &str) -> String {
        self.dir.path(file)
    }

    pub fn read(&self, file: &str) -> Vec<u8> {
        std::fs::read(self.dir.0.join(file)).unwrap()
    }

    /// Flags of a `median-server` that serves TLS with `server.pem` and accepts [`TOKEN`] only
    /// (from a `tokens` file it writes beside the certificates).
    pub fn tls_server_flags(&self) -> Vec<String> {
        let tokens = self.path("tokens");
        std::fs::write(&tokens, format!("{TOKEN} tenant-a\n")).unwrap();
        let (cert, key) = (self.path("server.pem"), self.path("server.key"));
        [
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
            "--auth-tokens",
            &tokens,
        ]
        .map(String::from)
        .into()
    }
}

/// The median of `numbers` the way the service defines it: the middle number, or the mean of
/// the two middle numbers (as `a + (b - a) / 2`, which cannot overflow).
pub fn reference_median(numbers: &[f64]) -> f64 {
    let mut sorted = numbers.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[middle]
    } else {
        let (low, high) = (sorted[middle - 1], sorted[middle]);
        low / 2.0 + high / 2.0
    }
}

/// Numbers that no two requests share and whose median is not a round value: a fixed
/// pseudo-random sequence (xorshift), so that a number counted twice or lost moves the median.
pub fn numbers(count: usize, seed: u64) -> Vec<f64> {
    let mut state = seed | 1;
    (0..count)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64 * 2e6 - 1e6
        })
        .collect()
}
