//! Resolving the configuration: flags, environment, file and defaults.

use super::*;

/// The flags of `args`, read without the process environment (clap
/// would fill unset flags from `LETTA_*` variables of whoever runs the
/// tests).
fn cli(args: &[&str]) -> Cli {
    let mut argv = vec!["letta-daemon"];
    argv.extend_from_slice(args);
    let command = <Cli as clap::CommandFactory>::command().mut_args(|arg| arg.env(None::<&str>));
    let matches = command.try_get_matches_from(argv).unwrap();
    <Cli as clap::FromArgMatches>::from_arg_matches(&matches).unwrap()
}

/// A user with an empty home and no API key.
fn user(home: &std::path::Path) -> UserEnvironment {
    UserEnvironment {
        api_key: None,
        home: Some(home.to_path_buf()),
        vars: BTreeMap::new(),
    }
}

#[test]
fn listen_addresses() {
    assert_eq!(parse_listen("ws://127.0.0.1:4500").unwrap().port(), 4500);
    assert!(parse_listen("ws://localhost:0").unwrap().ip().is_loopback());
    assert!(parse_listen("ws://[::1]:9/").unwrap().ip().is_loopback());
    assert!(parse_listen("127.0.0.1:80").is_ok());
    for bad in [
        "ws://example.com:1",
        "ws://127.0.0.1",
        "wss://127.0.0.1:1",
        "ws://1.2.3.4:1/x",
        "ws://127.0.0.1:70000",
    ] {
        assert!(parse_listen(bad).is_err(), "{bad} should be refused");
    }
}

#[test]
fn flags_beat_file_and_file_beats_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("daemon.toml");
    std::fs::write(
        &file,
        "listen = \"ws://127.0.0.1:7000\"\nlog_format = \"json\"\nmax_message_bytes = 4096\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let data_arg = data.to_str().unwrap();
    let config = Config::resolve(
        cli(&[
            "--config",
            file.to_str().unwrap(),
            "--data-dir",
            data_arg,
            "--listen",
            "ws://127.0.0.1:7001",
        ]),
        user(dir.path()),
    )
    .unwrap();
    assert_eq!(config.listen.port(), 7001);
    assert_eq!(config.log_format, LogFormat::Json);
    assert_eq!(config.max_message_bytes, 4096);
    assert_eq!(config.socket, data.join("daemon.sock"));
    assert_eq!(config.letta.base_url, DEFAULT_LOCAL_LETTA_URL);
}

#[test]
fn bad_settings_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let err = Config::resolve(
        cli(&["--data-dir", data, "--listen", "ws://0.0.0.0:1"]),
        user(dir.path()),
    )
    .unwrap_err();
    assert!(
        matches!(err, ConfigError::NonLoopbackWithoutToken { .. }),
        "{err}"
    );

    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "lisen = \"ws://127.0.0.1:1\"\n").unwrap();
    let err = Config::resolve(
        cli(&["--config", file.to_str().unwrap(), "--data-dir", data]),
        user(dir.path()),
    )
    .unwrap_err();
    assert!(err.to_string().contains("lisen"), "{err}");

    let token = dir.path().join("token");
    std::fs::write(&token, "  \n").unwrap();
    let err = Config::resolve(
        cli(&[
            "--data-dir",
            data,
            "--auth-token-file",
            token.to_str().unwrap(),
        ]),
        user(dir.path()),
    )
    .unwrap_err();
    assert!(matches!(err, ConfigError::EmptyToken { .. }), "{err}");
}

#[test]
fn one_async_thread_unless_told_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let config = Config::resolve(cli(&["--data-dir", data]), user(dir.path())).unwrap();
    assert_eq!(config.worker_threads, 1);
    let config = Config::resolve(
        cli(&["--data-dir", data, "--worker-threads", "4"]),
        user(dir.path()),
    )
    .unwrap();
    assert_eq!(config.worker_threads, 4);
    for bad in ["0", "65"] {
        let err = Config::resolve(
            cli(&["--data-dir", data, "--worker-threads", bad]),
            user(dir.path()),
        )
        .unwrap_err();
        assert!(matches!(err, ConfigError::WorkerThreads(_)), "{err}");
        assert!(err.to_string().contains("from 1 to 64"), "{err}");
    }
}

#[test]
fn api_key_picks_the_cloud_and_never_prints() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::resolve(
        cli(&["--data-dir", dir.path().to_str().unwrap()]),
        UserEnvironment {
            api_key: Some("sk-let-secret".into()),
            ..user(dir.path())
        },
    )
    .unwrap();
    assert_eq!(config.letta.base_url, DEFAULT_CLOUD_LETTA_URL);
    assert!(!format!("{config:?}").contains("sk-let-secret"));
}

#[test]
fn agents_live_locally_unless_a_letta_server_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let data = ["--data-dir", dir.path().to_str().unwrap()];
    let resolve = |extra: &[&str], user: UserEnvironment| {
        let mut args = data.to_vec();
        args.extend_from_slice(extra);
        Config::resolve(cli(&args), user)
    };
    let fresh = resolve(&[], user(dir.path())).unwrap();
    assert_eq!(fresh.backend, BackendKind::Local);
    assert!(!fresh.letta.configured);
    assert_eq!(fresh.local.max_steps, DEFAULT_MAX_STEPS);
    let named = resolve(
        &["--letta-base-url", "http://10.0.0.1:8283"],
        user(dir.path()),
    )
    .unwrap();
    assert_eq!(named.backend, BackendKind::Api);
    let keyed = UserEnvironment {
        api_key: Some("sk-let-x".into()),
        ..user(dir.path())
    };
    assert_eq!(
        resolve(&[], keyed.clone()).unwrap().backend,
        BackendKind::Api
    );
    let overridden = resolve(&["--backend", "local"], keyed).unwrap();
    assert_eq!(overridden.backend, BackendKind::Local);
    assert!(overridden.letta.configured);
    assert!(matches!(
        resolve(&["--compaction-threshold", "0.99"], user(dir.path())),
        Err(ConfigError::CompactionThreshold(_))
    ));
    assert!(matches!(
        resolve(&["--default-model", "gpt-4.1"], user(dir.path())),
        Err(ConfigError::DefaultModel(_))
    ));
}

#[test]
fn the_users_home_holds_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(".letta")).unwrap();
    std::fs::write(
        dir.path().join(".letta/daemon.toml"),
        "letta_base_url = \"http://127.0.0.1:9\"\n",
    )
    .unwrap();
    let config = Config::resolve(cli(&[]), user(dir.path())).unwrap();
    assert_eq!(config.data_dir, dir.path().join(".letta/daemon"));
    assert_eq!(config.letta.base_url, "http://127.0.0.1:9");
}
