/* cmd/cmd_identity.c — `tidepool identity generate|show|check`: manage a node identity
 * (identity.json in the data directory, Octez's format, spec §1.5).
 *
 * Octez: `octez-node identity generate|show|check`. The pure parts (keys, peer id, PoW,
 * the JSON format and its checks) are core/identity; this file does the OS side: OS
 * entropy for the key seed (getrandom), the clock for progress, and the file, written
 * with mode 0600 and never overwritten (Octez refuses too).
 *
 * Exit codes (cmd/cmd.h): 0 ok; 1 `check` ran and the proof of work is below the
 * required difficulty; 2 usage; 3 the identity file is missing, unreadable, malformed,
 * or inconsistent (keys mismatch, peer-id mismatch), or already exists (generate).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "cmd/cmd.h"
#include "core/encoding.h"
#include "core/identity.h"
#include "core/json.h"

#define IDENTITY_FILE "identity.json"
#define DEFAULT_DATA_DIR "./tidepool-data"

static const char *const cmd_name = "identity";

typedef struct options {
    const char *data_dir;
    double difficulty;
    bool difficulty_given;
    bool json;
} options;

static void usage(FILE *out) {
    fprintf(out,
            "usage: tidepool identity generate [--difficulty D] [--data-dir DIR] [--json]\n"
            "       tidepool identity show [--data-dir DIR] [--json]\n"
            "       tidepool identity check [--difficulty D] [--data-dir DIR] [--json]\n"
            "\n"
            "Manage the node identity DIR/identity.json (Octez's format: public_key,\n"
            "secret_key, proof_of_work_stamp, peer_id).\n"
            "\n"
            "  generate  make new keys from OS entropy and search a proof-of-work stamp of\n"
            "            difficulty D (default 26, Octez's); refuses to overwrite an\n"
            "            existing file. Progress and the expected time go to stderr.\n"
            "  show      print the peer id, public key and proof-of-work level.\n"
            "  check     verify the key pair, the peer id and that the proof of work\n"
            "            reaches difficulty D (default 26).\n"
            "\n"
            "options:\n"
            "  --data-dir DIR   data directory (default %s)\n"
            "  --difficulty D   proof-of-work difficulty, a number in [0, 256]\n"
            "  --json           machine-readable output on stdout\n"
            "\n"
            "exit codes: 0 ok; 1 check failed (proof of work too low); 2 usage;\n"
            "            3 identity file missing, malformed or inconsistent, or exists\n"
            "            already (generate)\n",
            DEFAULT_DATA_DIR);
}

static bool parse_difficulty(const char *text, double *out) {
    char *end = NULL;
    errno = 0;
    double d = text != NULL ? strtod(text, &end) : NAN;
    tp_pow_target t;
    if (text == NULL || *text == '\0' || errno != 0 || end == NULL || *end != '\0' ||
        tp_pow_target_of_difficulty(d, &t) != TP_OK) {
        cmd_error(cmd_name, "--difficulty expects a number in [0, 256] (got '%s')",
                  text ? text : "nothing");
        return false;
    }
    *out = d;
    return true;
}

/* Parses options after the action; returns false (usage printed) on error. */
static bool parse_options(int argc, char **argv, bool allow_difficulty, options *o) {
    o->data_dir = DEFAULT_DATA_DIR;
    o->difficulty = TP_POW_DIFFICULTY_DEFAULT;
    o->difficulty_given = false;
    o->json = false;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--json") == 0) {
            o->json = true;
        } else if (strcmp(a, "--data-dir") == 0) {
            if (i + 1 >= argc) {
                cmd_error(cmd_name, "--data-dir expects a directory");
                return false;
            }
            o->data_dir = argv[++i];
        } else if (strcmp(a, "--difficulty") == 0 && allow_difficulty) {
            if (!parse_difficulty(i + 1 < argc ? argv[i + 1] : NULL, &o->difficulty)) return false;
            o->difficulty_given = true;
            i++;
        } else {
            cmd_error(cmd_name, "unknown option '%s' for '%s' (see tidepool identity --help)", a,
                      argv[1]);
            return false;
        }
    }
    return true;
}

