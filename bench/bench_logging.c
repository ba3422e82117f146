/* bench/bench_logging.c — what the results log costs a simulation (issue 6: "logging
 * must not slow a 10,000-node run by more than 20 %").
 *
 * Runs one generated scenario several times through tl_run (lua/scenario.h), with the
 * results database at each level of detail — no database at all, --log none, info,
 * debug — and prints the median cost of each and its ratio to the run without a
 * database, in CPU time (user + system, steady on a shared machine) and wall time.
 * Two workloads:
 *   demo      N demo nodes (sim.demo_node) bootstrapping from 3 seeds over 4 regions,
 *             overlay sampled every second (optionally every node's degree too),
 *             pings flooded;
 *   tidepool  N tidepool nodes (sim.node) each dialing 4 earlier nodes, then the
 *             maintenance (min 1, expected 50, max 200), overlay sampled every second,
 *             one 20 kB block every 2 s.
 * The same seed for every run: they simulate exactly the same thing (the trace hashes
 * are printed and must match across levels).
 *
 * Usage: bench_logging [hosts=2000] [demo|tidepool|both] [virtual_seconds=30] [reps=3]
 *                      [per_node=0|1]  (1: also every node's degree every second)
 * Not a test: it prints figures and never fails on a slow machine (lua/README.md has
 * figures). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lua/scenario.h"

static const char demo_script[] =
    "local n = param('nodes', 2000)\n"
    "local total = param('duration', 30)\n"
    "sim.world{regions = 4, jitter = '5ms', latency = {\n"
    "  {'10ms', '45ms', '75ms', '110ms'}, {'45ms', '10ms', '35ms', '90ms'},\n"
    "  {'75ms', '35ms', '10ms', '60ms'}, {'110ms', '90ms', '60ms', '15ms'}}}\n"
    "local hosts = {}\n"
    "for r = 1, 4 do\n"
    "  for _, h in ipairs(sim.hosts{count = n // 4, region = r}) do hosts[#hosts + 1] = h end\n"
    "end\n"
    "local seeds = {hosts[1], hosts[2], hosts[3]}\n"
    "sim.demo_nodes(seeds, {seeds = seeds, connections_max = 4 * n})\n"
    "for i = 4, #hosts do\n"
    "  at(5 * i / #hosts, function()\n"
    "    sim.demo_node(hosts[i], {seeds = seeds, connections_max = 64, originate = i == #hosts,\n"
    "                             pings = 10, ping_start_delay = '2s', ping_interval = '1s'})\n"
    "  end)\n"
    "end\n"
    "sim.sample_overlay{every = '1s', per_node = param('per_node', false)}\n"
    "run_for(total)\n";

static const char tidepool_script[] =
    "local n = param('nodes', 2000)\n"
    "local total = param('duration', 30)\n"
    "sim.world{regions = 4, jitter = '5ms', latency = {\n"
    "  {'10ms', '45ms', '75ms', '110ms'}, {'45ms', '10ms', '35ms', '90ms'},\n"
    "  {'75ms', '35ms', '10ms', '60ms'}, {'110ms', '90ms', '60ms', '15ms'}}}\n"
    "local hosts = {}\n"
    "for r = 1, 4 do\n"
    "  for _, h in ipairs(sim.hosts{count = n // 4, region = r}) do hosts[#hosts + 1] = h end\n"
    "end\n"
    "local nodes = {}\n"
    "for i, h in ipairs(hosts) do\n"
    "  local dial = {}\n"
    "  for k = 1, math.min(4, i - 1) do dial[k] = hosts[math.random(i - 1)] end\n"
    "  nodes[i] = sim.node(h, {connect = dial, max_connections = 200, expected_connections = 50,\n"
    "                          min_connections = 1, event_ring_size = 0})\n"
    "end\n"
    "sim.sample_overlay{every = '1s', per_node = param('per_node', false)}\n"
    "every('2s', function() nodes[math.random(n)]:produce_block{ops_bytes = 20000} end)\n"
    "run_for(total)\n";

static double wall_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU seconds (user + system) of this process: on a machine shared with other jobs,
 * far steadier than wall time. */
static double cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct outcome {
    double wall_s;
    double cpu_s;
    uint64_t trace;
    uint64_t events;
    long db_bytes;
} outcome;

static const char *per_node = "false";

