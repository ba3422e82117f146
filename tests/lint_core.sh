#!/usr/bin/env bash
# tests/lint_core.sh — the core purity lint (STYLE.md "Determinism").
#
# usage: lint_core.sh [--lib LIBRARY.a|OBJECT_DIR] DIR [DIR...]
#
# core/ must not call the operating system (time, randomness, sockets, files, stdio,
# malloc, exit, ...: everything goes through core/env.h) and must hold no mutable
# globals or function-local statics (thousands of simulated nodes share one process).
# Two independent layers, each reporting file:line:
#   1. source scan of DIR/*.c and DIR/*.h (comments, strings and character literals
#      removed first): forbidden calls and headers, file-scope variables that are not
#      const, `static` variables inside functions, thread-locals;
#   2. object scan (with --lib, a static library or a directory of .o files, built
#      with -g so that nm -l can name file:line): every data object in a writable
#      section (.data, .bss, .tdata, .tbss, COMMON; .data.rel.ro is read-only after
#      relocation and fine) is a mutable global, and every undefined symbol must be
#      in the allow-list below (pure libc, libsodium except its RNG and key
#      generators, compiler and sanitizer runtime, or core's own symbols).
# The one exception is panic.c (a failed assertion prints and aborts).
#
# Exit: 0 clean, 1 violations found (listed on stdout), 2 usage or tool error.
set -u
export LC_ALL=C

lib=""
dirs=()
while [ $# -gt 0 ]; do
    case "$1" in
        --lib) lib=${2:-}; shift 2 || { echo "lint_core.sh: --lib expects a path" >&2; exit 2; } ;;
        -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
        *) dirs+=("$1"); shift ;;
    esac
