/* reports/report_impl.h — internals of the report generator shared between its files
 * (report.c: databases, plots and HTML; gnuplot.c: the external program). Not for use
 * outside reports/ except by tests/test_report.c. */
#ifndef REP_REPORT_IMPL_H
#define REP_REPORT_IMPL_H

#include <stddef.h>
#include <stdio.h>

#include "reports/report.h"

typedef struct rep_spawn_args {
    char *const *argv;       /* argv[0] is looked up in PATH (execvp); no shell */
    const char *cwd;         /* child's working directory; NULL = ours */
    const char *stderr_path; /* child's stderr goes to this file; NULL = ours */
    char *capture;           /* child's stdout, NUL-terminated (truncated); NULL =
                              * discarded */
    size_t capture_len;
} rep_spawn_args;

/* Runs a program and waits for it. Returns REP_OK with *exit_status (128 + signal when
 * killed) if it ran; REP_ERR_GNUPLOT_MISSING with *spawn_errno when it could not be
 * started (ENOENT: not installed; or cwd / stderr_path failed); REP_ERR_OUTPUT if
 * fork/pipe failed. */
rep_err rep_spawn(const rep_spawn_args *a, int *exit_status, int *spawn_errno);

/* Writes s to out escaped for HTML text and attribute values (& < > " '). Exposed for
 * tests. */
void rep_html_escape(FILE *out, const char *s);

/* Writes s as the body of a gnuplot single-quoted string (' doubled, control characters
 * replaced by '?'). Exposed for tests. */
void rep_gp_escape(FILE *out, const char *s);

#endif