static outcome run_once(const char *script, const char *dir, int level, const char *hosts,
                        const char *duration) {
    char db[512];
    snprintf(db, sizeof db, "%s/bench.db", dir);
    unlink(db);
    tl_run_config cfg;
    tl_run_config_default(&cfg);
    cfg.script_path = script;
    cfg.seed = 42;
    cfg.db_path = level < 0 ? NULL : db;
    cfg.log_level = level < 0 ? TL_LOG_NONE : (tl_log_level)level;
    tl_param params[3] = {{"nodes", hosts}, {"duration", duration}, {"per_node", per_node}};
    cfg.params = params;
    cfg.param_count = 3;
    FILE *null = fopen("/dev/null", "w");
    cfg.out = null;
    tl_run_result r;
    double t0 = wall_s(), c0 = cpu_s();
    tl_verdict v = tl_run(&cfg, &r);
    outcome o = {wall_s() - t0, cpu_s() - c0, r.trace_hash, r.events_executed, 0};
    if (null) fclose(null);
    if (v != TL_VERDICT_PASS) fprintf(stderr, "run failed: %s\n", r.message);
    FILE *f = level < 0 ? NULL : fopen(db, "rb");
    if (f) {
        fseek(f, 0, SEEK_END);
        o.db_bytes = ftell(f);
        fclose(f);
    }
    unlink(db);
    return o;
}

/* Runs one measurement in a fresh child process, so that no run inherits another's
 * heap (allocator state skews a 10,000-node run by several percent). */
static outcome run_forked(const char *script, const char *dir, int level, const char *hosts,
                          const char *duration) {
    int fds[2];
    outcome o;
    memset(&o, 0, sizeof o);
    if (pipe(fds) != 0) {
        perror("pipe");
        exit(1);
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(1);
    }
    if (pid == 0) {
        close(fds[0]);
        outcome c = run_once(script, dir, level, hosts, duration);
        ssize_t w = write(fds[1], &c, sizeof c);
        _exit(w == (ssize_t)sizeof c ? 0 : 1);
    }
    close(fds[1]);
    ssize_t rd = read(fds[0], &o, sizeof o);
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (rd != (ssize_t)sizeof o || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "a benchmark run failed\n");
        exit(1);
    }
    return o;
}

static void bench(const char *kind, const char *text, const char *dir, const char *hosts,
                  const char *duration, int reps) {
    char script[512];
    snprintf(script, sizeof script, "%s/%s.lua", dir, kind);
    FILE *f = fopen(script, "w");
    if (!f) {
        perror(script);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
    static const char *const names[] = {"no database", "--log none", "--log info", "--log debug"};
    printf("%s: %s nodes, %s virtual seconds, per-node samples %s, median of %d (levels "
           "interleaved, one process per run)\n", kind, hosts, duration, per_node, reps);
    fflush(stdout);
    /* Interleave the levels in every repetition (rotating which goes first) so that a
     * change of machine load hits them all alike; every run in its own process. */
    double cpu[4][16], wall[4][16];
    outcome last[4];
    for (int i = 0; i < reps; i++)
        for (int j = 0; j < 4; j++) {
            int level = (i + j) % 4 - 1;
            outcome o = run_forked(script, dir, level, hosts, duration);
            cpu[level + 1][i] = o.cpu_s;
            wall[level + 1][i] = o.wall_s;
            last[level + 1] = o;
        }
    double base_cpu = 0, base_wall = 0;
    for (int k = 0; k < 4; k++) {
        qsort(cpu[k], (size_t)reps, sizeof cpu[k][0], cmp_double);
        qsort(wall[k], (size_t)reps, sizeof wall[k][0], cmp_double);
        double c = cpu[k][reps / 2], w = wall[k][reps / 2];
        if (k == 0) {
            base_cpu = c;
            base_wall = w;
        }
        printf("  %-12s cpu %8.3f s (%+6.1f %%)  wall %8.3f s (%+6.1f %%)  db %7.1f MB  events "
               "%" PRIu64 "  trace %016" PRIx64 "\n",
               names[k], c, (c / base_cpu - 1) * 100, w, (w / base_wall - 1) * 100,
               last[k].db_bytes / 1e6, last[k].events, last[k].trace);
    }
    fflush(stdout);
}

int main(int argc, char **argv) {
    const char *hosts = argc > 1 ? argv[1] : "2000";
    const char *which = argc > 2 ? argv[2] : "both";
    const char *duration = argc > 3 ? argv[3] : "30";
    int reps = argc > 4 ? atoi(argv[4]) : 3;
    if (reps < 1 || reps > 15) reps = 3;
    if (argc > 5 && strcmp(argv[5], "1") == 0) per_node = "true";
    char dir[] = "/tmp/tp_bench_logging.XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    if (strcmp(which, "tidepool") != 0) bench("demo", demo_script, dir, hosts, duration, reps);
    if (strcmp(which, "demo") != 0)
        bench("tidepool", tidepool_script, dir, hosts, duration, reps);
    char path[600];
    snprintf(path, sizeof path, "%s/demo.lua", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/tidepool.lua", dir);
    unlink(path);
    rmdir(dir);
    return 0;
}
