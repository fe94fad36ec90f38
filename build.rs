//! Release links of the server binary on x86_64 Linux (glibc) place the functions the server
//! runs next to each other, in the order `link/hot-symbols.txt` lists them (written by
//! `link/hot_symbols.py` from a profile; `link/README.md` says how). The kernel maps a binary's
//! code 64 KiB around each page first executed, so with the code the server runs spread over
//! the whole 12 MB text, nearly all of it became resident; packed, about a third does.
//!
//! Only where the linker is LLD (Rust's default for this target since 1.90); other targets
//! (the musl image) link as before. A name the file lists but the build lacks is skipped.

use std::env;

fn main() {
    println!("cargo:rerun-if-changed=link/hot-symbols.txt");
    println!("cargo:rerun-if-env-changed=METRICS_SERVER_NO_SYMBOL_ORDER");
    let target = env::var("TARGET").unwrap_or_default();
    let release = env::var("PROFILE").is_ok_and(|p| p == "release");
    let opted_out = env::var_os("METRICS_SERVER_NO_SYMBOL_ORDER").is_some();
    if target != "x86_64-unknown-linux-gnu" || !release || opted_out {
        return;
    }
    // Relative: Cargo runs rustc, and so the linker, in the workspace root (this package's
    // directory). An absolute path would be cached with the build script's output, which a
    // target directory shared by two checkouts reuses for both.
    println!("cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file=link/hot-symbols.txt");
    println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
}
