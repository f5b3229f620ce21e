//! The service as `serve` would build it over a test's database: its configuration and
//! application state.

use super::TestDb;

impl TestDb {
    /// The configuration a server on this database would load (no environment).
    pub fn config(&self) -> tessera::config::Config {
        let overrides = tessera::config::Overrides {
            database_url: Some(self.url.clone()),
            migration_database_url: self.migration_url.clone(),
            keys_dir: Some(self.dir.path().join("keys")),
            ..Default::default()
        };
        let mut config = tessera::config::Config::load_with(&overrides, |name| {
            (name == "TESSERA_BCRYPT_COST").then(|| "4".to_owned())
        })
        .expect("test config");
        config.workers = 1;
        // Tests log in many times from one (absent) address; the throttle has its own.
        config.login_rate_per_minute = 0;
        config
    }

    /// The application state `serve` would build, over a migrated pool.
    pub fn state(&self) -> tessera::http::AppState {
        self.state_with(|_| {})
    }

    /// [`Self::state`] with the configuration adjusted first.
    pub fn state_with(
        &self,
        adjust: impl FnOnce(&mut tessera::config::Config),
    ) -> tessera::http::AppState {
        let mut config = self.config();
        adjust(&mut config);
        let pool = self.pool();
        let mut conn = pool.get().expect("connection");
        tessera::keys::init(
            &mut conn,
            &config.keys_dir,
            config.signing_alg,
            &tessera::audit::Origin::system(),
        )
        .expect("keys");
        let keys = tessera::keys::Keys::open(&config.keys_dir).expect("open keys");
        let workers = match config.bcrypt_workers {
            0 => 2,
            n => n,
        };
        let hasher = tessera::users::password::Hasher::start(
            workers,
            config.bcrypt_queue,
            config.bcrypt_cost,
        )
        .expect("hasher");
        tessera::http::AppState::new(pool, config, keys, hasher).expect("state")
    }
}
