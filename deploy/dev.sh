#!/usr/bin/env bash
# deploy/dev.sh — set up, build, test and run incidentd on Debian 12.
#
#   deploy/dev.sh deps          install what is missing (apt; skipped when all is there)
#   deploy/dev.sh build         deps + build into build/ (warnings are errors)
#   deploy/dev.sh lint          deps + shellcheck (deploy/*.sh, .ci/run), yamllint
#                               (deploy/**/*.yaml, .yamllint), clang-format --dry-run
#                               --Werror on every C file, and promtool on the alert
#                               rules when it is installed
#   deploy/dev.sh test          deps + lint + build + every test (unit and integration, on a
#                               real Kafka broker and redis-server; then the ha and security
#                               labels: a three-node cluster, a SASL_SSL broker), then the unit tests
#                               again under AddressSanitizer/UBSan (build-asan/), then fuzz
#                               (30 s per target when CI=true)
#   deploy/dev.sh fuzz          deps + the libFuzzer build (build-fuzz/, clang, ASan/UBSan)
#                               and every tests/fuzz/fuzz_* target for
#                               INCIDENTD_FUZZ_SECONDS (default 60; 0 = replay the seeds
#                               only) on a copy of its corpus (build-fuzz/corpus/); crash
#                               inputs go to build-fuzz/artifacts/, logs to build-fuzz/logs/
#   deploy/dev.sh bench [ARGS]  deps + build + a test bed of its own (build/bench-testbed),
#                               then build/bin/incidentd-bench ARGS (default: 100,000
#                               incidents, latency at 1,000 and 10,000 alerts/s, commands
#                               through the API, deliveries to a local receiver, the bare
#                               relay and redis-benchmark limits; docs/performance.md);
#                               the test bed is stopped afterwards
#   deploy/dev.sh run [ARGS]    deps + build + the test bed (build/run-testbed), then
#                               deploy/demo.sh ARGS with INCIDENTD_BROKERS/INCIDENTD_REDIS;
#                               the test bed is stopped when the demo ends, unless
#                               INCIDENTD_KEEP_TESTBED=1
#
# Environment: JOBS (build jobs, default nproc), CTEST_PARALLEL (default 2),
# INCIDENTD_SKIP_DEPS=1 (do not look at packages at all), INCIDENTD_FUZZ_SECONDS
# (fuzz: seconds per target).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
CTEST_PARALLEL=${CTEST_PARALLEL:-2}

log() { printf '\n==> dev.sh: %s\n' "$*" >&2; }
die() {
    printf 'dev.sh: error: %s\n' "$*" >&2
    exit 1
}

usage() {
    echo "usage: $0 {deps|build|lint|test|fuzz|bench [ARGS]|run [ARGS]}" >&2
    exit 2
}

# Debian 12 packages: compiler and build, libraries, test framework, the test
# bed (redis, redis-sentinel for the `ha` tests, maven for the Kafka jars, kcat
# for its readiness check, openssl for the SASL_SSL broker's certificates),
# linters and tools. libclang-rt-dev holds clang's sanitizer and libFuzzer runtimes
# (only recommended by clang, and recommends are not installed). chromium,
# chromium-driver and python3-selenium run the console's browser test.
PACKAGES=(
    build-essential cmake pkg-config clang clang-format libclang-rt-dev
    librdkafka-dev libprotobuf-c-dev protobuf-c-compiler libhiredis-dev
    libssl-dev libmicrohttpd-dev libcjson-dev libcriterion-dev libcurl4-openssl-dev
    redis-server redis-tools redis-sentinel maven kcat
    shellcheck yamllint
    python3 python3-aiosmtpd curl ca-certificates openssl
    chromium chromium-driver python3-selenium
)

installed() {
    [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true) == "install ok installed" ]]
}

