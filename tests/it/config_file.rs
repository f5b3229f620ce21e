//! The documented example configuration is valid as shipped.

#[test]
fn the_example_file_loads() {
    let overrides = tessera::config::Overrides {
        config: Some(concat!(env!("CARGO_MANIFEST_DIR"), "/tessera.example.toml").into()),
        ..Default::default()
    };
    let config = tessera::config::Config::load_with(&overrides, |_| None).unwrap();
    assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(config.bcrypt_cost, 12);
    assert!(config.bootstrap_admin.is_none());
    assert_eq!(config.access_token_ttl.as_secs(), 300);
    assert_eq!(config.keys_reload.as_secs(), 2);
    assert!(config.rotation_interval.is_none());
}
