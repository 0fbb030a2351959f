//! The Debian package (docs/install.md): built with `cargo deb` from the binary the tests
//! built, installed with `dpkg -i` on this machine, its files, owners, modes, user and unit
//! checked (`systemd-analyze verify`), the installed binary's `vigil check` run as the `vigil`
//! user against the installed configuration, then purged. Needs root (dpkg), cargo-deb and
//! systemd-analyze (scripts/setup installs them).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{text}",
        out.status
    );
    text
}

fn id_of(what: &str, name: &str) -> u32 {
    let line = run(Command::new("getent").args([what, name]));
    line.split(':').nth(2).unwrap().trim().parse().unwrap()
}

#[test]
fn the_debian_package_installs_a_service_that_checks_out() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "installing a .deb needs root"
    );
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = tempfile::tempdir().unwrap();
    let deb = dir.path().join("vigil.deb");
    // The binary this test run built (`--profile dev`: target/debug/vigil), stripped.
    run(Command::new("cargo")
        .args([
            "deb",
            "-p",
            "vigil",
            "--no-build",
            "--profile",
            "dev",
            "--strip",
            "--fast",
            "-q",
            "-o",
        ])
        .arg(&deb)
        .current_dir(&workspace));
    let info = run(Command::new("dpkg-deb").arg("--info").arg(&deb));
    assert!(info.contains("Package: vigil"), "{info}");
    assert!(
        info.contains("Depends:") && info.contains("passwd"),
        "{info}"
    );
    // A vigil installed before (a developer's machine) goes first.
    let _ = Command::new("dpkg").args(["--purge", "vigil"]).output();
    run(Command::new("dpkg").arg("-i").arg(&deb));

    let bin = std::fs::metadata("/usr/bin/vigil").unwrap();
    assert_eq!(bin.permissions().mode() & 0o777, 0o755);
    let version = run(Command::new("/usr/bin/vigil").arg("--version"));
    assert!(version.starts_with("vigil "), "{version}");
    let conffiles = run(Command::new("dpkg-query").args(["--control-show", "vigil", "conffiles"]));
    assert!(conffiles.contains("/etc/vigil/vigil.toml"), "{conffiles}");
    let (uid, gid) = (id_of("passwd", "vigil"), id_of("group", "vigil"));
    let user = run(Command::new("getent").args(["passwd", "vigil"]));
    assert!(
        user.trim_end()
            .ends_with(":/var/lib/vigil:/usr/sbin/nologin"),
        "{user}"
    );
    let conf = std::fs::metadata("/etc/vigil/vigil.toml").unwrap();
    assert_eq!(
        (conf.uid(), conf.gid(), conf.mode() & 0o777),
        (0, gid, 0o640)
    );
    let data = std::fs::metadata("/var/lib/vigil").unwrap();
    assert_eq!(
        (data.uid(), data.gid(), data.mode() & 0o777),
        (uid, gid, 0o750)
    );
    let unit = Path::new("/usr/lib/systemd/system/vigil.service");
    let text = std::fs::read_to_string(unit).unwrap();
    for line in [
        "User=vigil",
        "ExecStart=/usr/bin/vigil run --config /etc/vigil/vigil.toml",
        "Restart=on-failure",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/vigil",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line} in the unit:\n{text}"
        );
    }
    run(Command::new("systemd-analyze").arg("verify").arg(unit));
    // The installed binary, as the service runs it, on the installed configuration.
    let check = run(Command::new("runuser").args([
        "-u",
        "vigil",
        "--",
        "/usr/bin/vigil",
        "check",
        "--config",
        "/etc/vigil/vigil.toml",
    ]));
    assert!(
        check.contains("config ok: 0 cameras, clips under /var/lib/vigil/clips"),
        "{check}"
    );

    run(Command::new("dpkg").args(["--purge", "vigil"]));
    assert!(!Path::new("/usr/bin/vigil").exists());
    assert!(!Path::new("/etc/vigil/vigil.toml").exists());
    assert!(!unit.exists());
}
