/* core/panic.c — the one place where core/ touches stdio.
 *
 * A failed assertion is a bug; dying loudly with the place is not behaviour that a
 * simulation could observe, so it is exempt from the "no OS calls in core/" rule (the
 * lint in tests/lint_core.sh allows exactly this file). */
#include <stdio.h>
#include <stdlib.h>

#include "err.h"

_Noreturn void tp_panic(const char *file, int line, const char *expr) {
    fprintf(stderr, "tidepool: assertion failed at %s:%d: %s\n", file, line, expr);
    fflush(stderr);
    abort();
}
