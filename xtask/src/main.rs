//! `cargo xtask`: builds Weir (wasm bundle, bindings, CSS, server) and runs its tests, with plain
//! cargo and nothing downloaded beyond crates.
//!
//! - `cargo xtask build [--release]`: the web app into `target/site`, then the `weir` binary.
//! - `cargo xtask serve [--release] [-- ARGS]`: build, then `weir serve --demo ARGS`.
//! - `cargo xtask test`: the web app, then every test: tidy (`tidy.rs`), unit, integration and
//!   headless-browser (the `cargo test` run builds the binary they drive).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

#[cfg(test)]
mod tidy;

fn main() -> Result<()> {
    let mut args = env::args().skip(1);
    let task = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    let release = rest.iter().any(|a| a == "--release");
    let passthrough: Vec<String> = rest
        .iter()
        .skip_while(|a| *a != "--")
        .skip(1)
        .cloned()
        .collect();
    match task.as_str() {
        "build" => build(release),
        "serve" => {
            build(release)?;
            serve(release, &passthrough)
        }
        "test" => {
            // Only the site: `cargo test` builds the binary itself, with the features that every
            // test package unifies, so the dependencies compile once rather than twice.
            build_site(false)?;
            test()
        }
        _ => {
            eprintln!(
                "usage: cargo xtask <build|serve|test> [--release] [-- weir serve args]\n\n\
                 build   build the web app into target/site and the weir binary\n\
                 serve   build, then run `weir serve --demo` at http://127.0.0.1:8080\n\
                 test    build, then run every test, headless-browser tests included"
            );
            if task.is_empty() || task == "help" || task == "--help" {
                Ok(())
            } else {
                bail!("unknown task `{task}`")
            }
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_owned()
}

fn target_dir() -> PathBuf {
    env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from)
}

fn cargo(args: &[&str]) -> Result<()> {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run(Command::new(cargo).args(args).current_dir(root()))
}

/// Adds the wasm target with rustup when the toolchain lacks it.
fn ensure_wasm_target() -> Result<()> {
    let libdir = Command::new("rustc")
        .args([
            "--print",
            "target-libdir",
            "--target",
            "wasm32-unknown-unknown",
        ])
        .output()
        .context("running rustc")?;
    let path = String::from_utf8_lossy(&libdir.stdout).trim().to_owned();
    if libdir.status.success() && Path::new(&path).exists() {
        return Ok(());
    }
    run(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))
}

/// Installs the Debian packages the tests drive when they are missing: Chromium and ChromeDriver
/// (browser tests), Prometheus (remote write), Alertmanager (notifications) and OpenSSL (the
/// TLS test's certificate).
fn ensure_debian_packages() -> Result<()> {
    let have = |tool: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let packages = [
        ("chromium", "chromium"),
        ("chromedriver", "chromium-driver"),
        ("prometheus", "prometheus"),
        ("prometheus-alertmanager", "prometheus-alertmanager"),
        ("openssl", "openssl"),
    ];
    let missing: Vec<&str> = packages
        .iter()
        .filter(|(tool, _)| !have(tool))
        .map(|(_, package)| *package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("xtask: installing Debian's {}", missing.join(", "));
    run(Command::new("apt-get").arg("update").arg("-qq"))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-qq"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

/// Installs the Python packages the tests use (`e2e/python/requirements.txt`: the lake readers,
/// the OpenTelemetry SDK) when missing.
fn ensure_python_packages() -> Result<()> {
    let present = Command::new("python3")
        .args([
            "-c",
            "import deltalake, duckdb, pyarrow, opentelemetry.exporter.otlp.proto.http, elasticsearch",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    if present {
        return Ok(());
    }
    let requirements = root().join("e2e").join("python").join("requirements.txt");
    run(Command::new("python3")
        .args(["-m", "pip", "install", "-q", "-r"])
        .arg(requirements))
}

fn run(command: &mut Command) -> Result<()> {
    eprintln!("xtask: {command:?}");
    let status = command
        .status()
        .with_context(|| format!("running {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed ({status})");
    }
    Ok(())
}

fn build(release: bool) -> Result<()> {
    build_site(release)?;
    let mut args = vec!["build", "--locked", "-p", "weir"];
    if release {
        args.push("--release");
    }
    cargo(&args)
}

/// The web app into `target/site`: the hydrate wasm, its bindings and the CSS.
fn build_site(release: bool) -> Result<()> {
    ensure_wasm_target()?;
    let wasm_profile = if release { "wasm-release" } else { "dev" };
    cargo(&[
        "build",
        "--locked",
        "-p",
        "app",
        "--lib",
        "--target",
        "wasm32-unknown-unknown",
        "--no-default-features",
        "--features",
        "hydrate",
        "--profile",
        wasm_profile,
    ])?;
    let wasm_dir = if release { "wasm-release" } else { "debug" };
    let wasm = target_dir()
        .join("wasm32-unknown-unknown")
        .join(wasm_dir)
        .join("app.wasm");
    let site = target_dir().join("site");
    let pkg = site.join("pkg");
    std::fs::create_dir_all(&pkg).with_context(|| format!("creating {}", pkg.display()))?;
    eprintln!(
        "xtask: wasm-bindgen {} -> {}",
        wasm.display(),
        pkg.display()
    );
    wasm_bindgen_cli_support::Bindgen::new()
        .input_path(&wasm)
        .out_name("weir")
        .web(true)?
        .typescript(false)
        .remove_name_section(release)
        .generate(&pkg)
        .context("wasm-bindgen")?;
    let css = root().join("style").join("main.css");
    std::fs::copy(&css, pkg.join("weir.css"))
        .with_context(|| format!("copying {}", css.display()))?;
    Ok(())
}

fn serve(release: bool, extra: &[String]) -> Result<()> {
    let profile = if release { "release" } else { "debug" };
    let weir = target_dir().join(profile).join("weir");
    eprintln!("xtask: {} serve --demo {}", weir.display(), extra.join(" "));
    let status = Command::new(&weir)
        .arg("serve")
        .arg("--demo")
        .args(extra)
        .env("WEIR_SITE_ROOT", target_dir().join("site"))
        .status()
        .with_context(|| format!("running {}", weir.display()))?;
    if !status.success() {
        bail!("weir exited with {status}");
    }
    Ok(())
}

fn test() -> Result<()> {
    ensure_debian_packages()?;
    ensure_python_packages()?;
    // Tidy first: it takes seconds (and builds nothing new), so a habit broken fails fast.
    cargo(&["test", "--locked", "-p", "xtask"])?;
    // One cargo invocation for every package, so features are unified once. It builds the `weir`
    // binary (the server's integration tests need it) before any test runs; the browser tests
    // drive that binary and the site that `build_site` just made.
    let target = target_dir();
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run(Command::new(cargo)
        .args([
            "test", "--locked", "-p", "protocol", "-p", "storage", "-p", "weir", "-p", "app", "-p",
            "e2e",
        ])
        .current_dir(root())
        .env("WEIR_BIN", target.join("debug").join("weir"))
        .env("WEIR_SITE_ROOT", target.join("site")))
}
