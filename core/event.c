/* core/event.c — names and levels of event kinds. */
#include "event.h"

static const char *const kind_name[TP_EVENT_KIND_COUNT] = {
#define TP_X_(name, text) [TP_EVENT_##name] = text,
    TP_EVENT_LIST(TP_X_)
#undef TP_X_
};

const char *tp_event_kind_name(tp_event_kind kind) {
    if ((unsigned)kind >= TP_EVENT_KIND_COUNT) return "unknown";
    return kind_name[kind];
}

tp_event_level tp_event_kind_level(tp_event_kind kind) {
    switch (kind) {
    case TP_EVENT_NEW_POINT:
    case TP_EVENT_BOOTSTRAP_SENT:
    case TP_EVENT_BOOTSTRAP_RECEIVED:
    case TP_EVENT_ADVERTISE_SENT:
    case TP_EVENT_ADVERTISE_RECEIVED:
    case TP_EVENT_APP_MESSAGE:
    case TP_EVENT_DISCOVERY_SENT:
    case TP_EVENT_DISCOVERY_RECEIVED:
    case TP_EVENT_DEMO:
        return TP_EVENT_LEVEL_DEBUG;
    default:
        return TP_EVENT_LEVEL_INFO;
    }
}
