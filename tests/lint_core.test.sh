#!/usr/bin/env bash
# tests/lint_core.test.sh BUILD_DIR SOURCE_DIR — the core purity lint, and proof that it
# can fail.
#
# 1. The real tree is clean: core/ sources + the built core library, and demo/ sources
#    (the demo protocol must be as pure as core to run in the simulator).
# 2. On a temporary copy of core/, one planted violation at a time (an OS call, a
#    mutable global, a function-local static, a pointer-to-const global, a global
#    hidden behind a macro), the lint fails and names the planted file:line — from the
#    source scan and, where the planted file is compiled, from the object scan.
# 3. A planted file that only looks suspicious (forbidden names in comments, strings,
#    struct members, const tables, static inline functions) passes: no false alarms.
set -u
BUILD_DIR=${1:?usage: lint_core.test.sh BUILD_DIR SOURCE_DIR}
SOURCE_DIR=${2:?usage: lint_core.test.sh BUILD_DIR SOURCE_DIR}
LINT="$SOURCE_DIR/tests/lint_core.sh"
CC=${CC:-cc}
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

tmp=$(mktemp -d /tmp/tp_lint_core_test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# ---- 1. the real tree ------------------------------------------------------------------
lib="$BUILD_DIR/core/libtp_core.a"
[ -f "$lib" ] || { echo "FAIL: $lib not built"; exit 1; }
if out=$(bash "$LINT" --lib "$lib" "$SOURCE_DIR/core" 2>&1); then
    echo "ok: core/ is clean"
else
    echo "$out"; fail "the lint rejects the real core/ tree (see above)"
fi
if out=$(bash "$LINT" "$SOURCE_DIR/demo" 2>&1); then
    echo "ok: demo/ is clean"
else
    echo "$out"; fail "the lint rejects demo/ (it must be as pure as core/)"
fi

# ---- 2. planted violations -------------------------------------------------------------
# plant NAME EXPECTED_SOURCE_MSG EXPECTED_OBJECT_MSG <<< file content
# Copies core/, adds planted.c, compiles it alone into an object directory, runs the
# lint on both, and checks the exit status and that each expected "planted.c:LINE: ..."
# prefix appears ("" = that layer is not expected to see it).
plant() {
    local name=$1 want_src=$2 want_obj=$3
    local dir="$tmp/$name"
    rm -rf "$dir"; mkdir -p "$dir/objs"
    cp -r "$SOURCE_DIR/core" "$dir/core"
    cat >"$dir/core/planted.c"
    if ! "$CC" -std=c11 -g -O1 -D_POSIX_C_SOURCE=200809L -I"$dir" -c "$dir/core/planted.c" \
        -o "$dir/objs/planted.o" 2>"$dir/cc.err"; then
        cat "$dir/cc.err"; fail "$name: planted file does not compile"; return
    fi
    local out rc
    out=$(bash "$LINT" --lib "$dir/objs" "$dir/core" 2>&1); rc=$?
    if [ -z "$want_src$want_obj" ]; then
        [ "$rc" = 0 ] && echo "ok: $name passes" || { echo "$out"; fail "$name: false alarm"; }
        return
    fi
    [ "$rc" = 1 ] || { echo "$out"; fail "$name: lint exited $rc, want 1"; return; }
    if [ -n "$want_src" ] && ! grep -qF "$dir/core/planted.c:$want_src" <<<"$out"; then
        echo "$out"; fail "$name: source scan did not report planted.c:$want_src"; return
    fi
    if [ -n "$want_obj" ] && ! grep -qF "core/planted.c:$want_obj" <<<"$(grep 'writable section\|allow-list' <<<"$out")"; then
        echo "$out"; fail "$name: object scan did not report planted.c:$want_obj"; return
    fi
    # Nothing but the planted file may be blamed.
    if grep -v '^lint_core:' <<<"$out" | grep -vq 'planted\.c:'; then
        echo "$out"; fail "$name: the lint blamed files other than planted.c"; return
    fi
    echo "ok: $name caught ($(grep -c 'planted\.c:' <<<"$out") reports)"
}

plant os_call "6: forbidden call time()" "6: planted.o calls time" <<'EOF'
/* planted: reads the OS clock */
#include <stdint.h>
#include <time.h>
int64_t tp_planted_now(void);
int64_t tp_planted_now(void) {
    return (int64_t)time(NULL);
}
EOF

plant os_header "3: forbidden header <sys/socket.h>" "" <<'EOF'
/* planted: a socket header (no call) */
#include <stdint.h>
#include <sys/socket.h>
int tp_planted_af(void);
int tp_planted_af(void) { return AF_INET6; }
EOF

plant mutable_global "3: mutable global" "3: mutable global \"tp_planted_counter\"" <<'EOF'
/* planted: a mutable global */
#include <stdint.h>
uint64_t tp_planted_counter;
void tp_planted_bump(void);
void tp_planted_bump(void) { tp_planted_counter++; }
EOF

plant local_static "5: function-local static" "5: function-local static \"calls\"" <<'EOF'
/* planted: a function-local static */
#include <stdint.h>
uint32_t tp_planted_calls(void);
uint32_t tp_planted_calls(void) {
    static uint32_t calls;
    return ++calls;
}
EOF

plant pointer_to_const "2: mutable global" "2: mutable global \"planted_name\"" <<'EOF'
/* planted: the pointer is mutable even though it points to const */
static const char *planted_name = "a";
const char *tp_planted_name(int flip);
const char *tp_planted_name(int flip) {
    if (flip) planted_name = "b";
    return planted_name;
}
EOF

# The source scan cannot see through the macro; the object scan must.
plant macro_global "" "3: mutable global \"tp_planted_hidden\"" <<'EOF'
/* planted: a global hidden behind a macro */
#define TP_PLANTED_DECLARE(name) int name
TP_PLANTED_DECLARE(tp_planted_hidden);
int tp_planted_get(void);
int tp_planted_get(void) { return tp_planted_hidden++; }
EOF

plant malloc_call "6: forbidden call malloc()" "6: planted.o calls malloc" <<'EOF'
/* planted: allocates behind the env's back */
#include <stdlib.h>
#include <stdint.h>
void *tp_planted_alloc(size_t n);
void *tp_planted_alloc(size_t n) {
    return malloc(n);
}
EOF

# ---- 3. no false alarms ----------------------------------------------------------------
plant lookalikes "" "" <<'EOF'
/* planted: looks suspicious, is pure. time(NULL) printf("x") malloc(1) in a comment */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
// rand() getenv("HOME") in a line comment
typedef struct planted_ops { void *(*realloc)(void *p, size_t n); int (*random)(void); } planted_ops;
static const int planted_table[3] = {1, 2, 3};
static const char *const planted_names[2] = {"time(", "printf("};
struct planted_point { int x; };
enum { PLANTED_A = 1, PLANTED_B = 2 };
extern const int planted_elsewhere;
static inline int planted_sum(int a) { return a + planted_table[0]; }
size_t tp_planted_len(const planted_ops *ops, int i);
size_t tp_planted_len(const planted_ops *ops, int i) {
    static const uint8_t zero[4] = {0};
    void *p = ops->realloc(NULL, 0);
    (void)p;
    char c = ')';
    (void)c;
    return strlen(planted_names[i & 1]) + (size_t)planted_sum(zero[0]) + (size_t)ops->random();
}
EOF

if [ "$fails" != 0 ]; then echo "$fails failure(s)"; exit 1; fi
echo "PASS"
