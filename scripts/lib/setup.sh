# Shared setup for the scripts: installs only what is missing.

log() { printf '==> %s\n' "$*" >&2; }

apt_install() { # package
    log "installing $1"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq && $sudo apt-get install -y -qq "$1" >/dev/null
}

# Debian packages, installed with apt-get when a command is missing.
ensure_apt() { # command package
    command -v "$1" >/dev/null 2>&1 || apt_install "$2"
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

# Debian's Chromium and playwright-core, which drive the browser
# walk-through (scripts/browser-walkthrough).
ensure_browser() {
    ensure_apt node nodejs
    ensure_apt npm npm
    ensure_apt chromium chromium
    # Reaction buttons and captions show emoji: without a colour emoji font
    # the screenshots would show empty boxes where users see glyphs.
    [ -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || apt_install fonts-noto-color-emoji
    if [ ! -d tools/browser/node_modules/playwright-core ]; then
        log "installing playwright-core"
        (cd tools/browser && npm ci --no-audit --no-fund --silent)
    fi
}

# PostgreSQL's server programs (Debian keeps them off PATH, under
# /usr/lib/postgresql/<version>/bin): the local Aurora stand-in.
ensure_postgres() {
    command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
        || apt_install postgresql
}

# tansu, the Kafka-compatible broker of the local AWS stack. Built from
# crates.io once (10-15 minutes on two cores) and cached with the other tools.
# Features: dynostore for in-memory storage, libsql for SQLite storage that
# survives a broker restart (the fault tests stop and restart the broker).
TANSU_VERSION=0.6.0
TANSU_FEATURES=dynostore,libsql
ensure_tansu() {
    local root="${HASHTAG_TOOLS:-$HOME/.cache/hashtag-tools}"
    local stamp="$root/.tansu-build"
    if ! "$root/bin/tansu" --version 2>/dev/null | grep -qx "tansu $TANSU_VERSION" \
        || [ "$(cat "$stamp" 2>/dev/null)" != "$TANSU_FEATURES" ]; then
        log "building tansu $TANSU_VERSION (once; cached in $root)"
        cargo install tansu --version "$TANSU_VERSION" --locked --features "$TANSU_FEATURES" \
            --root "$root" --force
        echo "$TANSU_FEATURES" >"$stamp"
    fi
    export PATH="$root/bin:$PATH"
}

# SAM CLI, cfn-lint and moto (PyPI) in a virtualenv cached under ~/.cache,
# so a second run installs nothing. Puts the venv's bin first on PATH.
ensure_aws_tools() {
    ensure_apt python3 python3
    local venv="${HASHTAG_TOOLS:-$HOME/.cache/hashtag-tools}/venv"
    local stamp="$venv/.requirements"
    if ! cmp -s tools/aws/requirements.txt "$stamp" 2>/dev/null; then
        log "installing the AWS tools (SAM CLI, cfn-lint, moto)"
        python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$venv"; }
        "$venv/bin/pip" install -q -r tools/aws/requirements.txt
        cp tools/aws/requirements.txt "$stamp"
    fi
    # SAM's rust-cargolambda build method is still flagged beta.
    export PATH="$venv/bin:$PATH" SAM_CLI_TELEMETRY=0 SAM_CLI_BETA_RUST_CARGO_LAMBDA=1
}

# Processes a script started, stopped (by PID) when it exits.
pids=()
stop_started() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}

# Starts scripts/local-aws in the background and waits until it is ready
# ($LOCAL_AWS_STATE/env written, .local-aws by default); the calling script
# stops it on exit.
start_local_aws() {
    trap stop_started EXIT INT TERM
    local state="${LOCAL_AWS_STATE:-.local-aws}"
    rm -f "$state/ready"
    scripts/local-aws >"$state.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 600); do [ -f "$state/ready" ] && break; sleep 0.5; done
    [ -f "$state/ready" ] || {
        cat "$state.log" >&2
        echo "the local AWS stack did not start" >&2
        exit 1
    }
}
