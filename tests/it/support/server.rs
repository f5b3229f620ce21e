//! The real `tessera serve` on a free port, for tests of start-up, shutdown, logs and
//! outages that the in-process app cannot show.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{binary, TestDb};

impl TestDb {
    /// A real `tessera serve` on this database, with extra environment.
    pub fn server(&self, extra: &[(&str, &str)]) -> Server {
        let mut env = self.env();
        env.extend_from_slice(extra);
        Server::start_with(self.dir.path(), &self.url, &env)
    }
}

/// A real `tessera serve` on a free port; stopped with SIGTERM on drop.
pub struct Server {
    child: std::process::Child,
    pub addr: String,
    /// Every line the server logged so far.
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Server {
    pub fn start(dir: &std::path::Path, database_url: &str) -> Self {
        Self::start_with(dir, database_url, &[])
    }

    pub fn start_with(dir: &std::path::Path, database_url: &str, env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(binary())
            .current_dir(dir)
            .env("TESSERA_DATABASE_URL", database_url)
            .env("TESSERA_LISTEN", "127.0.0.1:0")
            .env("TESSERA_BCRYPT_COST", "4")
            .env("TESSERA_WORKERS", "1")
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tessera serve");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let lines = log.clone();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(mut lines) = lines.lock() {
                    lines.push(line.clone());
                }
                if !sent {
                    if let Some(addr) = line.split("listening on http://").nth(1) {
                        let _ = tx.send(addr.trim().to_owned());
                        sent = true;
                    }
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => addr,
            Err(e) => {
                std::thread::sleep(Duration::from_millis(200));
                let lines = log.lock().map(|l| l.join("\n")).unwrap_or_default();
                panic!("server did not start ({e}); it said:\n{lines}");
            }
        };
        Self { child, addr, log }
    }

    /// How many logged lines contain `needle`.
    pub fn log_count(&self, needle: &str) -> usize {
        self.log
            .lock()
            .map(|l| l.iter().filter(|line| line.contains(needle)).count())
            .unwrap_or(0)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Sends SIGTERM and waits (bounded) for a clean exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "server did not stop after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
