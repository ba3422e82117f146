/* core/err.c — tp_strerror and tp_errname, generated from TP_ERR_LIST. */
#include "err.h"

static const char *const err_text[TP_ERR_COUNT] = {
#define TP_X_(name, text) [TP_ERRIDX_##name] = text,
    TP_ERR_LIST(TP_X_)
#undef TP_X_
};

static const char *const err_name[TP_ERR_COUNT] = {
#define TP_X_(name, text) [TP_ERRIDX_##name] = #name,
    TP_ERR_LIST(TP_X_)
#undef TP_X_
};

const char *tp_strerror(tp_err err) {
    int idx = -(int)err;
    if (idx < 0 || idx >= TP_ERR_COUNT) return "unknown error";
    return err_text[idx];
}

const char *tp_errname(tp_err err) {
    int idx = -(int)err;
    if (idx < 0 || idx >= TP_ERR_COUNT) return "UNKNOWN";
    return err_name[idx];
}
