/* reports/gnuplot.c — running gnuplot as an external program (see report_impl.h).
 *
 * fork + exec (execvp: PATH lookup, no shell, the script path is one argv element), the
 * child's working directory set to the report directory so scripts use relative paths,
 * stdin from /dev/null, stderr to a log file. A close-on-exec pipe carries the exec
 * errno back to the parent, so "gnuplot is not installed" (ENOENT) is told apart from
 * "gnuplot ran and failed" (an exit status). */
#include "reports/report_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static void child_fail(int report_fd, int err) {
    ssize_t w = write(report_fd, &err, sizeof err);
    (void)w;
    _exit(127);
}

rep_err rep_spawn(const rep_spawn_args *a, int *exit_status, int *spawn_errno) {
    int report[2];
    int out_pipe[2] = {-1, -1};
    if (pipe(report) != 0) return REP_ERR_OUTPUT;
    if (fcntl(report[1], F_SETFD, FD_CLOEXEC) != 0 ||
        (a->capture != NULL && pipe(out_pipe) != 0)) {
        close(report[0]);
        close(report[1]);
        return REP_ERR_OUTPUT;
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(report[0]);
        close(report[1]);
        if (out_pipe[0] >= 0) {
            close(out_pipe[0]);
            close(out_pipe[1]);
        }
        return REP_ERR_OUTPUT;
    }
    if (pid == 0) {
        close(report[0]);
        int in = open("/dev/null", O_RDONLY);
        if (in < 0 || dup2(in, STDIN_FILENO) < 0) child_fail(report[1], errno);
        if (a->capture != NULL) {
            close(out_pipe[0]);
            if (dup2(out_pipe[1], STDOUT_FILENO) < 0) child_fail(report[1], errno);
        } else {
            int null_out = open("/dev/null", O_WRONLY);
            if (null_out < 0 || dup2(null_out, STDOUT_FILENO) < 0) child_fail(report[1], errno);
        }
        if (a->stderr_path != NULL) {
            int err_fd = open(a->stderr_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (err_fd < 0 || dup2(err_fd, STDERR_FILENO) < 0) child_fail(report[1], errno);
        }
        /* after opening stderr_path, which may be relative to our directory */
        if (a->cwd != NULL && chdir(a->cwd) != 0) child_fail(report[1], errno);
        execvp(a->argv[0], a->argv);
        child_fail(report[1], errno);
    }
    close(report[1]);
    size_t captured = 0;
    if (a->capture != NULL) {
        close(out_pipe[1]);
        for (;;) {
            char buf[256];
            ssize_t n = read(out_pipe[0], buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            for (ssize_t i = 0; i < n; i++)
                if (captured + 1 < a->capture_len) a->capture[captured++] = buf[i];
        }
        close(out_pipe[0]);
        a->capture[captured] = '\0';
    }
    int child_errno = 0;
    ssize_t got;
    do {
        got = read(report[0], &child_errno, sizeof child_errno);
    } while (got < 0 && errno == EINTR);
    close(report[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return REP_ERR_OUTPUT;
    }
    if (got == (ssize_t)sizeof child_errno) {
        *spawn_errno = child_errno;
        return REP_ERR_GNUPLOT_MISSING;
    }
    *spawn_errno = 0;
    if (WIFEXITED(status))
        *exit_status = WEXITSTATUS(status);
    else
        *exit_status = 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    return REP_OK;
}
