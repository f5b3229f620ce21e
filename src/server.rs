//! The composition root: everything `tessera serve` starts, in order. Migrations run
//! before the pool opens its connections; the bootstrap admin and the first keys are
//! created before the first request can arrive; the background threads stop when the
//! HTTP server has drained.

use std::sync::mpsc;

use crate::audit::Origin;
use crate::config::Config;
use crate::error::Error;
use crate::keys::{self, Keys};
use crate::state::AppState;
use crate::users::password::Hasher;
use crate::{bootstrap, db, housekeeping};

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("database: {0}")]
    Database(#[source] Error),
    #[error("migrations: {0}")]
    Migrate(String),
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    #[error("signing keys: {0}")]
    Keys(#[from] keys::KeyError),
    #[error("server: {0}")]
    Http(#[from] std::io::Error),
}

/// Migrates, opens the pool, creates the bootstrap admin and the first keys if needed,
/// starts the shared services and background threads, and serves until SIGINT/SIGTERM.
pub fn serve(config: Config) -> Result<(), ServeError> {
    let ran = migrate(&config)?;
    if ran > 0 {
        log::info!("applied {ran} migration(s)");
    }
    let pool = db::pool(&config.database_url, config.db_pool_size, config.db_timeout)
        .map_err(|e| ServeError::Connect(e.to_string()))?;
    if bootstrap::ensure_platform_admin(&pool, &config).map_err(ServeError::Database)? {
        log::info!("created the bootstrap platform admin");
    }
    let mut conn = pool.get().map_err(|e| ServeError::Connect(e.to_string()))?;
    if keys::init(
        &mut conn,
        &config.keys_dir,
        config.signing_alg,
        &Origin::system(),
    )? {
        log::info!("created signing keys in {}", config.keys_dir.display());
    }
    drop(conn);
    let keys = Keys::open(&config.keys_dir)?;
    log::info!(
        "starting with {:?}, active signing key {}",
        config.database_url,
        keys.current().active().kid
    );
    let hasher = Hasher::start(
        config.bcrypt_workers,
        config.bcrypt_queue,
        config.bcrypt_cost,
    )
    .map_err(ServeError::Database)?;
    let state = AppState::new(pool, config, keys, hasher).map_err(ServeError::Database)?;

    // Each thread ends as soon as its sender is dropped (below, once HTTP has drained).
    let (upkeep_stop_tx, upkeep_stop) = mpsc::channel::<()>();
    let (housekeeping_stop_tx, housekeeping_stop) = mpsc::channel::<()>();
    let upkeep = {
        let (pool, keys) = (state.pool.clone(), state.keys.clone());
        let (policy, every) = (state.config.key_policy(), state.config.keys_reload);
        std::thread::Builder::new()
            .name("key-upkeep".into())
            .spawn(move || keys::upkeep::run(&pool, &keys, &policy, every, &upkeep_stop))?
    };
    let sweeper = {
        let state = state.clone();
        std::thread::Builder::new()
            .name("housekeeping".into())
            .spawn(move || {
                crate::periodic::every(state.config.purge_interval, &housekeeping_stop, || {
                    housekeeping::run_once(&state.pool, state.config.idempotency_window);
                    state.throttle.forget_idle();
                });
            })?
    };
    let (streams_stop_tx, streams_stop) = mpsc::channel::<()>();
    let streams = {
        let state = state.clone();
        std::thread::Builder::new()
            .name("streams".into())
            .spawn(move || crate::streams::deliver::run(&state, &streams_stop))?
    };
    let served = crate::http::run(state);
    drop((upkeep_stop_tx, housekeeping_stop_tx, streams_stop_tx));
    let _ = upkeep.join();
    let _ = sweeper.join();
    let _ = streams.join();
    Ok(served?)
}

/// Brings the schema up to date, as `migration_database_url` (the owner role) when it
/// is set, else as `database_url`. Returns how many migrations ran.
pub fn migrate(config: &Config) -> Result<usize, ServeError> {
    let url = config
        .migration_database_url
        .as_ref()
        .unwrap_or(&config.database_url);
    let mut conn = db::connect(url).map_err(|e| ServeError::Connect(e.to_string()))?;
    db::migrate(&mut conn).map_err(ServeError::Migrate)
}
