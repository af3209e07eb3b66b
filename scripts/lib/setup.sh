# Shared setup for the scripts: installs only what is missing.

log() { printf '==> %s\n' "$*" >&2; }

# Debian packages, installed with apt-get when a command is missing.
ensure_apt() { # command package
    command -v "$1" >/dev/null 2>&1 && return 0
    log "installing $2"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq && $sudo apt-get install -y -qq "$2" >/dev/null
}

ensure_rust() {
    if ! command -v cargo >/dev/null 2>&1; then
        [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
    fi
    command -v cargo >/dev/null 2>&1 || {
        echo "cargo is required: install Rust from https://rustup.rs" >&2
        exit 1
    }
    ensure_apt cc gcc # rusqlite compiles SQLite from source
    rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt 2>/dev/null || true
}

# The twitter-text reference library (npm), used as a test oracle.
ensure_node_tools() {
    ensure_apt node nodejs
    ensure_apt npm npm
    if [ ! -d tools/oracle/node_modules/twitter-text ]; then
        log "installing the twitter-text oracle"
        (cd tools/oracle && npm ci --no-audit --no-fund --silent)
    fi
}