static void identity_path(const options *o, char *buf, size_t cap) {
    snprintf(buf, cap, "%s/%s", o->data_dir, IDENTITY_FILE);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void format_duration(double s, char *buf, size_t cap) {
    if (s < 1) snprintf(buf, cap, "under a second");
    else if (s < 120) snprintf(buf, cap, "%.0f s", s);
    else if (s < 7200) snprintf(buf, cap, "%.0f min", s / 60);
    else if (s < 172800) snprintf(buf, cap, "%.1f h", s / 3600);
    else snprintf(buf, cap, "%.1f days", s / 86400);
}

/* Reads DIR/identity.json and checks it (keys, peer id). Prints the error and returns
 * false on failure. */
static bool load_identity(const options *o, tp_identity *id, tp_err *err_out, char *msg,
                          size_t msg_size) {
    char path[4096];
    identity_path(o, path, sizeof path);
    /* O_NONBLOCK: a FIFO in its place must not block open(); only regular files. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    struct stat st, lst;
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT && lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode)) {
            snprintf(msg, msg_size, "%s: %s", path, tp_strerror(TP_ERR_DANGLING_LINK));
            *err_out = TP_ERR_DANGLING_LINK;
            return false;
        }
        snprintf(msg, msg_size, "%s: cannot open (%s); create one with 'tidepool identity "
                 "generate --data-dir %s'", path, strerror(e), o->data_dir);
        *err_out = e == ENOENT ? TP_ERR_NOT_FOUND : TP_ERR_IO;
        return false;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        snprintf(msg, msg_size, "%s: %s", path, tp_strerror(TP_ERR_NOT_FILE));
        *err_out = TP_ERR_NOT_FILE;
        return false;
    }
    FILE *f = fdopen(fd, "rb");
    if (f == NULL) {
        close(fd);
        snprintf(msg, msg_size, "out of memory");
        *err_out = TP_ERR_NOMEM;
        return false;
    }
    char *text = malloc(TP_IDENTITY_JSON_MAX + 1);
    if (text == NULL) {
        fclose(f);
        snprintf(msg, msg_size, "out of memory");
        *err_out = TP_ERR_NOMEM;
        return false;
    }
    size_t len = fread(text, 1, TP_IDENTITY_JSON_MAX + 1, f);
    bool read_error = ferror(f) != 0;
    fclose(f);
    if (read_error) {
        snprintf(msg, msg_size, "%s: read error", path);
        free(text);
        *err_out = TP_ERR_IO;
        return false;
    }
    char detail[TP_IDENTITY_ERROR_SIZE];
    tp_err e = tp_identity_from_json(text, len, id, detail, sizeof detail);
    sodium_memzero(text, TP_IDENTITY_JSON_MAX + 1);
    free(text);
    if (e != TP_OK) {
        snprintf(msg, msg_size, "%s: %s (%s)", path, detail, tp_strerror(e));
        *err_out = e;
        return false;
    }
    *err_out = TP_OK;
    return true;
}

/* Writes the identity to DIR/identity.json without ever replacing an existing file: a
 * temporary file is written and fsynced, then hard-linked to the final name (link
 * fails if the name exists), then removed. */
static int write_identity(const options *o, const tp_identity *id, const char *path) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp.%ld", o->data_dir, IDENTITY_FILE, (long)getpid());
    char text[512];
    size_t len;
    if (tp_identity_to_json(id, text, sizeof text, &len) != TP_OK) {
        cmd_error(cmd_name, "internal error: identity.json does not fit its buffer");
        return TP_EXIT_FAIL;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
        cmd_error(cmd_name, "%s: cannot create (%s); check that the directory is writable",
                  tmp, strerror(errno));
        sodium_memzero(text, sizeof text);
        return TP_EXIT_INPUT;
    }
    ssize_t w = write(fd, text, len);
    sodium_memzero(text, sizeof text);
    if (w != (ssize_t)len || fsync(fd) != 0) {
        cmd_error(cmd_name, "%s: write failed (%s)", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return TP_EXIT_INPUT;
    }
    close(fd);
    if (link(tmp, path) != 0) {
        int err = errno;
        unlink(tmp);
        if (err == EEXIST)
            cmd_error(cmd_name, "%s already exists (created meanwhile); not overwriting it", path);
        else
            cmd_error(cmd_name, "%s: cannot create (%s)", path, strerror(err));
        return TP_EXIT_INPUT;
    }
    unlink(tmp);
    int dfd = open(o->data_dir, O_RDONLY);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    return TP_EXIT_OK;
}

static int identity_generate(int argc, char **argv) {
    options o;
    if (!parse_options(argc, argv, true, &o)) return TP_EXIT_USAGE;
    char path[4096];
    identity_path(&o, path, sizeof path);
    if (access(path, F_OK) == 0) {
        cmd_error(cmd_name, "%s already exists; refusing to overwrite an identity (move it "
                  "away first, or choose another --data-dir)", path);
        return TP_EXIT_INPUT;
    }
    if (mkdir(o.data_dir, 0700) != 0 && errno != EEXIST) {
        cmd_error(cmd_name, "cannot create data directory %s (%s)", o.data_dir, strerror(errno));
        return TP_EXIT_INPUT;
    }
    tp_pow_target target;
    if (tp_pow_target_of_difficulty(o.difficulty, &target) != TP_OK) return TP_EXIT_USAGE;
    uint8_t seed[TP_SEED_SIZE];
    if (getrandom(seed, sizeof seed, 0) != (ssize_t)sizeof seed) {
        cmd_error(cmd_name, "cannot read OS entropy (%s)", strerror(errno));
        return TP_EXIT_FAIL;
    }
    tp_identity id;
    tp_identity_init_from_seed(&id, seed);
    sodium_memzero(seed, sizeof seed);

    double expected = tp_pow_expected_attempts(&target);
    fprintf(stderr, "tidepool identity: searching a proof of work of difficulty %g "
            "(about %.3g attempts expected)\n", o.difficulty, expected);
    bool tty = isatty(STDERR_FILENO) != 0;
    double start = now_s(), last_report = start;
    uint64_t attempts = 0;
    bool found = false;
    bool announced = false;
    while (!found) {
        attempts += tp_pow_search(id.public_key, id.pow_stamp, &target, 1 << 16, &found);
        double now = now_s();
        double elapsed = now - start;
        if (!found && elapsed > 0.5 && !announced) {
            char eta[32];
            format_duration(expected / ((double)attempts / elapsed), eta, sizeof eta);
            fprintf(stderr, "tidepool identity: %.2f M attempts/s; expected time %s\n",
                    (double)attempts / elapsed / 1e6, eta);
            announced = true;
        }
        if (!found && now - last_report >= (tty ? 1.0 : 10.0)) {
            fprintf(stderr, tty ? "\r  %llu attempts, %.0f s elapsed (%.0f%% of the expected)  "
                                : "  %llu attempts, %.0f s elapsed (%.0f%% of the expected)\n",
                    (unsigned long long)attempts, elapsed, 100.0 * (double)attempts / expected);
            last_report = now;
        }
    }
    if (tty && announced) fputc('\n', stderr);
    int rc = write_identity(&o, &id, path);
    if (rc == TP_EXIT_OK) {
        char b58[TP_PEER_ID_TEXT_SIZE];
        tp_peer_id_to_b58(&id.peer_id, b58);
        unsigned level = tp_pow_level(id.public_key, id.pow_stamp);
        if (o.json) {
            char buf[1024], hex[65];
            size_t len;
            tp_json_writer jw;
            tp_json_writer_init(&jw, buf, sizeof buf, false);
            tp_json_begin_object(&jw);
            tp_json_key(&jw, "path");
            tp_json_string(&jw, path);
            tp_json_key(&jw, "peer_id");
            tp_json_string(&jw, b58);
            tp_json_key(&jw, "public_key");
            tp_json_string(&jw, tp_hex_encode(id.public_key, 32, hex));
            tp_json_key(&jw, "proof_of_work_level");
            tp_json_uint64(&jw, level);
            tp_json_key(&jw, "attempts");
            tp_json_uint64(&jw, attempts);
            tp_json_end_object(&jw);
            if (tp_json_writer_finish(&jw, &len) == TP_OK) printf("%s\n", buf);
        } else {
            printf("Stored the new identity (%s) into '%s'.\n", b58, path);
        }
        fprintf(stderr, "tidepool identity: %llu attempts in %.1f s; proof-of-work level %u\n",
                (unsigned long long)attempts, now_s() - start, level);
    }
    tp_identity_wipe(&id);
    return rc;
}

static void print_json_error(tp_err e, const char *msg) {
    char buf[2048];
    size_t len;
    tp_json_writer jw;
    tp_json_writer_init(&jw, buf, sizeof buf, false);
    tp_json_begin_object(&jw);
    tp_json_key(&jw, "ok");
    tp_json_bool(&jw, false);
    tp_json_key(&jw, "error");
    tp_json_string(&jw, tp_errname(e));
    tp_json_key(&jw, "message");
    tp_json_string(&jw, msg);
    tp_json_end_object(&jw);
    if (tp_json_writer_finish(&jw, &len) == TP_OK) printf("%s\n", buf);
}

static int identity_show_or_check(int argc, char **argv, bool check) {
    options o;
    if (!parse_options(argc, argv, check, &o)) return TP_EXIT_USAGE;
    tp_identity id;
    tp_err e;
    char msg[4600];
    if (!load_identity(&o, &id, &e, msg, sizeof msg)) {
        if (o.json) print_json_error(e, msg);
        cmd_error(cmd_name, "%s", msg);
        return TP_EXIT_INPUT;
    }
    char b58[TP_PEER_ID_TEXT_SIZE], pk[65], stamp[49];
    tp_peer_id_to_b58(&id.peer_id, b58);
    tp_hex_encode(id.public_key, 32, pk);
    tp_hex_encode(id.pow_stamp, 24, stamp);
    unsigned level = tp_pow_level(id.public_key, id.pow_stamp);
    bool pow_ok = true;
    if (check) {
        tp_pow_target target;
        if (tp_pow_target_of_difficulty(o.difficulty, &target) != TP_OK) return TP_EXIT_USAGE;
        pow_ok = tp_pow_check(id.public_key, id.pow_stamp, &target);
    }
    tp_identity_wipe(&id);
    if (o.json) {
        char buf[1024];
        size_t len;
        tp_json_writer jw;
        tp_json_writer_init(&jw, buf, sizeof buf, false);
        tp_json_begin_object(&jw);
        if (check) {
            tp_json_key(&jw, "ok");
            tp_json_bool(&jw, pow_ok);
        }
        tp_json_key(&jw, "peer_id");
        tp_json_string(&jw, b58);
        tp_json_key(&jw, "public_key");
        tp_json_string(&jw, pk);
        tp_json_key(&jw, "proof_of_work_stamp");
        tp_json_string(&jw, stamp);
        tp_json_key(&jw, "proof_of_work_level");
        tp_json_uint64(&jw, level);
        if (check) {
            char d[32];
            snprintf(d, sizeof d, "%g", o.difficulty);
            tp_json_key(&jw, "required_difficulty");
            tp_json_string(&jw, d);
            tp_json_key(&jw, "keys");
            tp_json_string(&jw, "ok");
            tp_json_key(&jw, "peer_id_check");
            tp_json_string(&jw, "ok");
            if (!pow_ok) {
                tp_json_key(&jw, "error");
                tp_json_string(&jw, tp_errname(TP_ERR_NOT_ENOUGH_POW));
            }
        }
        tp_json_end_object(&jw);
        if (tp_json_writer_finish(&jw, &len) == TP_OK) printf("%s\n", buf);
    } else if (!check) {
        printf("Peer_id: %s\nPublic key: %s\nProof of work stamp: %s\nProof of work level: %u\n",
               b58, pk, stamp, level);
    } else if (pow_ok) {
        printf("Identity %s is valid: keys match, peer id matches, proof-of-work level %u >= "
               "difficulty %g.\n", b58, level, o.difficulty);
    }
    if (!pow_ok) {
        cmd_error(cmd_name, "identity %s: proof-of-work level %u is below the required "
                  "difficulty %g; Octez nodes would reject it (generate a new identity with "
                  "--difficulty %g)", b58, level, o.difficulty, o.difficulty);
        return TP_EXIT_FAIL;
    }
    return TP_EXIT_OK;
}

int cmd_identity(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? TP_EXIT_USAGE : TP_EXIT_OK;
    }
    if (cmd_wants_help(argc, argv)) {
        usage(stdout);
        return TP_EXIT_OK;
    }
    if (sodium_init() < 0) {
        cmd_error(cmd_name, "libsodium failed to initialise");
        return TP_EXIT_FAIL;
    }
    if (strcmp(argv[1], "generate") == 0) return identity_generate(argc, argv);
    if (strcmp(argv[1], "show") == 0) return identity_show_or_check(argc, argv, false);
    if (strcmp(argv[1], "check") == 0) return identity_show_or_check(argc, argv, true);
    cmd_error(cmd_name, "unknown action '%s' (expected generate, show or check)", argv[1]);
    usage(stderr);
    return TP_EXIT_USAGE;
}