deps() {
    if [[ ${INCIDENTD_SKIP_DEPS:-0} == 1 ]]; then
        return 0
    fi
    if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
        die "not a Debian system: install by hand: ${PACKAGES[*]} and a Java 17 runtime"
    fi
    local missing=() p
    for p in "${PACKAGES[@]}"; do
        installed "$p" || missing+=("$p")
    done
    # Maven brings a JRE as well; a Java runtime is only added when none is found.
    if ! command -v java >/dev/null 2>&1; then
        missing+=(openjdk-17-jre-headless)
    fi
    if ((${#missing[@]} == 0)); then
        echo "dev.sh: all packages present" >&2
        return 0
    fi
    local sudo=()
    if ((EUID != 0)); then
        command -v sudo >/dev/null 2>&1 || die "not root and no sudo: install ${missing[*]}"
        sudo=(sudo)
    fi
    log "installing: ${missing[*]}"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends "${missing[@]}"
    # The redis-server package may start a system-wide server; the test bed
    # runs its own on a free port and does not need it.
}

build() {
    log "configure and build (build/)"
    cmake -S . -B build -DINCIDENTD_WERROR=ON
    cmake --build build -j "$JOBS"
}

# Static checks of the scripts and of the deployment files (Docker compose,
# Kubernetes, Prometheus rules), which cannot run here. promtool is optional
# (Debian's prometheus package is large): without it the rules are skipped.
lint() {
    local rc=0 yaml=()
    log "lint: shellcheck deploy/*.sh .ci/run"
    shellcheck deploy/*.sh .ci/run || rc=1
    mapfile -t yaml < <(find deploy -name '*.yaml' -not -path '*/target/*' | sort)
    log "lint: yamllint .yamllint ${yaml[*]}"
    yamllint --strict -c .yamllint .yamllint "${yaml[@]}" || rc=1
    if command -v promtool >/dev/null 2>&1; then
        log "lint: promtool check rules, test rules (deploy/prometheus)"
        if ! promtool check rules deploy/prometheus/incidentd-alerts.yaml ||
            ! (cd deploy/prometheus && promtool test rules incidentd-alerts.test.yaml); then
            rc=1
        fi
    else
        echo "dev.sh: promtool not installed: the alert rules are not checked" >&2
    fi
    log "lint: clang-format --dry-run --Werror (every C file, .clang-format)"
    if ! git ls-files '*.c' '*.h' | xargs clang-format --dry-run --Werror; then
        echo "dev.sh: the C files above are not formatted: clang-format -i FILE" >&2
        rc=1
    fi
    if ((rc != 0)); then
        echo "dev.sh: FAILED: lint" >&2
    fi
    return "$rc"
}

run_tests() {
    local rc=0 t0=$SECONDS
    log "all tests (unit + integration on a real Kafka broker and redis-server)"
    if ! ctest --test-dir build --output-on-failure --no-tests=error \
        --parallel "$CTEST_PARALLEL" -LE '^(ha|security)$'; then
        rc=1
        echo "dev.sh: FAILED: tests in build/" >&2
    fi
    # Whatever happened, leave no broker or redis-server behind.
    "$ROOT/deploy/testbed.sh" down "$ROOT/build/testbed" >/dev/null 2>&1 || true
    # The figures the crash, outage and stress tests print (alerts sent,
    # kills, lost, duplicated; CPU while Redis is down; broken chains).
    grep -h -E '^(crash test|redis outage|stress test)' \
        build/Testing/Temporary/LastTest.log 2>/dev/null || true

    # High availability (a three-node Kafka cluster, nodes killed; Redis with
    # a replica and three Sentinels, the primary killed) and SASL_SSL, on
    # test beds of their own, once the single broker is down:
    # INCIDENTD_HA_SECONDS of streaming, about 6 minutes in all.
    log "high availability and security tests (three Kafka nodes; Redis Sentinel; SASL_SSL)"
    if ! ctest --test-dir build --output-on-failure --no-tests=error -L '^(ha|security)$'; then
        rc=1
        echo "dev.sh: FAILED: ha/security tests in build/" >&2
    fi
    "$ROOT/deploy/testbed.sh" down "$ROOT/build/hatestbed" >/dev/null 2>&1 || true
    "$ROOT/deploy/testbed.sh" down "$ROOT/build/securetestbed" >/dev/null 2>&1 || true
    "$ROOT/deploy/testbed.sh" down "$ROOT/build/testbed" >/dev/null 2>&1 || true
    "$ROOT/deploy/redis.sh" ha-stop "$ROOT/build/redis-ha" >/dev/null 2>&1 || true
    grep -h -E '^(ha(:| kafka test| failover| lost writes)|WAIT shortfalls)' \
        build/Testing/Temporary/LastTest.log 2>/dev/null || true

    log "sanitizer build (build-asan/) and its unit tests"
    if cmake -S . -B build-asan -DINCIDENTD_SANITIZE=ON -DINCIDENTD_WERROR=ON &&
        cmake --build build-asan -j "$JOBS"; then
        if ! ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
            UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
            ctest --test-dir build-asan -L unit --output-on-failure \
            --parallel "$CTEST_PARALLEL"; then
            rc=1
            echo "dev.sh: FAILED: unit tests under sanitizers (build-asan/)" >&2
        fi
    else
        rc=1
        echo "dev.sh: FAILED: sanitizer build" >&2
    fi
    if ((rc == 0)); then
        log "all tests passed in $((SECONDS - t0))s"
    fi
    return "$rc"
}

# The libFuzzer targets (tests/fuzz/README.md). The build instruments every
# library for coverage and ASan/UBSan (INCIDENTD_FUZZ in CMakeLists.txt); each
# target then runs for INCIDENTD_FUZZ_SECONDS on build-fuzz/corpus/<target>,
# its seeds (tests/fuzz/corpus/<target>/) plus what earlier runs found. A
# dictionary tests/fuzz/<word>.dict is given to the targets fuzz_<word>*.
# Any crash, leak, timeout or out-of-memory fails the step; the input is kept
# in build-fuzz/artifacts/ (reproduce: build-fuzz/fuzz/<target> <file>).
fuzz() {
    local secs=${INCIDENTD_FUZZ_SECONDS:-60} dir=$ROOT/build-fuzz rc=0 t name work d w
    local -a args failed=()
    [[ $secs =~ ^[0-9]+$ ]] || die "INCIDENTD_FUZZ_SECONDS must be a number of seconds, not '$secs'"
    command -v clang >/dev/null 2>&1 || die "fuzz: clang is needed (libFuzzer)"
    log "fuzz build (build-fuzz/: clang, libFuzzer, ASan/UBSan)"
    # Checked by hand: `fuzz || rc=1` in test turns set -e off in here.
    if ! CC=clang cmake -S . -B "$dir" -DINCIDENTD_FUZZ=ON -DINCIDENTD_TESTS=OFF \
        -DINCIDENTD_BENCH=OFF -DINCIDENTD_WERROR=ON ||
        ! cmake --build "$dir" -j "$JOBS" --target fuzz_all; then
        echo "dev.sh: FAILED: fuzz build (build-fuzz/)" >&2
        return 1
    fi
    mkdir -p "$dir/artifacts" "$dir/logs" "$dir/corpus"
    for t in "$dir"/fuzz/fuzz_*; do
        [[ -x $t ]] || continue
        name=$(basename "$t")
        work=$dir/corpus/$name
        mkdir -p "$work" || return 1
        if [[ -d tests/fuzz/corpus/$name ]]; then
            cp -R tests/fuzz/corpus/"$name"/. "$work"/
        fi
        if [[ $name == fuzz_config ]]; then
            cp deploy/incidentd.conf "$work/incidentd.conf" # the sample config is a seed too
        fi
        args=(-timeout=10 -rss_limit_mb=2048 -print_final_stats=1
            "-artifact_prefix=$dir/artifacts/$name-")
        if ((secs > 0)); then
            args+=("-max_total_time=$secs")
        else
            args+=(-runs=0)
        fi
        for d in tests/fuzz/*.dict; do
            [[ -f $d ]] || continue
            w=$(basename "$d" .dict)
            if [[ $name == fuzz_"$w"* ]]; then
                args+=("-dict=$d")
                break
            fi
        done
        log "fuzz: $name, ${secs}s (log: build-fuzz/logs/$name.log)"
        if ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
            UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
            "$t" "${args[@]}" "$work" >"$dir/logs/$name.log" 2>&1; then
            grep -E '^#[0-9]+[[:space:]]+DONE' "$dir/logs/$name.log" | tail -n 1 >&2 || true
            grep -E '^stat::(number_of_executed_units|average_exec_per_sec)' \
                "$dir/logs/$name.log" | tr '\n' ' ' >&2 || true
            echo >&2
        else
            rc=1
            failed+=("$name")
            tail -n 60 "$dir/logs/$name.log" >&2
            echo "dev.sh: FAILED: $name (input kept in build-fuzz/artifacts/$name-*)" >&2
        fi
    done
    if ((rc != 0)); then
        echo "dev.sh: FAILED: fuzz targets: ${failed[*]}" >&2
    fi
    return "$rc"
}

# The benchmark (tests/bench, docs/performance.md) on a test bed of its own,
# always stopped afterwards. ARGS go to incidentd-bench (see its --help).
BENCH_TESTBED=$ROOT/build/bench-testbed

stop_bench_testbed() { "$ROOT/deploy/testbed.sh" down "$BENCH_TESTBED" >/dev/null 2>&1 || true; }

bench() {
    local rc=0
    [[ -x $ROOT/build/bin/incidentd-bench ]] ||
        die "build/bin/incidentd-bench was not built (configured with -DINCIDENTD_BENCH=OFF?)"
    log "test bed for the benchmark (build/bench-testbed)"
    trap stop_bench_testbed EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    "$ROOT/deploy/testbed.sh" up "$BENCH_TESTBED" >/dev/null
    log "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"
    log "incidentd-bench $*"
    INCIDENTD_TESTBED_ENV=$BENCH_TESTBED/env "$ROOT/build/bin/incidentd-bench" "$@" || rc=$?
    stop_bench_testbed
    return "$rc"
}

RUN_TESTBED=$ROOT/build/run-testbed

stop_run_testbed() { "$ROOT/deploy/testbed.sh" down "$RUN_TESTBED" >/dev/null 2>&1 || true; }

run_demo() {
    local demo=$ROOT/deploy/demo.sh brokers redis
    [[ -f $demo ]] ||
        die "deploy/demo.sh does not exist yet: nothing to run (the test bed alone: deploy/testbed.sh up DIR)"
    log "test bed (build/run-testbed)"
    "$ROOT/deploy/testbed.sh" up "$RUN_TESTBED" >/dev/null
    brokers=$(sed -n 's/^INCIDENTD_TEST_BROKERS=//p' "$RUN_TESTBED/env")
    redis=$(sed -n 's/^INCIDENTD_TEST_REDIS=//p' "$RUN_TESTBED/env")
    export INCIDENTD_BROKERS=$brokers INCIDENTD_REDIS=$redis
    export INCIDENTD_BIN=$ROOT/build/bin
    if [[ ${INCIDENTD_KEEP_TESTBED:-0} == 1 ]]; then
        echo "dev.sh: the test bed stays up; stop it with: deploy/testbed.sh down $RUN_TESTBED" >&2
        exec bash "$demo" "$@"
    fi
    trap stop_run_testbed EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    log "deploy/demo.sh (INCIDENTD_BROKERS=$brokers INCIDENTD_REDIS=$redis)"
    bash "$demo" "$@"
}

cmd=${1:-}
[[ -n $cmd ]] || usage
shift

case $cmd in
deps) deps ;;
build)
    deps
    build
    ;;
lint)
    deps
    lint
    ;;
test)
    deps
    lint
    build
    rc=0
    run_tests || rc=1
    # Fuzzing last, bounded in CI: 30 s per target unless set.
    if [[ ${CI:-} == true ]]; then
        export INCIDENTD_FUZZ_SECONDS=${INCIDENTD_FUZZ_SECONDS:-30}
    fi
    fuzz || rc=1
    exit "$rc"
    ;;
fuzz)
    deps
    fuzz
    ;;
bench)
    deps
    build
    bench "$@"
    ;;
run)
    deps
    build
    run_demo "$@"
    ;;
*) usage ;;
esac