done
[ ${#dirs[@]} -gt 0 ] || { echo "usage: lint_core.sh [--lib LIB.a|OBJDIR] DIR [DIR...]" >&2; exit 2; }
for d in "${dirs[@]}"; do
    [ -d "$d" ] || { echo "lint_core.sh: $d: no such directory (give the core/ source directory)" >&2; exit 2; }
done
command -v perl >/dev/null || { echo "lint_core.sh: perl is required" >&2; exit 2; }

status=0

# ---- layer 1: sources ------------------------------------------------------------------
files=()
for d in "${dirs[@]}"; do
    for f in "$d"/*.c "$d"/*.h; do [ -f "$f" ] && files+=("$f"); done
done
if [ ${#files[@]} -gt 0 ]; then
    perl -e '
use strict; use warnings;
my @forbidden = qw(
  time clock clock_gettime clock_getres gettimeofday timespec_get localtime localtime_r
  gmtime gmtime_r mktime strftime ctime asctime
  rand srand rand_r random srandom drand48 erand48 lrand48 nrand48 mrand48 srand48
  getrandom getentropy arc4random arc4random_buf arc4random_uniform
  randombytes randombytes_buf randombytes_buf_deterministic randombytes_random
  randombytes_uniform randombytes_stir randombytes_close sodium_init
  crypto_box_keypair crypto_sign_keypair crypto_kx_keypair crypto_scalarmult_keypair
  socket connect bind listen accept accept4 send sendto sendmsg recv recvfrom recvmsg
  shutdown setsockopt getsockopt getaddrinfo gethostbyname select poll epoll_create
  epoll_create1 epoll_ctl epoll_wait
  open openat close read write pread pwrite lseek fsync fdatasync unlink rename
  remove mkdir rmdir opendir readdir stat fstat lstat
  fopen fdopen freopen fclose fread fwrite fflush fgets fputs puts putchar fputc
  printf fprintf vprintf vfprintf dprintf perror
  getenv setenv unsetenv putenv system popen
  exit _exit _Exit quick_exit atexit abort raise signal sigaction
  sleep usleep nanosleep clock_nanosleep
  malloc calloc realloc free aligned_alloc posix_memalign strdup strndup mmap munmap
  sodium_malloc sodium_allocarray sodium_free
  fork execv execve execvp getpid getppid pthread_create pthread_mutex_lock setlocale
);
my %forbidden = map { $_ => 1 } @forbidden;
my %panic_ok = map { $_ => 1 } qw(fprintf fflush abort fputs fputc fwrite);
my $bad_headers = qr{^\s*#\s*include\s*<(time\.h|unistd\.h|fcntl\.h|pthread\.h|threads\.h|signal\.h|dirent\.h|netdb\.h|dlfcn\.h|sys/[^>]+|netinet/[^>]+|arpa/[^>]+)>};
my $n = 0;
sub report { my ($f, $l, $msg) = @_; print "$f:$l: $msg\n"; $n++; }

for my $file (@ARGV) {
    open(my $fh, "<", $file) or die "lint_core.sh: cannot read $file: $!\n";
    local $/; my $src = <$fh>; close $fh;
    my $is_panic = ($file =~ m{(^|/)panic\.c$});
    my @raw = split /\n/, $src, -1;
    # Strip comments, strings and character literals, keeping newlines (line numbers).
    my $out = ""; my $i = 0; my $len = length $src;
    while ($i < $len) {
        my $c = substr($src, $i, 1); my $c2 = substr($src, $i, 2);
        if ($c2 eq "/*") {
            my $e = index($src, "*/", $i + 2); $e = $len - 2 if $e < 0;
            my $chunk = substr($src, $i, $e + 2 - $i); $chunk =~ s/[^\n]/ /g;
            $out .= $chunk; $i = $e + 2;
        } elsif ($c2 eq "//") {
            my $e = index($src, "\n", $i); $e = $len if $e < 0;
            $out .= " " x ($e - $i); $i = $e;
        } elsif ($c eq "\"" || $c eq "\x27") {
            my $j = $i + 1;
            while ($j < $len) {
                my $d = substr($src, $j, 1);
                if ($d eq "\\") { $j += 2; next; }
                last if $d eq $c || $d eq "\n";
                $j++;
            }
            my $chunk = substr($src, $i, $j + 1 - $i); $chunk =~ s/[^\n]/ /g;
            $out .= $c . substr($chunk, 1, length($chunk) - 2) . $c; $i = $j + 1;
        } else { $out .= $c; $i++; }
    }
    my @lines = split /\n/, $out, -1;
    for my $ln (0 .. $#lines) {
        my $line = $lines[$ln];
        if (($raw[$ln] // "") =~ $bad_headers) {
            report($file, $ln + 1, "forbidden header <$1>: core/ reaches the OS only through core/env.h");
        }
        while ($line =~ /(?<![\w.>])(?<!->)\b([A-Za-z_]\w*)\s*\(/g) {
            my $name = $1;
            my $hit = $forbidden{$name} || $name =~ /^randombytes_/ || $name =~ /^crypto_\w+_keygen$/;
            next unless $hit;
            next if $is_panic && $panic_ok{$name};
            report($file, $ln + 1, "forbidden call $name(): core/ is pure; use the tp_env_* wrapper (clock, timers, random, streams, files, tp_env_realloc, events) instead");
        }
        if ($line =~ /\b(_Thread_local|__thread)\b/) {
            report($file, $ln + 1, "thread-local variable: core/ holds no mutable state outside its structs");
        }
    }
    # Declarations: walk the stripped text with brace depth.
    my $depth = 0; my $stmt = ""; my $stmt_line = 0; my $in_func = 0; my $func_depth = 0;
    my $line_no = 1; my $at_line_start = 1; my $pp = 0; my $init_depth = 0;
    my @chars = split //, $out;
    my $fstmt = ""; my $fstmt_line = 0;
    for (my $k = 0; $k < @chars; $k++) {
        my $c = $chars[$k];
        if ($c eq "\n") {
            $line_no++;
            if ($pp && !($k > 0 && $chars[$k - 1] eq "\\")) { $pp = 0; }
            $at_line_start = 1; $stmt .= " " if !$pp; $fstmt .= " " if $in_func; next;
        }
        if ($pp) { next; }
        if ($at_line_start && $c eq "#") { $pp = 1; next; }
        $at_line_start = 0 if $c !~ /\s/;
        if ($in_func) {
            # Inside a function body: look at each statement for "static".
            if ($c eq "{") { $depth++; $fstmt = ""; next; }
            if ($c eq "}") {
                $depth--; $fstmt = "";
                if ($depth == 0) { $in_func = 0; $stmt = ""; }
                next;
            }
            if ($c eq ";") {
                if ($fstmt =~ /\bstatic\b/ && $fstmt !~ /\bconst\b/) {
                    report($file, $fstmt_line, "function-local static variable: keep state in the module struct (thousands of nodes share one process)");
                }
                $fstmt = ""; next;
            }
            $fstmt_line = $line_no if $fstmt !~ /\S/ && $c =~ /\S/;
            $fstmt .= $c; next;
        }
        # File scope (depth 0), or inside a struct/enum/initializer body.
        if ($c eq "{") {
            if ($depth == 0 && $stmt =~ /\(/ && $stmt !~ /=/) { $in_func = 1; $depth = 1; $fstmt = ""; next; }
            $depth++; $stmt .= "{" if $depth == 1; next;
        }
        if ($c eq "}") { $depth--; $stmt .= "}" if $depth == 0; next; }
        next if $depth > 0;
        if ($c eq ";") {
            my $s = $stmt; $s =~ s/\s+/ /g; $s =~ s/^ //; $s =~ s/ $//; $s =~ s/\{ ?\}/{}/g;
            $stmt = "";
            next if $s eq "";
            next if $s =~ /^(typedef|extern|_Static_assert|static_assert)\b/;
            my $decl = $s; $decl =~ s/=.*//;           # the declarator part only
            next if $decl =~ /\(/;                     # functions, prototypes (nm checks pointers)
            next if $decl =~ /^(static )?(struct|union|enum)( \w+)? ?(\{\})?$/; # a type only
            # const object: no pointer, or a const after the last "*"
            my $mutable = 1;
            if ($decl =~ /\bconst\b/) {
                my $last_star = rindex($decl, "*");
                $mutable = 0 if $last_star < 0 || rindex($decl, "const") > $last_star;
            }
            report($file, $stmt_line, "mutable global \"$s\": core/ holds no mutable globals; make it const or move it into the module struct") if $mutable;
            next;
        }
        $stmt_line = $line_no if $stmt !~ /\S/ && $c =~ /\S/;
        $stmt .= $c;
    }
}
exit($n ? 1 : 0);
' "${files[@]}" || status=1
fi

# ---- layer 2: objects ------------------------------------------------------------------
if [ -n "$lib" ]; then
    command -v nm >/dev/null && command -v objdump >/dev/null ||
        { echo "lint_core.sh: nm and objdump (binutils) are required for --lib" >&2; exit 2; }
    tmp=$(mktemp -d /tmp/tp_lint_core.XXXXXX)
    trap 'rm -rf "$tmp"' EXIT
    if [ -d "$lib" ]; then
        objs=("$lib"/*.o)
    elif [ -f "$lib" ]; then
        abs_lib="$(cd "$(dirname "$lib")" && pwd)/$(basename "$lib")"
        (cd "$tmp" && ar x "$abs_lib") ||
            { echo "lint_core.sh: cannot unpack $lib" >&2; exit 2; }
        objs=("$tmp"/*.o)
    else
        echo "lint_core.sh: $lib: no such library or directory (build core first)" >&2; exit 2
    fi
    [ -f "${objs[0]}" ] || { echo "lint_core.sh: no object files in $lib" >&2; exit 2; }
    # Every symbol defined anywhere in the library may be referenced by its objects.
    nm --defined-only "${objs[@]}" 2>/dev/null | awk 'NF >= 3 {print $3}' | sort -u >"$tmp/defined"
    for obj in "${objs[@]}"; do
        objdump -t "$obj" >"$tmp/objdump" 2>/dev/null || { echo "lint_core.sh: objdump failed on $obj" >&2; exit 2; }
        nm -l "$obj" >"$tmp/nm" 2>/dev/null || { echo "lint_core.sh: nm failed on $obj" >&2; exit 2; }
        nm -u "$obj" | awk '{print $NF}' >"$tmp/undef"
        perl -e '
use strict; use warnings;
my ($obj, $objdump, $nm, $undef, $defined) = @ARGV;
my $base = $obj; $base =~ s{.*/}{};
my $is_panic = ($base =~ /^panic\.c\.o$|^panic\.o$/);
my %where;   # symbol -> file:line from debug info
open(my $fh, "<", $nm) or die; while (<$fh>) {
    chomp; my ($sym_part, $loc) = split /\t/, $_, 2;
    next unless defined $loc;
    my @f = split " ", $sym_part; my $sym = $f[-1];
    $where{$sym} //= $loc;
} close $fh;
my %def; open($fh, "<", $defined) or die; while (<$fh>) { chomp; $def{$_} = 1; } close $fh;
my $n = 0;
sub place { my $s = shift; my $w = $where{$s}; $w = "$base" unless defined $w; return $w; }
open($fh, "<", $objdump) or die;
while (<$fh>) {
    chomp;
    # 0000000000000000 l     O .bss	0000000000000004 counter.0
    next unless /^[0-9a-f]+\s(.{7})\s(\S+)\t[0-9a-f]+\s+(\S+)$/;
    my ($flags, $sec, $sym) = ($1, $2, $3);
    my $writable = ($sec eq "*COM*") ||
        ($sec =~ /^\.(data|bss|tdata|tbss)(\.|$)/ && $sec !~ /^\.data\.rel\.ro(\.|$)/);
    next unless $writable && ($flags =~ /O/ || $sec eq "*COM*");
    my $kind = $sym =~ /\.\d+$/ ? "function-local static" : "mutable global";
    (my $name = $sym) =~ s/\.\d+$//;
    print place($sym) . ": $kind \"$name\" in writable section $sec of $base: core/ state must live in caller-owned structs\n";
    $n++;
}
close $fh;
my $allow = qr/^(?:
    memcpy|memmove|memset|memcmp|bcmp|memchr|strlen|strnlen|strcmp|strncmp|strchr|strrchr|strstr|
    strspn|strcspn|strpbrk|snprintf|vsnprintf|sprintf|qsort|bsearch|abs|labs|llabs|
    strtod|strtof|strtol|strtoul|strtoll|strtoull|isalpha|isdigit|isxdigit|isspace|
    isalnum|isupper|islower|isprint|tolower|toupper|__ctype_b_loc|__ctype_tolower_loc|
    __ctype_toupper_loc|
    __(?:memcpy|memmove|memset|memchr|snprintf|vsnprintf|sprintf|strlen|strcpy|strncpy)_chk|
    __stack_chk_fail|__stack_chk_guard|_GLOBAL_OFFSET_TABLE_|__isoc99_sscanf|__isoc23_strtol|
    __isoc23_strtoul|__isoc23_strtoll|__isoc23_strtoull|
    modf|exp|exp2|expm1|log|log2|log10|log1p|pow|sqrt|cbrt|floor|ceil|round|lround|llround|
    trunc|fabs|ldexp|frexp|fmod|fmin|fmax|nan|
    modff|expf|exp2f|logf|log2f|powf|sqrtf|floorf|ceilf|roundf|fabsf|
    __(?:u?(?:div|mod|mul)[dt]i3|(?:popcount|clz|ctz|ffs|parity)[dst]i2|fix\w+|float\w+)|
    __(?:asan|ubsan|lsan|sanitizer|tsan|msan)_\w+|__sancov\w*|
    sodium_(?!init$|malloc$|allocarray$|free$|mlock$|munlock$)\w+|
    crypto_(?!\w*_keygen$)(?!box_keypair$|sign_keypair$|kx_keypair$|scalarmult_keypair$)\w+
)$/x;
my %panic_ok = map { $_ => 1 } qw(fprintf fflush abort stderr fputs fputc fwrite __fprintf_chk);
open($fh, "<", $undef) or die;
while (my $s = <$fh>) {
    chomp $s; next if $s eq "";
    next if $def{$s} || $s =~ $allow;
    next if $is_panic && $panic_ok{$s};
    print place($s) . ": $base calls $s, which is not in the core allow-list (pure libc, libsodium without its RNG): reach the OS through core/env.h\n";
    $n++;
}
close $fh;
exit($n ? 1 : 0);
' "$obj" "$tmp/objdump" "$tmp/nm" "$tmp/undef" "$tmp/defined" || status=1
    done
fi

if [ "$status" = 0 ]; then
    echo "lint_core: ${dirs[*]}${lib:+ and $lib}: clean"
else
    echo "lint_core: violations found (STYLE.md \"Determinism\": core/ calls no OS function and holds no mutable globals or function-local statics)"
fi
exit $status
